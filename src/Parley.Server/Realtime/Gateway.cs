using System.Buffers;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Parley.Protocol;
using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Server.Operations;
using Parley.Server.Social;
using Parley.Storage;
using Parley.Storage.Social;

namespace Parley.Server.Realtime;

/// <summary>
/// The WebSocket gateway at /ws: transport (zero-byte reads while idle, one writer per connection) ->
/// <see cref="FrameParser.TryParse"/> -> a switch on the frame -> the messaging feature. Frames of one
/// connection are handled one after another, so its sends keep their order. A bad frame is answered with
/// an <c>error</c> frame and the connection lives on.
/// </summary>
public sealed partial class Gateway
{
    private readonly ConnectionRegistry _connections;
    private readonly MessagingService _messaging;
    private readonly PresenceTracker _presence;
    private readonly SocialStore _social;
    private readonly Fanout _fanout;
    private readonly TimeProvider _time;
    private readonly RealtimeOptions _options;
    private readonly ILogger<Gateway> _logger;
    private readonly ParleyMetrics _metrics;
    private readonly Action _frameDelivered;
    private readonly Action _slowConsumerDropped;
    private readonly SessionGuard _sessions;

    public Gateway(
        ConnectionRegistry connections,
        MessagingService messaging,
        PresenceTracker presence,
        SocialStore social,
        Fanout fanout,
        SessionGuard sessions,
        TimeProvider time,
        IOptions<RealtimeOptions> options,
        ParleyMetrics metrics,
        ILogger<Gateway> logger)
    {
        _connections = connections;
        _messaging = messaging;
        _presence = presence;
        _social = social;
        _fanout = fanout;
        _time = time;
        _options = options.Value;
        _logger = logger;
        _sessions = sessions;
        _metrics = metrics;
        // Made once, shared by every connection: a connection costs no delegate of its own for these.
        _frameDelivered = metrics.FrameDelivered;
        _slowConsumerDropped = metrics.SlowConsumerDisconnected;
        sessions.Revoked += CloseSessions;
    }

    public async Task HandleAsync(HttpContext context)
    {
        // Refused upgrades are ordinary traffic (another site's page, a plain GET): answered, not thrown.
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await new ProblemResult(NotAnUpgrade).ExecuteAsync(context);
            return;
        }

        if (!OriginAllowed(context.Request))
        {
            await new ProblemResult(OriginRefused).ExecuteAsync(context);
            return;
        }

        var caller = context.Caller();
        // Before the upgrade: a refused socket is never accepted, so it holds no buffers or queue.
        if (!_connections.TryReserve(caller.UserId, _options.MaxConnectionsPerUser))
        {
            await new ProblemResult(TooManyConnections(_options.MaxConnectionsPerUser)).ExecuteAsync(context);
            return;
        }

        try
        {
            await RunAsync(context, caller);
        }
        finally
        {
            _connections.Release(caller.UserId);
        }
    }

    private async Task RunAsync(HttpContext context, Caller caller)
    {
        // The upgrade request's span (when traces are on): each frame's span links to it.
        var connectionSpan = Activity.Current?.Context ?? default;
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = TimeSpan.Zero });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var connection = new Connection(socket, caller.UserId, caller.SessionId, _options.SendQueueFrames, _options.SendQueueBytes, stop)
        {
            FrameWritten = _frameDelivered,
            SlowConsumerDropped = _slowConsumerDropped,
        };
        var opened = _time.GetTimestamp();
        WebSocketCloseStatus? clientClose = null;
        _connections.Add(connection);
        // A revocation between authentication and registration would have missed this socket.
        if (!await _sessions.IsActiveAsync(caller.SessionId, caller.UserId, stop.Token))
        {
            connection.Close(CloseCodes.SessionRevoked, "session revoked");
        }

        var writer = connection.RunWriterAsync(stop.Token);
        try
        {
            connection.TrySend(ServerFrames.Hello(Ids.Format(caller.UserId), Ids.Format(caller.SessionId), _time.GetUtcNow().ToUnixTimeMilliseconds(), _options.HeartbeatMs));
            if (_presence.Connected(caller.UserId))
            {
                await AnnouncePresenceAsync(caller.UserId, online: true, null);
            }

            clientClose = await ReceiveLoopAsync(socket, connection, caller, connectionSpan, stop.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // The client went away.
        }
        finally
        {
            _connections.Remove(connection);
            connection.Complete();
            stop.CancelAfter(TimeSpan.FromSeconds(5)); // what is queued gets a moment to leave
            await writer;
            _metrics.WebSocketClosed(connection.CloseStatus, clientClose, _time.GetElapsedTime(opened));
            if (_presence.Disconnected(caller.UserId))
            {
                await AnnouncePresenceAsync(caller.UserId, online: false, _time.GetUtcNow().ToUnixTimeMilliseconds());
            }
        }
    }

    /// <summary>Reads frames until the socket closes; returns the client's close status when the client closed first.</summary>
    private async Task<WebSocketCloseStatus?> ReceiveLoopAsync(WebSocket socket, Connection connection, Caller caller, ActivityContext connectionSpan, CancellationToken cancellationToken)
    {
        var frames = new TokenBucket(_options.FramesPerSecond, _options.FrameBurst);
        var lastTyping = new Dictionary<string, long>(StringComparer.Ordinal);
        while (socket.State == WebSocketState.Open)
        {
            // Zero-byte read: an idle connection holds no receive buffer, only this pending read.
            var peek = await socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
            if (peek.MessageType == WebSocketMessageType.Close)
            {
                return AnswerClose(socket, connection);
            }

            if (!frames.TryTake())
            {
                connection.Close(CloseCodes.RateLimited, "too many frames");
                return null;
            }

            if (peek.EndOfMessage)
            {
                connection.Touch();
                connection.TrySend(ServerFrames.Error(null, ErrorCodes.Invalid, "Empty frame."));
                continue;
            }

            var buffer = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length >= ProtocolLimits.MaxFrameBytes)
                        {
                            connection.Close(CloseCodes.MessageTooBig, "frame too large");
                            return null;
                        }

                        var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, ProtocolLimits.MaxFrameBytes));
                        buffer.AsSpan(0, length).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }

                    result = await socket.ReceiveAsync(buffer.AsMemory(length, Math.Min(buffer.Length, ProtocolLimits.MaxFrameBytes) - length), cancellationToken);
                    length += result.Count;
                    if (length > ProtocolLimits.MaxFrameBytes)
                    {
                        connection.Close(CloseCodes.MessageTooBig, "frame too large");
                        return null;
                    }
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return AnswerClose(socket, connection);
                }

                connection.Touch();
                if (result.MessageType != WebSocketMessageType.Text)
                {
                    connection.TrySend(ServerFrames.Error(null, ErrorCodes.Invalid, "Frames are JSON text."));
                    continue;
                }

                if (!FrameParser.TryParse(buffer.AsSpan(0, length), out var frame, out var error))
                {
                    connection.TrySend(ServerFrames.Error(error.RefJson, error.Code, error.Message));
                    continue;
                }

                if (frame is TypingFrame typing && !TypingAllowed(lastTyping, typing.ConversationId))
                {
                    continue; // typing is a hint: at most one per conversation per second is passed on
                }

                await DispatchAsync(frame, connection, caller, connectionSpan, cancellationToken);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        return null;
    }

    /// <summary>Answers the client's close; its status is the connection's when the server had not closed first.</summary>
    private static WebSocketCloseStatus? AnswerClose(WebSocket socket, Connection connection)
    {
        var status = connection.CloseStatus is null ? socket.CloseStatus ?? WebSocketCloseStatus.Empty : (WebSocketCloseStatus?)null;
        connection.Close(WebSocketCloseStatus.NormalClosure, "bye");
        return status;
    }

    /// <summary>
    /// Hands a frame to the messaging feature. Refusals (invalid, not a member, rate limited, muted...) come
    /// back as values and leave as <c>error</c> frames: a client's mistake costs no exception.
    /// </summary>
    private async Task DispatchAsync(ClientFrame frame, Connection connection, Caller caller, ActivityContext connectionSpan, CancellationToken cancellationToken)
    {
        if (frame is PingFrame)
        {
            connection.TrySend(ServerFrames.Pong());
            return;
        }

        using var span = StartFrameSpan(frame, connectionSpan);
        string? refJson = null;
        try
        {
            Refusal? refusal;
            switch (frame)
            {
                case SendFrame send:
                    refJson = send.RefJson;
                    var sent = await _messaging.SendAsync(
                        caller,
                        send.ConversationId,
                        new SendMessageBody(send.ClientMsgId, send.MsgType, send.Content, send.ReplyTo, send.Mentions),
                        cancellationToken,
                        connection.Id);
                    if (sent.TryGetValue(out var message, out refusal))
                    {
                        span?.SetTag("parley.message.seq", message.Message.Seq);
                        connection.TrySend(ServerFrames.Sent(send.RefJson, JsonSerializer.SerializeToUtf8Bytes(message.Message, ParleyJson.Default.MessageDto)));
                    }

                    break;
                case SyncFrame sync:
                    refJson = sync.RefJson;
                    // Half the queue's budget at most, so the answer fits beside what is queued already.
                    var history = await _messaging.HistoryAsync(caller, sync.ConversationId, sync.AfterSeq, null, sync.Limit ?? ProtocolLimits.DefaultSyncLimit, cancellationToken, Math.Max(ProtocolLimits.MaxFrameBytes, _options.SendQueueBytes / 2));
                    if (history.TryGetValue(out var page, out refusal))
                    {
                        var items = page.Items.Select(m => (ReadOnlyMemory<byte>)JsonSerializer.SerializeToUtf8Bytes(m, ParleyJson.Default.MessageDto)).ToList();
                        connection.TrySend(ServerFrames.Messages(sync.RefJson, sync.ConversationId, items, page.HasMore, page.MaxSeq));
                    }

                    break;
                case AckFrame ack:
                    refusal = await _messaging.AckAsync(caller, ack.ConversationId, ack.Seq, cancellationToken);
                    break;
                case ReadFrame read:
                    refusal = await _messaging.MarkReadAsync(caller, read.ConversationId, new ReadBody(read.Seq), cancellationToken, connection.Id);
                    break;
                case TypingFrame typing:
                    refusal = await _messaging.TypingAsync(caller, typing.ConversationId, cancellationToken);
                    break;
                default:
                    refusal = null;
                    break;
            }

            if (refusal is not null)
            {
                LogFrameRefused(_logger, frame.GetType().Name, refusal.Code);
                span?.SetTag("parley.error.code", refusal.Code);
                connection.TrySend(ServerFrames.Error(refJson, refusal.Code, refusal.Detail));
            }
        }
        catch (ApiException e)
        {
            // Nothing on the frame path throws these for a client's mistake any more; kept so one that does is still answered.
            span?.SetTag("parley.error.code", e.Code);
            connection.TrySend(ServerFrames.Error(refJson, e.Code, e.Message));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            span?.SetStatus(ActivityStatusCode.Error);
            LogFrameFailed(_logger, e, frame.GetType().Name);
            connection.TrySend(ServerFrames.Error(refJson, ErrorCodes.Internal, "The frame could not be handled."));
        }
    }

    /// <summary>
    /// A span per frame handled (traces on only; typing hints get none). Each is the root of its own trace,
    /// linked to the connection's upgrade request: that request's span lasts as long as the socket (hours),
    /// and a trace holding every frame of a connection would be neither complete nor readable until it closed.
    /// </summary>
    private static Activity? StartFrameSpan(ClientFrame frame, ActivityContext connectionSpan)
    {
        if (!Telemetry.Source.HasListeners())
        {
            return null;
        }

        var (name, conversationId) = frame switch
        {
            SendFrame f => ("ws send", f.ConversationId),
            SyncFrame f => ("ws sync", f.ConversationId),
            ReadFrame f => ("ws read", f.ConversationId),
            AckFrame f => ("ws ack", f.ConversationId),
            _ => (null, null),
        };
        if (name is null)
        {
            return null;
        }

        // Not the connection's span as parent (see above). The caller's async context is the frame's alone,
        // so this change ends with the frame.
        var previous = Activity.Current;
        Activity.Current = null;
        var span = Telemetry.Source.StartActivity(
            name,
            ActivityKind.Server,
            default(ActivityContext),
            links: connectionSpan == default ? null : [new ActivityLink(connectionSpan)]);
        if (span is null)
        {
            Activity.Current = previous; // not sampled: log lines keep the connection's ids
            return null;
        }

        span.SetTag("parley.conversation.id", conversationId);
        return span;
    }

    private static bool TypingAllowed(Dictionary<string, long> lastTyping, string conversationId)
    {
        var now = Environment.TickCount64;
        if (lastTyping.TryGetValue(conversationId, out var last) && now - last < 1000)
        {
            return false;
        }

        if (lastTyping.Count > 1000)
        {
            lastTyping.Clear();
        }

        lastTyping[conversationId] = now;
        return true;
    }

    private async Task AnnouncePresenceAsync(long userId, bool online, long? lastSeenAt)
    {
        try
        {
            _fanout.Presence(userId, online, lastSeenAt, await _social.FriendIdsAsync(userId, CancellationToken.None));
        }
        catch (Exception e)
        {
            LogPresenceFailed(_logger, e, userId);
        }
    }

    private void CloseSessions(IReadOnlyList<long> sessionIds)
    {
        var revoked = sessionIds.ToHashSet();
        foreach (var connection in _connections.All())
        {
            if (revoked.Contains(connection.SessionId))
            {
                connection.Close(CloseCodes.SessionRevoked, "session revoked");
            }
        }
    }

    /// <summary>No Origin (not a browser) is fine; a browser's Origin must be listed, or be this server itself.</summary>
    private bool OriginAllowed(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0)
        {
            return true;
        }

        if (_options.AllowedOrigins.Length > 0)
        {
            return _options.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase);
        }

        return Uri.TryCreate(origin, UriKind.Absolute, out var uri)
            && string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase)
            && string.Equals(uri.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase);
    }

    private static readonly Refusal NotAnUpgrade = Refusal.Invalid("upgrade", "this endpoint takes a WebSocket upgrade");
    private static readonly Refusal OriginRefused = Refusal.Forbidden("This origin may not open a WebSocket here.");

    private static Refusal TooManyConnections(int max) =>
        new(429, ErrorCodes.RateLimited, $"At most {max} open WebSocket connections per user; close one first.");

    [LoggerMessage(Level = LogLevel.Debug, Message = "A {Frame} frame was refused: {Code}")]
    private static partial void LogFrameRefused(ILogger logger, string frame, string code);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling a {Frame} frame failed")]
    private static partial void LogFrameFailed(ILogger logger, Exception exception, string frame);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Presence for user {UserId} could not be announced")]
    private static partial void LogPresenceFailed(ILogger logger, Exception exception, long userId);

    /// <summary>Frames per connection: a sustained rate with a burst; used on the connection's own loop only.</summary>
    private sealed class TokenBucket(double rate, int burst)
    {
        private double _tokens = burst;
        private long _stamp = Environment.TickCount64;

        public bool TryTake()
        {
            var now = Environment.TickCount64;
            _tokens = Math.Min(burst, _tokens + ((now - _stamp) / 1000.0 * rate));
            _stamp = now;
            if (_tokens < 1)
            {
                return false;
            }

            _tokens -= 1;
            return true;
        }
    }
}
