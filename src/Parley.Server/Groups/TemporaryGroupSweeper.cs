using Microsoft.Extensions.Options;
using Parley.Server.Operations;
using Parley.Storage.Groups;

namespace Parley.Server.Groups;

/// <summary>Deletes temporary groups whose idle time has run out, and tells their members (group.dissolved).</summary>
public sealed partial class TemporaryGroupSweeper(GroupStore store, GroupService groups, TimeProvider time, IOptions<GroupOptions> options, ILogger<TemporaryGroupSweeper> logger, WorkerLeadership? leadership = null)
    : PeriodicWorker(TimeSpan.FromSeconds(Math.Max(1, options.Value.SweepIntervalSeconds)), time, logger, leadership)
{
    private const int Batch = 100;

    /// <summary>One pass; returns how many groups were deleted.</summary>
    public async Task<int> SweepOnceAsync(CancellationToken cancellationToken = default)
    {
        var deleted = 0;
        while (true)
        {
            var expired = await store.ListExpiredAsync(Time.GetUtcNow().ToUnixTimeMilliseconds(), Batch, cancellationToken);
            var deletedThisBatch = 0;
            foreach (var groupId in expired)
            {
                // Re-checked under the group's lock: a message may have extended it meanwhile.
                if (await groups.ExpireAsync(groupId, cancellationToken))
                {
                    deletedThisBatch++;
                }
            }

            deleted += deletedThisBatch;
            if (expired.Count < Batch || deletedThisBatch == 0)
            {
                if (deleted > 0)
                {
                    LogSwept(Logger, deleted);
                }

                return deleted;
            }
        }
    }

    public override Task RunOnceAsync(CancellationToken cancellationToken) => SweepOnceAsync(cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} expired temporary groups")]
    private static partial void LogSwept(ILogger logger, int count);
}
