namespace Parley.Tests.Infrastructure;

/// <summary>A clock that tests move by hand; starts at the real time so tokens look ordinary.</summary>
public sealed class ManualTime : TimeProvider
{
    private long _utcTicks = DateTimeOffset.UtcNow.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _utcTicks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _utcTicks, by.Ticks);
}
