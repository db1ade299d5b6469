using System.Diagnostics.Metrics;
using Parley.Server.Messaging;
using Parley.Server.Operations;
using Parley.Storage;
using Parley.Storage.Webhooks;

namespace Parley.Server.Webhooks;

/// <summary>
/// The outbox's instruments on the "Parley" meter (docs/operations.md): events written, delivered, failed attempts,
/// events moved aside, and the backlog (pending and failed rows, as the sender last counted them, at most every few
/// seconds: a scrape never queries the database). A post-commit sink only to count message.created rows, which the
/// message appenders write in their batch without a call of their own. Registered only when webhooks are on.
/// </summary>
public sealed class WebhookMetrics : IPostCommitSink
{
    private readonly Database _database;
    private long _messages;
    private long _delivered;
    private long _failedAttempts;
    private long _movedAside;
    private long _pending;
    private long _failed;

    public WebhookMetrics(IMeterFactory meters, Database database)
    {
        _database = database;
        var meter = meters.Create(ParleyMetrics.MeterName);
        meter.CreateObservableCounter("parley.webhooks.enqueued", () => _database.Outbox.Added + Volatile.Read(ref _messages), "{event}", "Webhook events written to the outbox (counted when written: a row of a transaction that then rolled back may count).");
        meter.CreateObservableCounter("parley.webhooks.delivered", () => Volatile.Read(ref _delivered), "{event}", "Webhook events delivered (a 2xx answer) and deleted from the outbox.");
        meter.CreateObservableCounter("parley.webhooks.failed_attempts", () => Volatile.Read(ref _failedAttempts), "{attempt}", "Delivery attempts that failed (a non-2xx answer, a timeout, a refused connection).");
        meter.CreateObservableCounter("parley.webhooks.moved_aside", () => Volatile.Read(ref _movedAside), "{event}", "Webhook events moved to the failed list after Webhooks:MaxAttempts (or because their type is no longer in Webhooks:Events).");
        meter.CreateObservableGauge("parley.webhooks.pending", () => Volatile.Read(ref _pending), "{event}", "Webhook events waiting in the outbox (not moved aside), as the sender last counted them.");
        meter.CreateObservableGauge("parley.webhooks.failed", () => Volatile.Read(ref _failed), "{event}", "Webhook events on the failed list, as the sender last counted them.");
    }

    public void Delivered(int count) => Interlocked.Add(ref _delivered, count);

    public void AttemptFailed() => Interlocked.Increment(ref _failedAttempts);

    public void MovedAside() => Interlocked.Increment(ref _movedAside);

    public void Backlog(long pending, long failed)
    {
        Volatile.Write(ref _pending, pending);
        Volatile.Write(ref _failed, failed);
    }

    public void Message(CommittedMessage message, IReadOnlyList<(long UserId, long JoinedSeq)> members, long? originConnectionId)
    {
        // A sink only when message.created is written (WebhookServices): each committed message is one row.
        Interlocked.Increment(ref _messages);
    }

    public void Recalled(long conversationId, long seq, long by, IReadOnlyList<(long UserId, long JoinedSeq)> members)
    {
    }

    public void Read(long conversationId, long userId, long seq, IReadOnlyList<long> recipients, long? originConnectionId)
    {
    }

    public void Typing(long conversationId, long userId, IReadOnlyList<long> recipients)
    {
    }

    public void Notify(Events.Notification notification)
    {
    }

    public void Presence(long userId, bool online, long? lastSeenAt, IReadOnlyList<long> friends)
    {
    }

    public void SessionsRevoked(IReadOnlyList<long> sessionIds)
    {
    }

    public void MembershipChanged(long conversationId)
    {
    }

    public void PairChanged(long userA, long userB)
    {
    }
}
