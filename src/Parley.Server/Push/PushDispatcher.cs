using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Parley.Server.Events;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Server.Social;
using Parley.Storage;
using Parley.Storage.Push;

namespace Parley.Server.Push;

/// <summary>
/// Decides who gets an offline notification for each committed message, after commit, and writes the pushes to the
/// webhook outbox (<see cref="PushStore.EnqueueAsync"/>), where the webhook sender delivers them with its retries.
/// As a sink of the <see cref="PostCommitRoute"/> it sees every message this node commits; per message it reads one
/// volatile flag when no user has a target, and otherwise, per member, skips the sender, members who joined after it,
/// users without targets (<see cref="PushTargets"/>, in memory) and users with a connection on this node, then queues
/// the rest (never blocking the route). The writer loop takes the queue in batches: drops users online on another
/// node (cluster mode, one presence query per batch), coalesces (at most one push per user and conversation per
/// Push:CoalesceSeconds: the first message of a window is pushed, the others of that window are not), and writes the
/// batch in one transaction whose SQL skips muted conversations and revoked sessions.
/// </summary>
/// <remarks>
/// After commit, not in the message's transaction: whether a recipient is online is known only then and only in
/// memory, and users without targets must cost the commit nothing. A crash between the commit and this write loses
/// those pushes (the messages themselves are durable and every device syncs them by <c>after=</c>); once written,
/// a push survives restarts like any outbox row. In cluster mode coalescing is per node (best effort).
/// </remarks>
public sealed partial class PushDispatcher : BackgroundService, IPostCommitSink
{
    private const int BatchSize = 256;

    private readonly Channel<Candidate> _queue;
    private readonly PushTargets _targets;
    private readonly ConnectionRegistry _connections;
    private readonly PresenceTracker _presence;
    private readonly PushStore _store;
    private readonly PushMetrics _metrics;
    private readonly PushOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<PushDispatcher> _logger;
    private readonly long _windowMs;

    /// <summary>The writer's own: when each (user, conversation) was last pushed.</summary>
    private readonly Dictionary<(long UserId, long ConversationId), long> _lastPushed = [];
    private long _nextPruneAt;

    public PushDispatcher(PushTargets targets, ConnectionRegistry connections, PresenceTracker presence, PushStore store, PushMetrics metrics, IOptions<PushOptions> options, TimeProvider time, ILogger<PushDispatcher> logger)
    {
        _targets = targets;
        _connections = connections;
        _presence = presence;
        _store = store;
        _metrics = metrics;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _windowMs = _options.CoalesceSeconds * 1000L;
        _queue = Channel.CreateBounded<Candidate>(new BoundedChannelOptions(_options.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    }

    private readonly record struct Candidate(long UserId, CommittedMessage Message);

    public void Message(CommittedMessage message, IReadOnlyList<(long UserId, long JoinedSeq)> members, long? originConnectionId)
    {
        if (!_targets.Any)
        {
            return; // nobody has a target: the message path pays this read only
        }

        var row = message.Row;
        for (var i = 0; i < members.Count; i++)
        {
            var (userId, joinedSeq) = members[i];
            if (userId == row.SenderId || joinedSeq >= row.Seq || !_targets.Has(userId) || _connections.Holds(userId))
            {
                continue;
            }

            if (!_queue.Writer.TryWrite(new Candidate(userId, message)))
            {
                _metrics.Dropped();
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Candidate>(BatchSize);
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < BatchSize && _queue.Reader.TryRead(out var next))
                {
                    batch.Add(next);
                }

                try
                {
                    await WriteAsync(batch, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // A push is a hint: the batch is given up (the messages are safe; devices sync by after=).
                    _metrics.Dropped(batch.Count);
                    LogWriteFailed(_logger, e, batch.Count);
                }

                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutting down; what is still queued is not written (see the remarks)
        }
    }

    /// <summary>Presence across nodes, coalescing, then the pushes in one transaction.</summary>
    private async Task WriteAsync(List<Candidate> batch, CancellationToken cancellationToken)
    {
        IReadOnlySet<long>? elsewhere = null;
        if (_presence.OnlineAmongAsync(batch.Select(c => c.UserId).Distinct().ToList()) is { } asking)
        {
            elsewhere = await asking; // cluster mode: online on any node is online
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        Prune(now);
        var requests = new List<PushRequest>(batch.Count);
        foreach (var (userId, message) in batch)
        {
            var row = message.Row;
            if (elsewhere is not null && elsewhere.Contains(userId))
            {
                _metrics.Online();
                continue;
            }

            if (_windowMs > 0)
            {
                var key = (userId, row.ConversationId);
                if (_lastPushed.TryGetValue(key, out var last) && now - last < _windowMs)
                {
                    _metrics.Coalesced();
                    continue;
                }

                _lastPushed[key] = now;
            }

            requests.Add(new PushRequest(userId, row.ConversationId, Payload(userId, message.Row, _options.Previews)));
        }

        if (requests.Count > 0)
        {
            _metrics.Enqueued(await _store.EnqueueAsync(requests, now, cancellationToken));
        }
    }

    private void Prune(long now)
    {
        if (now < _nextPruneAt || _lastPushed.Count == 0)
        {
            return;
        }

        _nextPruneAt = now + Math.Max(_windowMs, 1000);
        foreach (var (key, at) in _lastPushed)
        {
            if (now - at >= _windowMs)
            {
                _lastPushed.Remove(key);
            }
        }
    }

    /// <summary>The body POSTed: <c>{userId, conversationId, seq, senderId, sentAt, preview?}</c>.</summary>
    internal static string Payload(long userId, Storage.Messaging.MessageRow row, bool previews)
    {
        var buffer = new ArrayBufferWriter<byte>(192);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("userId"u8, Ids.Format(userId));
            w.WriteString("conversationId"u8, Ids.Format(row.ConversationId));
            w.WriteNumber("seq"u8, row.Seq);
            w.WriteString("senderId"u8, Ids.Format(row.SenderId));
            w.WriteNumber("sentAt"u8, row.SentAt);
            if (previews && Preview(row) is { } preview)
            {
                w.WriteString("preview"u8, preview);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>The first 100 characters (Unicode scalar values, never half a surrogate pair) of a text message; null for any other.</summary>
    internal static string? Preview(Storage.Messaging.MessageRow row)
    {
        if (row.Type != "text" || row.Content is null)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(row.Content);
            if (!document.RootElement.TryGetProperty("text", out var element) || element.ValueKind != JsonValueKind.String)
            {
                return null;
            }

            var text = element.GetString()!;
            var end = 0;
            for (var count = 0; end < text.Length && count < 100; count++)
            {
                end += char.IsSurrogatePair(text, end) ? 2 : 1;
            }

            return text[..end];
        }
        catch (JsonException)
        {
            return null;
        }
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

    public void Notify(Notification notification)
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing {Count} offline notifications failed; they are dropped (the messages are stored)")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception, int count);
}
