using System.Collections.Concurrent;

namespace Parley.Server.Http;

/// <summary>
/// A token bucket per user: <c>rate</c> tokens a second sustained, <c>burst</c> at once. Memory: one bucket per user
/// who took a token recently; a bucket that is full again is dropped by a timer, as if never seen.
/// </summary>
public sealed class TokenBuckets : IDisposable
{
    private readonly ConcurrentDictionary<long, Bucket> _buckets = new();
    private readonly TimeProvider _time;
    private readonly ITimer _purge;

    public TokenBuckets(double ratePerSecond, double burst, TimeProvider time)
    {
        RatePerSecond = Math.Max(0.001, ratePerSecond);
        Burst = Math.Max(1, burst);
        _time = time;
        _purge = time.CreateTimer(_ => Purge(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    public double RatePerSecond { get; }

    public double Burst { get; }

    /// <summary>Takes a token from the user's bucket; false (with what is left, under one) when it is empty.</summary>
    public bool TryTake(long userId, out double left)
    {
        var now = _time.GetTimestamp();
        var bucket = _buckets.GetOrAdd(userId, static (_, state) => new Bucket(state.Burst, state.now), (Burst, now));
        lock (bucket)
        {
            bucket.Refill(now, RatePerSecond, Burst, _time);
            left = bucket.Tokens;
            if (bucket.Tokens < 1)
            {
                return false;
            }

            bucket.Tokens -= 1;
            return true;
        }
    }

    /// <summary>The tokens the user has now, without taking one (a user never seen has a full bucket).</summary>
    public double Peek(long userId)
    {
        if (!_buckets.TryGetValue(userId, out var bucket))
        {
            return Burst;
        }

        lock (bucket)
        {
            bucket.Refill(_time.GetTimestamp(), RatePerSecond, Burst, _time);
            return bucket.Tokens;
        }
    }

    /// <summary>Whole seconds until a bucket holding <paramref name="tokens"/> has one again (at least 1).</summary>
    public int SecondsUntilToken(double tokens) => Math.Max(1, (int)Math.Ceiling((1 - tokens) / RatePerSecond));

    public void Dispose() => _purge.Dispose();

    private void Purge()
    {
        var now = _time.GetTimestamp();
        foreach (var (userId, bucket) in _buckets)
        {
            lock (bucket)
            {
                bucket.Refill(now, RatePerSecond, Burst, _time);
                if (bucket.Tokens >= Burst)
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
