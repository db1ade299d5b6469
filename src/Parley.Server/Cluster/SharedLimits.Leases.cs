using System.Collections.Concurrent;

namespace Parley.Server.Cluster;

/// <summary>
/// A per-user token bucket shared by every node, for the hot send path: each node takes a lease of up to
/// <see cref="LeaseTokens"/> tokens from the shared bucket in one round trip and spends it locally, so a user's
/// steady sending costs one Redis script per <see cref="LeaseTokens"/> messages instead of one per message. A lease
/// is spent within <see cref="LeaseLifetime"/> or dropped: tokens are only ever taken from the shared bucket, never
/// made up locally, so across nodes a user never sends more than the limit (a lease stranded on a node the user
/// stopped using makes the limit stricter, by at most <see cref="LeaseTokens"/> - 1 per node for one lease lifetime).
/// An empty shared bucket is remembered for the time one token takes to come back, so a user hammering a refusal does
/// not hammer Redis. Null from <see cref="TryTakeAsync"/>: Redis did not answer; the caller uses its local bucket.
/// </summary>
public sealed class SharedTokenLeases : IDisposable
{
    public static readonly TimeSpan LeaseLifetime = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<long, Lease> _leases = new();
    private readonly SharedLimits _shared;
    private readonly string _name;
    private readonly double _rate;
    private readonly double _burst;
    private readonly TimeProvider _time;
    private readonly long _lifetime;
    private readonly long _emptyFor;
    private readonly ITimer _purge;

    public SharedTokenLeases(SharedLimits shared, string name, double ratePerSecond, double burst, int leaseTokens, TimeProvider time)
    {
        _shared = shared;
        _name = name;
        _rate = Math.Max(0.001, ratePerSecond);
        _burst = Math.Max(1, burst);
        // At most a quarter of the burst: a lease stranded on a node the user stopped using must not cost them much of it.
        LeaseTokens = Math.Clamp(leaseTokens, 1, Math.Max(1, (int)(_burst / 4)));
        _time = time;
        _lifetime = (long)(LeaseLifetime.TotalSeconds * time.TimestampFrequency);
        _emptyFor = (long)(time.TimestampFrequency / _rate);
        _purge = time.CreateTimer(_ => Purge(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    public int LeaseTokens { get; }

    /// <summary>How many users hold a lease or an "empty" mark on this node (tests).</summary>
    internal int Count => _leases.Count;

    /// <summary>True: a token was taken; false: the shared bucket is empty; null: Redis did not answer.</summary>
    public ValueTask<bool?> TryTakeAsync(long userId)
    {
        var now = _time.GetTimestamp();
        var lease = _leases.GetOrAdd(userId, static _ => new Lease());
        lock (lease)
        {
            if (now < lease.Until)
            {
                if (lease.Tokens > 0)
                {
                    lease.Tokens--;
                    return new ValueTask<bool?>(true);
                }

                if (lease.Empty)
                {
                    return new ValueTask<bool?>(false);
                }
            }
        }

        return RefillAsync(userId, lease, now);
    }

    private async ValueTask<bool?> RefillAsync(long userId, Lease lease, long now)
    {
        var got = await _shared.TakeAsync(_name + userId.ToString(System.Globalization.CultureInfo.InvariantCulture), _rate, _burst, LeaseTokens);
        if (got is not { } tokens)
        {
            return null;
        }

        lock (lease)
        {
            if (tokens == 0)
            {
                lease.Tokens = 0;
                lease.Empty = true;
                lease.Until = now + _emptyFor;
                return false;
            }

            // What another concurrent refill brought is kept too (both came out of the shared bucket).
            lease.Tokens = (now < lease.Until && !lease.Empty ? lease.Tokens : 0) + tokens - 1;
            lease.Empty = false;
            lease.Until = now + _lifetime;
            return true;
        }
    }

    public void Dispose() => _purge.Dispose();

    private void Purge()
    {
        var now = _time.GetTimestamp();
        foreach (var (userId, lease) in _leases)
        {
            lock (lease)
            {
                if (now >= lease.Until)
                {
                    _leases.TryRemove(new KeyValuePair<long, Lease>(userId, lease));
                }
            }
        }
    }

    private sealed class Lease
    {
        public int Tokens;
        public bool Empty;
        public long Until;
    }
}
