using System.Threading.Channels;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Webhooks;

namespace Parley.Server.Webhooks;

/// <summary>
/// user.online / user.offline: presence has no transaction of its own (it lives in memory, or in Redis in cluster
/// mode), so these rows are written when the route announces the change (a user's first connection, their last
/// one closing), each in a small transaction of its own, in the route's order, by one writer off the route's
/// thread. A crash between the change and that write loses the event (there was no commit to share); everything
/// written is durable and delivered like the rest. Registered only when webhooks want either type.
/// </summary>
public sealed partial class WebhookPresence(Database database, TimeProvider time, ILogger<WebhookPresence> logger) : BackgroundService, IPostCommitSink
{
    private readonly Channel<(long UserId, bool Online, long At)> _changes = Channel.CreateBounded<(long, bool, long)>(
        new BoundedChannelOptions(65_536) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });

    public void Presence(long userId, bool online, long? lastSeenAt, IReadOnlyList<long> friends)
    {
        if (database.Outbox.Wants(online ? WebhookOutbox.UserOnline : WebhookOutbox.UserOffline)
            && !_changes.Writer.TryWrite((userId, online, time.GetUtcNow().ToUnixTimeMilliseconds())))
        {
            LogDropped(logger, online ? WebhookOutbox.UserOnline : WebhookOutbox.UserOffline);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var (userId, online, at) in _changes.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await using var connection = await database.OpenAsync(CancellationToken.None);
                    await using var transaction = await Database.BeginWriteAsync(connection, CancellationToken.None);
                    await database.Outbox.AddAsync(connection, transaction, online ? WebhookOutbox.UserOnline : WebhookOutbox.UserOffline, userId, at, w =>
                    {
                        WebhookOutbox.WriteId(w, "userId", userId);
                        w.WriteNumber(online ? "at" : "lastSeenAt", at);
                    }, CancellationToken.None);
                    await transaction.CommitAsync(CancellationToken.None);
                }
                catch (Exception e)
                {
                    LogFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // shutting down
        }
    }

    public void Message(CommittedMessage message, IReadOnlyList<(long UserId, long JoinedSeq)> members, long? originConnectionId)
    {
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

    public void SessionsRevoked(IReadOnlyList<long> sessionIds)
    {
    }

    public void MembershipChanged(long conversationId)
    {
    }

    public void PairChanged(long userA, long userB)
    {
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A {Type} webhook event was dropped: its queue is full")]
    private static partial void LogDropped(ILogger logger, string type);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A presence webhook event could not be written to the outbox")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
