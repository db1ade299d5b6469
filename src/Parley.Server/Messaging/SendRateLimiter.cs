using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Parley.Server.Messaging;

/// <summary>
/// A token bucket per user: <c>SendRatePerSecond</c> sustained, <c>SendBurst</c> at once. Shared by HTTP and
/// WebSocket sends so neither is a way around the other.
/// </summary>
public sealed class SendRateLimiter : IDisposable
{
    private readonly ConcurrentDictionary<long, Bucket> _buckets = new();
    private readonly double _rate;
    private readonly double _burst;
    private readonly TimeProvider _time;
    private readonly ITimer _purge;

    public SendRateLimiter(IOptions<MessagingOptions> options, TimeProvider time)
    {
        _rate = Math.Max(0.001, options.Value.SendRatePerSecond);
        _burst = Math.Max(1, options.Value.SendBurst);
        _time = time;
        _purge = time.CreateTimer(_ => Purge(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    /// <summary>Takes one send from the user's bucket; false when it is empty.</summary>
    public bool TryTake(long userId)
    {
        var now = _time.GetTimestamp();
        var bucket = _buckets.GetOrAdd(userId, static (_, state) => new Bucket(state.burst, state.now), (burst: _burst, now));
        lock (bucket)
        {
            bucket.Refill(now, _rate, _burst, _time);
            if (bucket.Tokens < 1)
            {
                return false;
            }

            bucket.Tokens -= 1;
            return true;
        }
    }

    public void Dispose() => _purge.Dispose();

    private void Purge()
    {
        var now = _time.GetTimestamp();
        foreach (var (userId, bucket) in _buckets)
        {
            lock (bucket)
            {
                bucket.Refill(now, _rate, _burst, _time);
                if (bucket.Tokens >= _burst)
                {
                    _buckets.TryRemove(new KeyValuePair<long, Bucket>(userId, bucket)); // full again: forget it
                }
            }
        }
    }

    private sealed class Bucket(double tokens, long stamp)
    {
        public double Tokens = tokens;
        private long _stamp = stamp;

        public void Refill(long now, double rate, double burst, TimeProvider time)
        {
            Tokens = Math.Min(burst, Tokens + (time.GetElapsedTime(_stamp, now).TotalSeconds * rate));
            _stamp = now;
        }
    }
}
