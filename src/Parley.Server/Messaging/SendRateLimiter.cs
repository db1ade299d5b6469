using Microsoft.Extensions.Options;
using Parley.Server.Cluster;
using Parley.Server.Http;

namespace Parley.Server.Messaging;

/// <summary>
/// A token bucket per user: <c>SendRatePerSecond</c> sustained, <c>SendBurst</c> at once. Shared by HTTP and
/// WebSocket sends so neither is a way around the other. In cluster mode the bucket is shared by every node
/// (<see cref="SharedTokenLeases"/>, leased a few tokens at a time); the local bucket then only serves while Redis
/// does not answer (limits fail open to per node). One node: the local bucket alone, as ever.
/// </summary>
public sealed class SendRateLimiter : IDisposable
{
    private readonly TokenBuckets _buckets;
    private readonly SharedTokenLeases? _shared;

    public SendRateLimiter(IOptions<MessagingOptions> options, TimeProvider time, ClusterOptions? cluster = null, SharedLimits? shared = null)
    {
        _buckets = new TokenBuckets(options.Value.SendRatePerSecond, options.Value.SendBurst, time);
        if (shared is not null)
        {
            _shared = new SharedTokenLeases(shared, "send:", options.Value.SendRatePerSecond, options.Value.SendBurst, cluster?.RateLeaseTokens ?? 1, time);
        }
    }

    /// <summary>Takes one send from the user's bucket; false when it is empty.</summary>
    public ValueTask<bool> TryTakeAsync(long userId)
    {
        if (_shared is null)
        {
            return new ValueTask<bool>(_buckets.TryTake(userId, out _));
        }

        var shared = _shared.TryTakeAsync(userId);
        return shared.IsCompletedSuccessfully && shared.Result is { } taken ? new ValueTask<bool>(taken) : SharedAsync(shared, userId);
    }

    private async ValueTask<bool> SharedAsync(ValueTask<bool?> shared, long userId) =>
        await shared ?? _buckets.TryTake(userId, out _);

    public void Dispose()
    {
        _buckets.Dispose();
        _shared?.Dispose();
    }
}
