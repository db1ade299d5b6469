using Parley.Server.Operations;
using Parley.Storage.Accounts;

namespace Parley.Server.Accounts;

/// <summary>Deletes refresh-token rows past their expiry once an hour; they can neither rotate nor prove reuse.</summary>
public sealed partial class SessionSweeper(SessionStore sessions, TimeProvider time, ILogger<SessionSweeper> logger, WorkerLeadership? leadership = null)
    : PeriodicWorker(TimeSpan.FromHours(1), time, logger, leadership)
{
    public override async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        var deleted = await sessions.DeleteExpiredTokensAsync(Time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);
        LogSwept(Logger, deleted);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Deleted {Count} expired refresh tokens")]
    private static partial void LogSwept(ILogger logger, int count);
}
