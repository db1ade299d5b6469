using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace Parley.Server.Xmpp;

/// <summary>
/// The c2s listener on <c>Xmpp:Port</c>: Kestrel's own socket transport (<see cref="IConnectionListenerFactory"/>,
/// the pipes every HTTP connection gets) bound to a port of its own, each accepted connection handed to the
/// <see cref="XmppStreamHandler"/>. It is bound beside Kestrel's HTTP endpoints rather than as one of them:
/// a <c>Listen()</c> in <c>ConfigureKestrel</c> would make Kestrel drop the <c>--urls</c> endpoints (it prefers
/// code-configured ones), and the lean WebSocket middleware is added to every Kestrel endpoint by default.
/// </summary>
public sealed partial class XmppListener(IConnectionListenerFactory factory, XmppStreamHandler handler, IOptions<XmppOptions> options, ILogger<XmppListener> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, (ConnectionContext Context, Task Task)> _open = new();
    private IConnectionListener? _listener;

    /// <summary>Where it listens (the bound port), once started; null while off.</summary>
    public EndPoint? EndPoint => _listener?.EndPoint;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (settings.Enabled)
        {
            _listener = await factory.BindAsync(new IPEndPoint(IPAddress.Parse(settings.BindAddress), settings.Port), cancellationToken);
            LogListening(logger, _listener.EndPoint.ToString() ?? "", settings.Domain, settings.AllowPlaintext);
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_listener is not { } listener)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            ConnectionContext? connection;
            try
            {
                connection = await listener.AcceptAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (connection is null)
            {
                break; // unbound
            }

            _open[connection.ConnectionId] = (connection, RunAsync(connection));
        }
    }

    private async Task RunAsync(ConnectionContext connection)
    {
        await Task.Yield(); // off the accept loop
        try
        {
            await handler.OnConnectedAsync(connection);
        }
        catch (Exception e)
        {
            LogConnectionFailed(logger, e, connection.ConnectionId);
        }
        finally
        {
            _open.TryRemove(connection.ConnectionId, out _);
            await connection.DisposeAsync();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is { } listener)
        {
            await listener.UnbindAsync(cancellationToken);
        }

        await base.StopAsync(cancellationToken);
        // Bound streams were told (system-shutdown) by the shutdown drain; what is left (mid-negotiation) is cut.
        var waiting = _open.Values.Select(o => o.Task).ToArray();
        try
        {
            await Task.WhenAll(waiting).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            foreach (var (context, _) in _open.Values)
            {
                context.Abort();
            }
        }

        if (_listener is { } bound)
        {
            await bound.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "XMPP c2s listening on {EndPoint} for domain {Domain} (plaintext allowed: {Plaintext})")]
    private static partial void LogListening(ILogger logger, string endPoint, string domain, bool plaintext);

    [LoggerMessage(Level = LogLevel.Error, Message = "XMPP connection {ConnectionId} failed")]
    private static partial void LogConnectionFailed(ILogger logger, Exception exception, string connectionId);
}
