using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Parley.Server.Http;

namespace Parley.Server.Groups;

/// <summary>
/// Slows the enumeration of ids: a token bucket per user of lookups that found nothing (a group or conversation
/// id answered 404, a wrong invite code), <c>Groups:LookupMissesPerMinute</c> sustained and
/// <c>Groups:LookupMissBurst</c> at once. Beyond it those answers are 429 <c>rate_limited</c> with Retry-After, so
/// an exhausted caller cannot tell a missing id from a private one either. Answers a caller is entitled to (their
/// own groups and conversations) are never refused. Memory: one bucket per user who missed recently; a bucket
/// that is full again is dropped by a timer, so the table holds only users who missed within the last
/// burst / rate minutes.
/// </summary>
public sealed class LookupThrottle : IDisposable
{
    private readonly ConcurrentDictionary<long, Bucket> _buckets = new();
    private readonly double _ratePerSecond;
    private readonly double _burst;
    private readonly TimeProvider _time;
    private readonly ITimer _purge;

    public LookupThrottle(IOptions<GroupOptions> options, TimeProvider time)
    {
        _ratePerSecond = Math.Max(0.001, options.Value.LookupMissesPerMinute / 60.0);
        _burst = Math.Max(1, options.Value.LookupMissBurst);
        _time = time;
        _purge = time.CreateTimer(_ => Purge(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    /// <summary>Counts a miss by <paramref name="userId"/>: the 404 while the user has misses left, else a 429.</summary>
    public Refusal Miss(long userId, Refusal notFound)
    {
        var now = _time.GetTimestamp();
        var bucket = _buckets.GetOrAdd(userId, static (_, state) => new Bucket(state.burst, state.now), (burst: _burst, now));
        lock (bucket)
        {
            bucket.Refill(now, _ratePerSecond, _burst, _time);
            if (bucket.Tokens < 1)
            {
                return Limited(bucket.Tokens);
            }

            bucket.Tokens -= 1;
            return notFound;
        }
    }

    /// <summary>The 429 to answer before a lookup whose success would itself tell something (an invite code), or null
    /// while the user has misses left.</summary>
    public Refusal? Exhausted(long userId)
    {
        if (!_buckets.TryGetValue(userId, out var bucket))
        {
            return null;
        }

        lock (bucket)
        {
            bucket.Refill(_time.GetTimestamp(), _ratePerSecond, _burst, _time);
            return bucket.Tokens < 1 ? Limited(bucket.Tokens) : null;
        }
    }

    public void Dispose() => _purge.Dispose();

    private Refusal Limited(double tokens) =>
        new(429, ErrorCodes.RateLimited, "Too many lookups of groups or conversations that do not exist; slow down.")
        {
            RetryAfterSeconds = Math.Max(1, (int)Math.Ceiling((1 - tokens) / _ratePerSecond)),
        };

    private void Purge()
    {
        var now = _time.GetTimestamp();
        foreach (var (userId, bucket) in _buckets)
        {
            lock (bucket)
            {
                bucket.Refill(now, _ratePerSecond, _burst, _time);
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
