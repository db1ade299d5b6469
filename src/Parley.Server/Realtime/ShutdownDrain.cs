namespace Parley.Server.Realtime;

/// <summary>
/// A stopping server (SIGTERM, a rolling restart) says so to every open socket: each is closed with 1001 (going
/// away) after the frames already queued for it, so clients reconnect at once (to another node in a cluster) and
/// Kestrel's drain ends as soon as they have gone, instead of waiting out its shutdown timeout for sockets that
/// never close by themselves and then cutting them off (1006 on the client). A socket opened after this (a client
/// reconnecting to the same node before it stops listening) is closed the same way.
/// </summary>
public sealed class ShutdownDrain(ConnectionRegistry connections, IHostApplicationLifetime lifetime) : IHostedService
{
    private CancellationTokenRegistration _stopping;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = lifetime.ApplicationStopping.Register(connections.CloseAllForShutdown);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Dispose();
        return Task.CompletedTask;
    }
}
