namespace Parley.Server.Operations;

/// <summary>
/// A background job that runs <see cref="RunOnceAsync"/> every <c>interval</c> until shutdown. A failed run
/// is logged and the next one comes at its time: housekeeping must never stop the server. A worker given a
/// <see cref="WorkerLeadership"/> (cluster mode, for jobs over the shared database) runs only on the node that
/// leads; the others skip their turn and ask again at the next one.
/// </summary>
public abstract partial class PeriodicWorker(TimeSpan interval, TimeProvider time, ILogger logger, WorkerLeadership? leadership = null) : BackgroundService
{
    protected TimeProvider Time { get; } = time;

    protected ILogger Logger { get; } = logger;

    /// <summary>One pass of the job.</summary>
    public abstract Task RunOnceAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, Time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    if (leadership is not null && !await leadership.IsLeaderAsync(stoppingToken))
                    {
                        continue; // another node runs it
                    }

                    await RunOnceAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogFailed(Logger, e, GetType().Name);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // shutting down
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Worker} failed; it runs again at its next interval")]
    private static partial void LogFailed(ILogger logger, Exception exception, string worker);
}
