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
/// The WebSocket gateway at /ws: the connection's life (admission, registration, hello, presence, revocation)
/// and its transport loop (zero-byte reads while idle, one writer per connection). Each complete text frame
/// goes to the <see cref="FrameDispatcher"/>; frames of one connection are handled one after another, so its
/// sends keep their order. A bad frame is answered with an <c>error</c> frame and the connection lives on.
/// </summary>
public sealed partial class Gateway
{
    private readonly ConnectionRegistry _connections;
    private readonly FrameDispatcher _dispatcher;
    private readonly PresenceTracker _presence;
    private readonly SocialStore _social;
    private readonly PostCommitRoute _route;
    private readonly TimeProvider _time;
    private readonly RealtimeOptions _options;
    private readonly ILogger<Gateway> _logger;
    private readonly ParleyMetrics _metrics;
    private readonly Action _frameDelivered;
    private readonly Action _slowConsumerDropped;
    private readonly SessionGuard _sessions;

    public Gateway(
        ConnectionRegistry connections,
        FrameDispatcher dispatcher,
        PresenceTracker presence,
        SocialStore social,
        PostCommitRoute route,
        SessionGuard sessions,
        TimeProvider time,
        IOptions<RealtimeOptions> options,
        ParleyMetrics metrics,
        ILogger<Gateway> logger)
    {
        _connections = connections;
        _dispatcher = dispatcher;
        _presence = presence;
        _social = social;
        _route = route;
        _time = time;
        _options = options.Value;
        _logger = logger;
        _sessions = sessions;
        _metrics = metrics;
        // Made once, shared by every connection: a connection costs no delegate of its own for these.
        _frameDelivered = metrics.FrameDelivered;
        _slowConsumerDropped = metrics.SlowConsumerDisconnected;
        // Revocations reach the sockets through the one post-commit route (its local sink closes them).
        sessions.Revoked += route.Revoked;
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
        var session = new ClientSession(connection, caller, connectionSpan);
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

                await _dispatcher.HandleTextAsync(session, buffer.AsMemory(0, length), cancellationToken);
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

    private async Task AnnouncePresenceAsync(long userId, bool online, long? lastSeenAt)
    {
        try
        {
            _route.Presence(userId, online, lastSeenAt, await _social.FriendIdsAsync(userId, CancellationToken.None));
        }
        catch (Exception e)
        {
            LogPresenceFailed(_logger, e, userId);
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
