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
    private readonly ConnectionShared _shared;
    private readonly SessionGuard _sessions;
    private readonly TokenService _tokens;
    private readonly Calls.CallService _calls;

    public Gateway(
        ConnectionRegistry connections,
        FrameDispatcher dispatcher,
        PresenceTracker presence,
        SocialStore social,
        PostCommitRoute route,
        SessionGuard sessions,
        TokenService tokens,
        Calls.CallService calls,
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
        _tokens = tokens;
        _calls = calls;
        // Made once, shared by every connection: a connection costs no delegate or settings copy of its own.
        _shared = new ConnectionShared(_options, time, metrics.FramesDelivered, metrics.SlowConsumerDisconnected, logger);
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
        var connection = new WebSocketConnection(socket, _shared, caller.UserId, caller.SessionId);
        var opened = _time.GetTimestamp();
        WebSocketCloseStatus? clientClose = null;
        try
        {
            var session = await OpenAsync(connection, caller, connectionSpan, "aspnetcore", context.RequestAborted);
            clientClose = await connection.ReceiveAsync(session, _dispatcher, context.RequestAborted);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            // The client went away.
        }
        finally
        {
            await CloseAsync(connection, caller, clientClose, opened);
        }
    }

    /// <summary>
    /// The lean path's admission, from the upgrade's head: a valid token of a live session, an allowed origin and
    /// a free connection slot (taken here, given back with <see cref="Release"/>). Null: refused, and the stock
    /// endpoint answers the same request with the refusal (401, 403 or 429), exactly as without the lean path.
    /// </summary>
    internal async ValueTask<Caller?> AdmitAsync(UpgradeRequest request, string scheme, CancellationToken cancellationToken)
    {
        var token = UpgradeToken(request);
        if (token is null)
        {
            return null;
        }

        var check = await _tokens.ValidateAccessTokenAsync(token);
        if (check.Status != AccessTokenStatus.Valid || !await _sessions.IsActiveAsync(check.SessionId, check.UserId, cancellationToken))
        {
            return null;
        }

        if (!OriginAllowed(request.Origin ?? "", request.Host, scheme, _options.AllowedOrigins)
            || !_connections.TryReserve(check.UserId, _options.MaxConnectionsPerUser))
        {
            return null;
        }

        return new Caller(check.UserId, check.SessionId);
    }

    /// <summary>The token as <see cref="BearerAuthenticationHandler.ReadToken"/> reads it: the Bearer header, else ?access_token=.</summary>
    private static string? UpgradeToken(UpgradeRequest request)
    {
        if (request.Authorization is { } header && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var value = header["Bearer ".Length..].Trim();
            return value.Length == 0 ? null : value;
        }

        if (request.Query is { } query
            && Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(query).TryGetValue("access_token", out var values)
            && values.Count == 1)
        {
            return values[0];
        }

        return null; // none, or another scheme: refused, by the stock endpoint
    }

    /// <summary>Gives back the connection slot taken by <see cref="AdmitAsync"/>.</summary>
    internal void Release(Caller caller) => _connections.Release(caller.UserId);

    internal FrameDispatcher Dispatcher => _dispatcher;

    internal ConnectionShared Shared => _shared;

    internal TimeProvider Time => _time;

    /// <summary>
    /// The span the stock path gets from ASP.NET Core's hosting for the upgrade request (traces on only): the
    /// frames' spans link to it; it lasts as long as the socket, as that request does.
    /// </summary>
    internal static Activity? StartUpgradeSpan(UpgradeRequest request)
    {
        if (!Telemetry.Source.HasListeners())
        {
            return null;
        }

        ActivityContext.TryParse(request.TraceParent, request.TraceState, isRemote: true, out var parent);
        var span = Telemetry.Source.StartActivity("GET /ws", ActivityKind.Server, parent);
        span?.SetTag("http.request.method", "GET");
        span?.SetTag("url.path", "/ws");
        span?.SetTag("url.scheme", "http");
        span?.SetTag("http.route", "/ws");
        span?.SetTag("network.protocol.version", "1.1");
        span?.SetTag("http.response.status_code", 101);
        return span;
    }

    /// <summary>
    /// The start of a connection's life, whatever its transport: registered, greeted, announced. The transport then
    /// reads its frames (handing each to the dispatcher, one after another) and ends it with <see cref="CloseAsync"/>,
    /// which must run even when this throws.
    /// </summary>
    internal async ValueTask<ClientSession> OpenAsync(Connection connection, Caller caller, ActivityContext connectionSpan, string transport, CancellationToken aborted)
    {
        _connections.Add(connection);
        LogOpened(_logger, connection.Id, caller.UserId, transport);
        if (_connections.Interest is { } interest)
        {
            // Cluster mode: the user's bus channel is live before the hello, so a client that syncs after the hello
            // misses nothing between its sync and the first live push (subscribe first, then read positions).
            await interest.HeldAsync(caller.UserId, aborted);
        }

        // A revocation between authentication and registration would have missed this socket.
        if (!await _sessions.IsActiveAsync(caller.SessionId, caller.UserId, aborted))
        {
            connection.Close(CloseCodes.SessionRevoked, "session revoked");
        }

        connection.TrySend(ServerFrames.Hello(Ids.Format(caller.UserId), Ids.Format(caller.SessionId), _time.GetUtcNow().ToUnixTimeMilliseconds(), _options.HeartbeatMs));
        _calls.DeviceConnected(caller.UserId, caller.SessionId, connection.Id); // a call's device back within its window; a ringing call rings here too
        if (await _presence.ConnectedAsync(caller.UserId))
        {
            await AnnouncePresenceAsync(caller.UserId, online: true, null);
        }

        return new ClientSession(connection, caller, connectionSpan);
    }

    /// <summary>The end of a connection's life: unregistered, what is queued given up to 5 s to leave, counted, announced.</summary>
    internal async Task CloseAsync(Connection connection, Caller caller, WebSocketCloseStatus? clientClose, long opened)
    {
        _connections.Remove(connection);
        _calls.DeviceDisconnected(caller.UserId, caller.SessionId);
        try
        {
            // The close timeout aborts a writer the peer does not drain; this bound is only a backstop.
            await connection.CompleteAsync().WaitAsync(2 * ConnectionShared.CloseTimeout, _time);
        }
        catch (TimeoutException)
        {
            connection.Abort();
        }
        _metrics.WebSocketClosed(connection.CloseStatus, clientClose, _time.GetElapsedTime(opened));
        var code = clientClose ?? connection.CloseStatus;
        LogClosed(_logger, connection.Id, caller.UserId, code is { } c ? (int)c : 1006, clientClose is not null ? "client" : connection.CloseStatus is not null ? "server" : "none");
        if (await _presence.DisconnectedAsync(caller.UserId))
        {
            await AnnouncePresenceAsync(caller.UserId, online: false, _time.GetUtcNow().ToUnixTimeMilliseconds());
        }
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

    private bool OriginAllowed(HttpRequest request) =>
        OriginAllowed(request.Headers.Origin.ToString(), request.Host.Value ?? "", request.Scheme, _options.AllowedOrigins);

    /// <summary>No Origin (not a browser) is fine; a browser's Origin must be listed, or be this server itself.</summary>
    internal static bool OriginAllowed(string origin, string host, string scheme, string[] allowed)
    {
        if (origin.Length == 0)
        {
            return true;
        }

        if (allowed.Length > 0)
        {
            return allowed.Contains(origin, StringComparer.OrdinalIgnoreCase);
        }

        return Uri.TryCreate(origin, UriKind.Absolute, out var uri)
            && string.Equals(uri.Authority, host, StringComparison.OrdinalIgnoreCase)
            && string.Equals(uri.Scheme, scheme, StringComparison.OrdinalIgnoreCase);
    }

    private static readonly Refusal NotAnUpgrade = Refusal.Invalid("upgrade", "this endpoint takes a WebSocket upgrade");
    private static readonly Refusal OriginRefused = Refusal.Forbidden("This origin may not open a WebSocket here.");

    private static Refusal TooManyConnections(int max) =>
        new(429, ErrorCodes.RateLimited, $"At most {max} open WebSocket connections per user; close one first.");

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection {ConnectionId} of user {UserId} opened ({Transport})")]
    private static partial void LogOpened(ILogger logger, long connectionId, long userId, string transport);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection {ConnectionId} of user {UserId} closed with {CloseCode} (closed by: {ClosedBy})")]
    private static partial void LogClosed(ILogger logger, long connectionId, long userId, int closeCode, string closedBy);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Presence for user {UserId} could not be announced")]
    private static partial void LogPresenceFailed(ILogger logger, Exception exception, long userId);
}
