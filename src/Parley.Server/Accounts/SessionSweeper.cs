using Parley.Storage.Accounts;

namespace Parley.Server.Accounts;

/// <summary>Deletes refresh-token rows past their expiry once an hour; they can neither rotate nor prove reuse.</summary>
public sealed partial class SessionSweeper(SessionStore sessions, TimeProvider time, ILogger<SessionSweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    var deleted = await sessions.DeleteExpiredTokensAsync(time.GetUtcNow().ToUnixTimeMilliseconds(), stoppingToken);
                    LogSwept(logger, deleted);
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Deleted {Count} expired refresh tokens")]
    private static partial void LogSwept(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refresh-token sweep failed")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
