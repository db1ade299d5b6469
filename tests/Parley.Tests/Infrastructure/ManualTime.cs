using Microsoft.Extensions.Time.Testing;

namespace Parley.Tests.Infrastructure;

/// <summary>
/// A clock that tests move by hand (<see cref="FakeTimeProvider.Advance"/>): <see cref="TimeProvider.GetUtcNow"/>,
/// <see cref="TimeProvider.GetTimestamp"/> and so <see cref="TimeProvider.GetElapsedTime(long)"/> all move with
/// it and stand still otherwise. Starts at the real time so tokens look ordinary. Its timers are the system's:
/// a server's housekeeping loops (sweepers every minutes or hours) keep running on real time, so moving the clock
/// by days does not start a sweep behind a test that calls <c>SweepOnceAsync</c> itself and counts what it
/// removed. A test that wants timers fired by <c>Advance</c> uses a <see cref="FakeTimeProvider"/> itself.
/// </summary>
public sealed class ManualTime() : FakeTimeProvider(DateTimeOffset.UtcNow)
{
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        System.CreateTimer(callback, state, dueTime, period);
}
