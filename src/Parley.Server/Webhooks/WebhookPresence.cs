using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Webhooks;

namespace Parley.Server.Webhooks;

/// <summary>
/// user.online / user.offline: presence has no transaction of its own (it lives in memory, or in Redis in cluster
/// mode), so these rows are written when the route announces the change (a user's first connection, their last
/// one closing), by one writer off the route's thread, a batch of changes per transaction. A user's changes are
/// coalesced (<see cref="PresenceCoalescer"/>, Webhooks:PresenceMinIntervalMs): at most one event per user and
/// interval, the last one always the user's state, so a client opening and closing sockets in a loop cannot fill
/// the outbox. A crash between the change and that write loses the event (there was no commit to share); at a
/// clean stop the states not yet written are written. Everything written is durable and delivered like the rest.
/// Registered only when webhooks want either type.
/// </summary>
public sealed partial class WebhookPresence : BackgroundService, IPostCommitSink
{
    private const int BatchSize = 500;

    private readonly Database _database;
    private readonly TimeProvider _time;
    private readonly ILogger<WebhookPresence> _logger;
    private readonly PresenceCoalescer _coalescer;
    private readonly Channel<bool> _doorbell = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    public WebhookPresence(Database database, TimeProvider time, IOptions<WebhookOptions> options, ILogger<WebhookPresence> logger)
    {
        _database = database;
        _time = time;
        _logger = logger;
        _coalescer = new PresenceCoalescer(options.Value.PresenceMinIntervalMs, options.Value.PresenceMaxTracked);
    }

    /// <summary>The coalescing state (tests: how many users are in a window).</summary>
    public PresenceCoalescer Coalescer => _coalescer;

    public void Presence(long userId, bool online, long? lastSeenAt, IReadOnlyList<long> friends)
    {
        if (_database.Outbox.Wants(online ? WebhookOutbox.UserOnline : WebhookOutbox.UserOffline)
            && _coalescer.Change(userId, online, _time.GetUtcNow().ToUnixTimeMilliseconds()))
        {
            _doorbell.Writer.TryWrite(true);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var ready = _coalescer.Take(_time.GetUtcNow().ToUnixTimeMilliseconds(), out var nextEnd);
                if (ready.Count > 0)
                {
                    await WriteAsync(ready);
                    continue;
                }

                // Nothing to write: wait for a first change (the doorbell) or the next window's end.
                var wait = nextEnd is { } end ? TimeSpan.FromMilliseconds(Math.Max(1, end - _time.GetUtcNow().ToUnixTimeMilliseconds())) : Timeout.InfiniteTimeSpan;
                using var timer = new CancellationTokenSource(wait, _time);
                using var either = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timer.Token);
                try
                {
                    await _doorbell.Reader.WaitToReadAsync(either.Token);
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                    // a window ended
                }

                _doorbell.Reader.TryRead(out _);
            }
        }
        catch (OperationCanceledException)
        {
            // shutting down
        }

        // A clean stop: the states still in a window are the receivers' last word on these users.
        await WriteAsync(_coalescer.TakeAll());
    }

    private async Task WriteAsync(List<PresenceChange> changes)
    {
        for (var i = 0; i < changes.Count; i += BatchSize)
        {
            try
            {
                await using var connection = await _database.OpenAsync(CancellationToken.None);
                await using var transaction = await Database.BeginWriteAsync(connection, CancellationToken.None);
                foreach (var (userId, online, at) in changes.Skip(i).Take(BatchSize))
                {
                    await _database.Outbox.AddAsync(connection, transaction, online ? WebhookOutbox.UserOnline : WebhookOutbox.UserOffline, userId, at, w =>
                    {
                        WebhookOutbox.WriteId(w, "userId", userId);
                        w.WriteNumber(online ? "at" : "lastSeenAt", at);
                    }, CancellationToken.None);
                }

                await transaction.CommitAsync(CancellationToken.None);
            }
            catch (Exception e)
            {
                LogFailed(_logger, e);
            }
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Presence webhook events could not be written to the outbox")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
