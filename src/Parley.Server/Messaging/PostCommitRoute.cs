using System.Buffers;
using System.Text.Json;
using System.Threading.Channels;
using Parley.Protocol;
using Parley.Server.Events;
using Parley.Server.Http;
using Parley.Storage.Messaging;

namespace Parley.Server.Messaging;

/// <summary>
/// A committed message with its JSON, serialized once on first use and then shared by the sender's answer
/// (<c>sent</c> or the HTTP body) and the fan-out's <c>message</c> frame. The JSON is written inside the
/// <c>message</c> frame's own array, so the push costs no second copy of it.
/// </summary>
public sealed class CommittedMessage(MessageRow row)
{
    private byte[]? _frame;

    public MessageRow Row { get; } = row;

    /// <summary>
    /// The conversation's members version this message was committed under (cluster mode; negative otherwise): the
    /// route delivers it with a view at least that new, so a member removed on another node just before gets nothing.
    /// </summary>
    public long MembersVersion { get; init; } = -1;

    /// <summary>The contract's message object as UTF-8 JSON (a slice of <see cref="MessageFrame"/>).</summary>
    public ReadOnlyMemory<byte> Json => MessageFrame.AsMemory(ServerFrames.MessageFrameHead.Length, _frame!.Length - ServerFrames.MessageFrameHead.Length - ServerFrames.MessageFrameTail.Length);

    /// <summary>
    /// <c>{type:"message", message}</c> with this message: the bytes <see cref="ServerFrames.Message"/> gives for
    /// <see cref="Json"/>. Never modify it: every recipient gets these bytes.
    /// </summary>
    public byte[] MessageFrame => Volatile.Read(ref _frame) ?? Interlocked.CompareExchange(ref _frame, Serialize(Row), null) ?? _frame!;

    /// <summary>
    /// The <c>message</c> frame of the row, its message object the bytes
    /// <c>JsonSerializer.SerializeToUtf8Bytes(MessagingService.ToDto(row), ParleyJson.Default.MessageDto)</c>
    /// gives (a test holds them equal), written straight from the row: no DTO and no id strings per message.
    /// </summary>
    public static byte[] Serialize(MessageRow row)
    {
        var w = t_writer ??= new MessageWriter();
        t_writer = null; // a nested use (none today) gets its own
        try
        {
            return w.Write(row);
        }
        finally
        {
            // A thread that once wrote a huge message does not keep that buffer for ever.
            t_writer = w.Capacity <= 256 * 1024 ? w : null;
        }
    }

    [ThreadStatic]
    private static MessageWriter? t_writer;

    private sealed class MessageWriter
    {
        private readonly System.Buffers.ArrayBufferWriter<byte> _buffer = new(512);
        private readonly Utf8JsonWriter _json;

        public MessageWriter() => _json = new Utf8JsonWriter(_buffer);

        public int Capacity => _buffer.Capacity;

        public byte[] Write(MessageRow row)
        {
            _buffer.ResetWrittenCount();
            _buffer.Write(ServerFrames.MessageFrameHead);
            _json.Reset(_buffer);
            Span<byte> id = stackalloc byte[20];
            _json.WriteStartObject();
            _json.WriteString("conversationId"u8, Id(row.ConversationId, id));
            _json.WriteNumber("seq"u8, row.Seq);
            _json.WriteString("clientMsgId"u8, row.ClientMsgId);
            _json.WriteString("senderId"u8, Id(row.SenderId, id));
            _json.WriteString("type"u8, row.Type);
            _json.WritePropertyName("content"u8);
            if (row.Content is null)
            {
                _json.WriteNullValue();
            }
            else
            {
                _json.WriteRawValue(row.Content, skipInputValidation: true);
            }

            if (row.ReplyTo is { } replyTo)
            {
                _json.WriteNumber("replyTo"u8, replyTo);
            }
            else
            {
                _json.WriteNull("replyTo"u8);
            }

            _json.WritePropertyName("mentions"u8);
            _json.WriteRawValue(row.Mentions ?? "[]", skipInputValidation: true);
            _json.WriteNumber("sentAt"u8, row.SentAt);
            _json.WriteBoolean("recalled"u8, row.RecalledAt is not null);
            _json.WriteEndObject();
            _json.Flush();
            _buffer.Write(ServerFrames.MessageFrameTail);
            return _buffer.WrittenSpan.ToArray();
        }

        private static ReadOnlySpan<byte> Id(long id, Span<byte> buffer)
        {
            id.TryFormat(buffer, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
            return buffer[..written];
        }
    }
}

/// <summary>What happened after a commit, as the one route carries it (in the order it was published).</summary>
public abstract record PostCommitEvent;

/// <summary>A committed batch's new messages, in seq order per conversation, each with the connection that sent it (which got <c>sent</c>).</summary>
public sealed record MessagesCommitted(IReadOnlyList<(CommittedMessage Message, long? OriginConnectionId)> Messages) : PostCommitEvent;

public sealed record MessageRecalled(long ConversationId, long Seq, long By) : PostCommitEvent;

public sealed record ReadMoved(long ConversationId, long UserId, long Seq, IReadOnlyList<long> Recipients, long? OriginConnectionId) : PostCommitEvent;

public sealed record TypingHint(long ConversationId, long UserId, IReadOnlyList<long> Recipients) : PostCommitEvent;

public sealed record NotificationPublished(Notification Notification) : PostCommitEvent;

public sealed record PresenceChanged(long UserId, bool Online, long? LastSeenAt, IReadOnlyList<long> Friends) : PostCommitEvent;

public sealed record SessionsRevoked(IReadOnlyList<long> SessionIds) : PostCommitEvent;

/// <summary>A conversation's members, roles, mutes or group changed (this node's views are already stale).</summary>
public sealed record MembershipChanged(long ConversationId) : PostCommitEvent;

/// <summary>Friendship or blocks between two users changed (this node's views are already stale).</summary>
public sealed record PairChanged(long UserA, long UserB) : PostCommitEvent;

/// <summary>
/// Where the route delivers: the local fan-out (<c>Realtime/Fanout</c>) and, with a cluster, the bus. Called from
/// the route's one consumer, one event at a time and in order; an implementation must not block (it queues).
/// </summary>
public interface IPostCommitSink
{
    /// <summary>A new message, to the devices of <paramref name="members"/> who joined before its seq, except <paramref name="originConnectionId"/>.</summary>
    void Message(CommittedMessage message, IReadOnlyList<(long UserId, long JoinedSeq)> members, long? originConnectionId);

    /// <summary>A recall, to the devices of <paramref name="members"/> who joined before <paramref name="seq"/>.</summary>
    void Recalled(long conversationId, long seq, long by, IReadOnlyList<(long UserId, long JoinedSeq)> members);

    void Read(long conversationId, long userId, long seq, IReadOnlyList<long> recipients, long? originConnectionId);

    void Typing(long conversationId, long userId, IReadOnlyList<long> recipients);

    void Notify(Notification notification);

    void Presence(long userId, bool online, long? lastSeenAt, IReadOnlyList<long> friends);

    void SessionsRevoked(IReadOnlyList<long> sessionIds);

    /// <summary>What cached views depend on changed; this node's versions were bumped already (other nodes' are the bus's to bump).</summary>
    void MembershipChanged(long conversationId);

    void PairChanged(long userA, long userB);
}

/// <summary>
/// The one ordered route for everything published after a commit: messages, recalls, read markers, typing hints,
/// notifications, presence, revocations and the changes cached views depend on go into one stream, consumed in order by one consumer that resolves
/// recipients (from the <see cref="ConversationViews"/>) and hands each event to every <see cref="IPostCommitSink"/>.
/// The pipeline publishes a committed batch here before it completes its senders' tasks, and every other change
/// publishes after its commit, so nothing a client does after its answer can overtake what it was answered for:
/// a recall never reaches a device before the message it recalls. Publishing never blocks.
/// </summary>
public sealed partial class PostCommitRoute : BackgroundService, INotificationSink, IMembershipChanges
{
    private readonly Channel<PostCommitEvent> _events = Channel.CreateUnbounded<PostCommitEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly IPostCommitSink[] _sinks;
    private readonly ConversationViews _views;
    private readonly ILogger<PostCommitRoute> _logger;

    public PostCommitRoute(IEnumerable<IPostCommitSink> sinks, ConversationViews views, MembershipVersions versions, ILogger<PostCommitRoute> logger)
    {
        _sinks = sinks.ToArray();
        _views = views;
        _logger = logger;
        versions.Changes = this;
    }

    public void Publish(PostCommitEvent e) => _events.Writer.TryWrite(e);

    public void MessagesCommitted(IReadOnlyList<(CommittedMessage Message, long? OriginConnectionId)> messages)
    {
        if (messages.Count > 0)
        {
            Publish(new MessagesCommitted(messages));
        }
    }

    public void Recalled(long conversationId, long seq, long by) => Publish(new MessageRecalled(conversationId, seq, by));

    public void Read(long conversationId, long userId, long seq, IReadOnlyList<long> recipients, long? originConnectionId) =>
        Publish(new ReadMoved(conversationId, userId, seq, recipients, originConnectionId));

    public void Typing(long conversationId, long userId, IReadOnlyList<long> recipients) => Publish(new TypingHint(conversationId, userId, recipients));

    public void Presence(long userId, bool online, long? lastSeenAt, IReadOnlyList<long> friends) =>
        Publish(new PresenceChanged(userId, online, lastSeenAt, friends));

    public void Revoked(IReadOnlyList<long> sessionIds) => Publish(new SessionsRevoked(sessionIds));

    void IMembershipChanges.ConversationChanged(long conversationId) => Publish(new MembershipChanged(conversationId));

    void IMembershipChanges.PairChanged(long userA, long userB) => Publish(new PairChanged(userA, userB));

    /// <summary>Notifications join the route too (<see cref="Notifier"/> calls this after the change committed).</summary>
    void INotificationSink.Publish(Notification notification) => Publish(new NotificationPublished(notification));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await _events.Reader.WaitToReadAsync(stoppingToken))
            {
                while (_events.Reader.TryRead(out var e))
                {
                    try
                    {
                        await DeliverAsync(e);
                    }
                    catch (Exception error)
                    {
                        // Live delivery is best effort; clients catch up by after=.
                        LogDeliveryFailed(_logger, error, e.GetType().Name);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutting down
        }
    }

    private async ValueTask DeliverAsync(PostCommitEvent e)
    {
        switch (e)
        {
            case MessagesCommitted batch:
                for (var i = 0; i < batch.Messages.Count; i++) // by index: foreach over the interface would box an enumerator
                {
                    var (message, origin) = batch.Messages[i];
                    // Usually held (the send just used it); the members as of now, each seeing messages after their join.
                    var view = await _views.GetAsync(message.Row.ConversationId, CancellationToken.None);
                    if (view is not null && view.MembersVersion < message.MembersVersion)
                    {
                        // Committed under a change this node has not heard of yet (made on another node): its members then.
                        view = await _views.ReloadAsync(message.Row.ConversationId, CancellationToken.None);
                    }

                    if (view is not null)
                    {
                        foreach (var sink in _sinks)
                        {
                            sink.Message(message, view.MemberList, origin);
                        }
                    }
                }

                break;
            case MessageRecalled recall:
                if (await _views.GetAsync(recall.ConversationId, CancellationToken.None) is { } recalledIn)
                {
                    foreach (var sink in _sinks)
                    {
                        sink.Recalled(recall.ConversationId, recall.Seq, recall.By, recalledIn.MemberList);
                    }
                }

                break;
            case ReadMoved read:
                foreach (var sink in _sinks)
                {
                    sink.Read(read.ConversationId, read.UserId, read.Seq, read.Recipients, read.OriginConnectionId);
                }

                break;
            case TypingHint typing:
                foreach (var sink in _sinks)
                {
                    sink.Typing(typing.ConversationId, typing.UserId, typing.Recipients);
                }

                break;
            case NotificationPublished notify:
                foreach (var sink in _sinks)
                {
                    sink.Notify(notify.Notification);
                }

                break;
            case PresenceChanged presence:
                foreach (var sink in _sinks)
                {
                    sink.Presence(presence.UserId, presence.Online, presence.LastSeenAt, presence.Friends);
                }

                break;
            case SessionsRevoked revoked:
                foreach (var sink in _sinks)
                {
                    sink.SessionsRevoked(revoked.SessionIds);
                }

                break;
            case MembershipChanged changed:
                foreach (var sink in _sinks)
                {
                    sink.MembershipChanged(changed.ConversationId);
                }

                break;
            case PairChanged pair:
                foreach (var sink in _sinks)
                {
                    sink.PairChanged(pair.UserA, pair.UserB);
                }

                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Live delivery of a {Event} failed")]
    private static partial void LogDeliveryFailed(ILogger logger, Exception exception, string @event);
}
