using System.Buffers;
using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Parley.Protocol;
using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Server.Messaging;
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
    private readonly Counter<long> _delivered;
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
        IMeterFactory meters,
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
        var meter = meters.Create("Parley");
        _delivered = meter.CreateCounter<long>("parley.frames.delivered", "{frame}", "Frames written to WebSocket connections.");
        meter.CreateObservableGauge("parley.connections.open", () => _connections.Count, "{connection}", "Open WebSocket connections.");
        sessions.Revoked += CloseSessions;
    }

    public async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            throw ApiException.Invalid("upgrade", "this endpoint takes a WebSocket upgrade");
        }

        if (!OriginAllowed(context.Request))
        {
            throw ApiException.Forbidden("This origin may not open a WebSocket here.");
        }

        var caller = context.Caller();
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = TimeSpan.Zero });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var connection = new Connection(socket, caller.UserId, caller.SessionId, _options.SendQueueFrames, _options.SendQueueBytes, stop) { FrameWritten = () => _delivered.Add(1) };
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

            await ReceiveLoopAsync(socket, connection, caller, stop.Token);
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
            if (_presence.Disconnected(caller.UserId))
            {
                await AnnouncePresenceAsync(caller.UserId, online: false, _time.GetUtcNow().ToUnixTimeMilliseconds());
            }
        }
    }

    private async Task ReceiveLoopAsync(WebSocket socket, Connection connection, Caller caller, CancellationToken cancellationToken)
    {
        var frames = new TokenBucket(_options.FramesPerSecond, _options.FrameBurst);
        var lastTyping = new Dictionary<string, long>(StringComparer.Ordinal);
        while (socket.State == WebSocketState.Open)
        {
            // Zero-byte read: an idle connection holds no receive buffer, only this pending read.
            var peek = await socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
            if (peek.MessageType == WebSocketMessageType.Close)
            {
                connection.Close(WebSocketCloseStatus.NormalClosure, "bye"); // answer the client's close
                return;
            }

            if (!frames.TryTake())
            {
                connection.Close(CloseCodes.RateLimited, "too many frames");
                return;
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
                            return;
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
                        return;
                    }
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    connection.Close(WebSocketCloseStatus.NormalClosure, "bye");
                    return;
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

                await DispatchAsync(frame, connection, caller, cancellationToken);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private async Task DispatchAsync(ClientFrame frame, Connection connection, Caller caller, CancellationToken cancellationToken)
    {
        string? refJson = null;
        try
        {
            switch (frame)
            {
                case PingFrame:
                    connection.TrySend(ServerFrames.Pong());
                    break;
                case SendFrame send:
                    refJson = send.RefJson;
                    var (message, _) = await _messaging.SendAsync(
                        caller,
                        send.ConversationId,
                        new SendMessageBody(send.ClientMsgId, send.MsgType, send.Content, send.ReplyTo, send.Mentions),
                        cancellationToken,
                        connection.Id);
                    connection.TrySend(ServerFrames.Sent(send.RefJson, JsonSerializer.SerializeToUtf8Bytes(message, ParleyJson.Default.MessageDto)));
                    break;
                case SyncFrame sync:
                    refJson = sync.RefJson;
                    var page = await _messaging.HistoryAsync(caller, sync.ConversationId, sync.AfterSeq, null, sync.Limit ?? ProtocolLimits.DefaultSyncLimit, cancellationToken);
                    var items = page.Items.Select(m => (ReadOnlyMemory<byte>)JsonSerializer.SerializeToUtf8Bytes(m, ParleyJson.Default.MessageDto)).ToList();
                    connection.TrySend(ServerFrames.Messages(sync.RefJson, sync.ConversationId, items, page.HasMore, page.MaxSeq));
                    break;
                case AckFrame ack:
                    await _messaging.AckAsync(caller, ack.ConversationId, ack.Seq, cancellationToken);
                    break;
                case ReadFrame read:
                    await _messaging.MarkReadAsync(caller, read.ConversationId, new ReadBody(read.Seq), cancellationToken, connection.Id);
                    break;
                case TypingFrame typing:
                    await _messaging.TypingAsync(caller, typing.ConversationId, cancellationToken);
                    break;
            }
        }
        catch (ApiException e)
        {
            connection.TrySend(ServerFrames.Error(refJson, e.Code, e.Message));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFrameFailed(_logger, e, frame.GetType().Name);
            connection.TrySend(ServerFrames.Error(refJson, ErrorCodes.Internal, "The frame could not be handled."));
        }
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
