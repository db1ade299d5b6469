using System.Diagnostics.Metrics;
using Parley.Server.Operations;

namespace Parley.Server.Push;

/// <summary>
/// Offline notifications' instruments on the "Parley" meter (docs/push.md; Prometheus names <c>parley_push_*</c>):
/// pushes written to the outbox, delivered, failed attempts, given up, coalesced away, skipped because the user was
/// online on another node, and targets deleted because their endpoint answered 404 or 410.
/// </summary>
public sealed class PushMetrics
{
    private long _enqueued;
    private long _delivered;
    private long _failedAttempts;
    private long _dropped;
    private long _coalesced;
    private long _online;
    private long _gone;

    public PushMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(ParleyMetrics.MeterName);
        meter.CreateObservableCounter("parley.push.enqueued", () => Volatile.Read(ref _enqueued), "{push}", "Offline notifications written to the outbox (one per target).");
        meter.CreateObservableCounter("parley.push.delivered", () => Volatile.Read(ref _delivered), "{push}", "Offline notifications an endpoint answered 2xx to.");
        meter.CreateObservableCounter("parley.push.failed_attempts", () => Volatile.Read(ref _failedAttempts), "{attempt}", "Push attempts that failed (a non-2xx answer, a timeout, a refused address).");
        meter.CreateObservableCounter("parley.push.dropped", () => Volatile.Read(ref _dropped), "{push}", "Offline notifications given up: after Push:MaxAttempts, or not written (a full queue, a failed write).");
        meter.CreateObservableCounter("parley.push.coalesced", () => Volatile.Read(ref _coalesced), "{push}", "Offline notifications not sent because the conversation was pushed to the user within Push:CoalesceSeconds.");
        meter.CreateObservableCounter("parley.push.online_elsewhere", () => Volatile.Read(ref _online), "{push}", "Offline notifications not sent because the user was connected to another node (cluster mode).");
        meter.CreateObservableCounter("parley.push.targets_gone", () => Volatile.Read(ref _gone), "{target}", "Push targets deleted because their endpoint answered 404 or 410.");
    }

    public void Enqueued(int count) => Interlocked.Add(ref _enqueued, count);

    public void Delivered() => Interlocked.Increment(ref _delivered);

    public void AttemptFailed() => Interlocked.Increment(ref _failedAttempts);

    public void Dropped(int count = 1) => Interlocked.Add(ref _dropped, count);

    public void Coalesced() => Interlocked.Increment(ref _coalesced);

    public void Online() => Interlocked.Increment(ref _online);

    public void Gone() => Interlocked.Increment(ref _gone);
}
