using Microsoft.Extensions.Options;
using Parley.Server.Operations;
using Parley.Storage.Messaging;

namespace Parley.Server.Messaging;

/// <summary>Deletes messages older than <c>Messaging:RetentionDays</c>; with 0 (the default) messages are kept forever.</summary>
public sealed partial class RetentionSweeper(MessageStore messages, IOptions<MessagingOptions> options, TimeProvider time, ILogger<RetentionSweeper> logger, WorkerLeadership? leadership = null)
    : PeriodicWorker(TimeSpan.FromMinutes(10), time, logger, leadership)
{
    private const int Batch = 5_000;

    /// <summary>One pass; returns how many messages were deleted.</summary>
    public async Task<int> SweepOnceAsync(CancellationToken cancellationToken = default)
    {
        var days = options.Value.RetentionDays;
        if (days <= 0)
        {
            return 0;
        }

        var cutoff = (Time.GetUtcNow() - TimeSpan.FromDays(days)).ToUnixTimeMilliseconds();
        var total = 0;
        int deleted;
        do
        {
            deleted = await messages.DeleteSentBeforeAsync(cutoff, Batch, cancellationToken);
            total += deleted;
        }
        while (deleted == Batch);

        if (total > 0)
        {
            LogDeleted(Logger, total, days);
        }

        return total;
    }

    public override Task RunOnceAsync(CancellationToken cancellationToken) => SweepOnceAsync(cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention: deleted {Count} messages older than {Days} days")]
    private static partial void LogDeleted(ILogger logger, int count, int days);
}
