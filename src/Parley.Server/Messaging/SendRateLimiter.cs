using Microsoft.Extensions.Options;
using Parley.Server.Http;

namespace Parley.Server.Messaging;

/// <summary>
/// A token bucket per user: <c>SendRatePerSecond</c> sustained, <c>SendBurst</c> at once. Shared by HTTP and
/// WebSocket sends so neither is a way around the other.
/// </summary>
public sealed class SendRateLimiter(IOptions<MessagingOptions> options, TimeProvider time) : IDisposable
{
    private readonly TokenBuckets _buckets = new(options.Value.SendRatePerSecond, options.Value.SendBurst, time);

    /// <summary>Takes one send from the user's bucket; false when it is empty.</summary>
    public bool TryTake(long userId) => _buckets.TryTake(userId, out _);

    public void Dispose() => _buckets.Dispose();
}
