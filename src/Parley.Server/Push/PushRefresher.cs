using Microsoft.Extensions.Options;
using Parley.Storage.Push;

namespace Parley.Server.Push;

/// <summary>
/// Keeps <see cref="PushTargets"/> in step with the database: loaded before the server takes traffic, then reloaded
/// every Push:RefreshSeconds (targets registered on other nodes of a cluster; deleted ones); once a minute, while
/// any user has a target, it first deletes the targets of revoked sessions and of sessions whose refresh tokens all
/// expired (a target goes with its session; the queries skip them meanwhile). With no target anywhere a turn is one
/// read: nothing takes SQLite's write lock beside the message writer.
/// </summary>
public sealed partial class PushRefresher(PushStore store, PushTargets targets, IOptions<PushOptions> options, TimeProvider time, ILogger<PushRefresher> logger) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await RunOnceAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFailed(logger, e); // the next turn tries again; meanwhile the set may miss someone
        }

        await base.StartAsync(cancellationToken);
    }

    private const long SweepEveryMs = 60_000;
    private long _nextSweepAt;

    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (targets.Any && now >= _nextSweepAt)
        {
            _nextSweepAt = now + SweepEveryMs;
            var swept = await store.SweepAsync(now, cancellationToken);
            if (swept > 0)
            {
                LogSwept(logger, swept);
            }
        }

        await targets.ReloadAsync(() => store.UsersAsync(cancellationToken));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.RefreshSeconds), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await RunOnceAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // shutting down
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reloading the push targets failed; retrying at the next turn")]
    private static partial void LogFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Deleted {Count} push targets of revoked or expired sessions")]
    private static partial void LogSwept(ILogger logger, int count);
}
