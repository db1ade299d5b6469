using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;

namespace Parley.Server.Realtime;

/// <summary>
/// A Kestrel connection middleware in front of the HTTP stack: it peeks at the first request of each connection
/// without consuming it. A plain <c>GET /ws</c> WebSocket upgrade that the gateway admits (token, session,
/// origin, connection slot) is upgraded here and served by <see cref="LeanWebSocketConnection"/> on the
/// connection's own pipes, so no HTTP/1.1 connection state lives under the socket. Anything else (another
/// request, TLS bytes, HTTP/2, an unusual head, a refused upgrade) goes on to Kestrel with every byte in place:
/// refusals are answered by the stock endpoint, with the same status, problem+json and headers as ever.
/// </summary>
public sealed partial class LeanWebSocketMiddleware
{
    private readonly ConnectionDelegate _next;
    private readonly Gateway _gateway;
    private readonly TimeProvider _time;
    private readonly ILogger<LeanWebSocketMiddleware> _logger;
    private readonly int _maxHeadBytes;
    private readonly TimeSpan _firstByteTimeout;
    private readonly TimeSpan _headTimeout;

    public LeanWebSocketMiddleware(ConnectionDelegate next, IServiceProvider services)
    {
        _next = next;
        _gateway = services.GetRequiredService<Gateway>();
        _time = services.GetRequiredService<TimeProvider>();
        _logger = services.GetRequiredService<ILogger<LeanWebSocketMiddleware>>();
        // Kestrel's own limits for a request head, so the peek holds no more and waits no longer than Kestrel would.
        var limits = services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;
        _maxHeadBytes = limits.MaxRequestLineSize + limits.MaxRequestHeadersTotalSize;
        _firstByteTimeout = limits.KeepAliveTimeout;
        _headTimeout = limits.RequestHeadersTimeout;
    }

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var (request, closed) = await PeekAsync(connection);
        if (closed)
        {
            return; // timed out: answered (or not) and closed, as Kestrel would
        }

        if (request is null)
        {
            await _next(connection);
            return;
        }

        var scheme = connection.Features.Get<ITlsHandshakeFeature>() is null ? "http" : "https";
        Caller? admitted;
        try
        {
            admitted = await _gateway.AdmitAsync(request, scheme, connection.ConnectionClosed);
        }
        catch (OperationCanceledException)
        {
            return; // the client went away while its token was checked
        }
        catch (Exception e)
        {
            // The session store failing, say: the stock endpoint meets the same trouble and answers it as it does.
            LogAdmissionFailed(_logger, e, connection.ConnectionId);
            admitted = null;
        }

        if (admitted is not { } caller)
        {
            await _next(connection); // refused: the stock endpoint gives the refusal, from the untouched bytes
            return;
        }

        // The connection's whole life runs in this one method (one state machine parked per idle socket, with the
        // receive loop's): what the upgrade needed is dropped once it is answered.
        var opened = _time.GetTimestamp();
        LeanWebSocketConnection? lean = null;
        WebSocketCloseStatus? clientClose = null;
        var span = Gateway.StartUpgradeSpan(request);
        try
        {
            if (!await AcceptAsync(connection, request))
            {
                return;
            }

            request = null;
            lean = new LeanWebSocketConnection(connection, _gateway.Shared, caller.UserId, caller.SessionId);
            var session = await _gateway.OpenAsync(lean, caller, span?.Context ?? default, "lean", connection.ConnectionClosed);
            clientClose = await lean.ReceiveAsync(session, _gateway.Dispatcher, connection.ConnectionClosed);
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException or OperationCanceledException)
        {
            // The client went away.
        }
        finally
        {
            if (lean is not null)
            {
                await _gateway.CloseAsync(lean, caller, clientClose, opened);
            }

            span?.Dispose();
            _gateway.Release(caller);
        }
    }

    /// <summary>
    /// Reads until the head of the first request is complete (or is surely not a lean upgrade), consuming nothing.
    /// Null: let Kestrel have the connection. A connection that sends nothing, or too little, in Kestrel's time
    /// limits is closed (with 408 once it sent part of a head), as Kestrel would have closed it.
    /// </summary>
    private async Task<(UpgradeRequest? Request, bool Closed)> PeekAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using var timer = _time.CreateTimer(static state => ((PipeReader)state!).CancelPendingRead(), input, _firstByteTimeout, Timeout.InfiniteTimeSpan);
        var sawBytes = false;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync();
            }
            catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException or OperationCanceledException)
            {
                return (null, true);
            }

            var buffer = result.Buffer;
            var timedOut = result.IsCanceled;
            UpgradeRequest? request = null;
            var peek = buffer.IsEmpty && !result.IsCompleted && !timedOut
                ? UpgradePeek.Incomplete
                : UpgradeRequest.TryParse(buffer, _maxHeadBytes, out request);
            if (peek == UpgradePeek.Upgrade)
            {
                input.AdvanceTo(buffer.Start);
                return (request, false);
            }

            if (peek == UpgradePeek.NotLean || result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start);
                return (null, false); // Kestrel answers it (or sees the connection end) from the same bytes
            }

            if (timedOut)
            {
                input.AdvanceTo(buffer.Start);
                LogPeekTimedOut(_logger, connection.ConnectionId, buffer.Length);
                await AnswerTimeoutAsync(connection, buffer.IsEmpty);
                return (null, true);
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (!sawBytes && !buffer.IsEmpty)
            {
                sawBytes = true;
                timer.Change(_headTimeout, Timeout.InfiniteTimeSpan); // as Kestrel: the head must be complete this long after it started
            }
        }
    }

    private static async Task AnswerTimeoutAsync(ConnectionContext connection, bool silent)
    {
        if (!silent)
        {
            await connection.Transport.Output.WriteAsync("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
        }

        await connection.Transport.Output.CompleteAsync();
    }

    /// <summary>The 101 answer (no subprotocol, no extension: none is offered, as on the stock path).</summary>
    internal static async ValueTask<bool> AcceptAsync(ConnectionContext connection, UpgradeRequest request)
    {
        var input = connection.Transport.Input;
        var result = await input.ReadAsync();
        if (result.Buffer.Length < request.HeadLength)
        {
            input.AdvanceTo(result.Buffer.Start);
            return false;
        }

        input.AdvanceTo(result.Buffer.GetPosition(request.HeadLength));
        var response = Encoding.ASCII.GetBytes(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "
            + UpgradeRequest.AcceptKey(request.Key) + "\r\n\r\n");
        var flushed = await connection.Transport.Output.WriteAsync(response);
        return !flushed.IsCompleted && !flushed.IsCanceled;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connection {ConnectionId}: the lean upgrade's admission failed; the stock endpoint answers it")]
    private static partial void LogAdmissionFailed(ILogger logger, Exception exception, string connectionId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection {ConnectionId} sent no complete request head in time ({Bytes} bytes); closed")]
    private static partial void LogPeekTimedOut(ILogger logger, string connectionId, long bytes);
}

/// <summary>Wiring of the lean path into Kestrel.</summary>
public static class LeanWebSockets
{
    /// <summary>Puts <see cref="LeanWebSocketMiddleware"/> in front of Kestrel's HTTP stack on every endpoint.</summary>
    public static void Use(KestrelServerOptions kestrel) =>
        kestrel.ConfigureEndpointDefaults(listen =>
        {
            listen.Use(next =>
            {
                LeanWebSocketMiddleware? middleware = null;
                // Resolved on the first connection: the application's services are not built when endpoints are configured.
                return connection => (middleware ??= new LeanWebSocketMiddleware(next, listen.ApplicationServices)).OnConnectionAsync(connection);
            });
        });
}
