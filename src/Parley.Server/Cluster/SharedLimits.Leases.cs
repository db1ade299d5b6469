using System.Collections.Concurrent;

namespace Parley.Server.Cluster;

/// <summary>
/// A per-user token bucket shared by every node, for the hot send path: each node takes a lease of up to
/// <see cref="LeaseTokens"/> tokens from the shared bucket in one round trip and spends it locally, and tops the lease
/// up in the background once half of it is spent, so a user's steady sending neither costs one Redis script per message
/// nor waits for one (only a user's first send, or one after a pause past <see cref="LeaseLifetime"/>, waits). Tokens
/// are only ever taken from the shared bucket, never made up locally; what a node holds unspent is at most a lease, so
/// across nodes a user can send at most one lease per node beyond the bucket (and a lease stranded on a node the user
/// stopped using makes the limit stricter by as much, until it is dropped after <see cref="LeaseLifetime"/>).
/// An empty shared bucket is remembered for the time one token takes to come back, so a user hammering a refusal does
/// not hammer Redis. Null from <see cref="TryTakeAsync"/>: Redis did not answer; the caller uses its local bucket.
/// </summary>
public sealed class SharedTokenLeases : IDisposable
{
    public static readonly TimeSpan LeaseLifetime = TimeSpan.FromSeconds(10);

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

    /// <summary>Whether a background top-up of the user's lease is under way (tests).</summary>
    internal bool ToppingUp(long userId)
    {
        if (!_leases.TryGetValue(userId, out var lease))
        {
            return false;
        }

        lock (lease)
        {
            return lease.ToppingUp;
        }
    }

    /// <summary>True: a token was taken; false: the shared bucket is empty; null: Redis did not answer.</summary>
    public ValueTask<bool?> TryTakeAsync(long userId)
    {
        var now = _time.GetTimestamp();
        var lease = _leases.GetOrAdd(userId, static _ => new Lease());
        var topUp = 0;
        lock (lease)
        {
            if (now >= lease.Until || lease.Tokens == 0)
            {
                return now < lease.EmptyUntil ? new ValueTask<bool?>(false) : RefillAsync(userId, lease, now);
            }

            lease.Tokens--;
            if (lease.Tokens <= LeaseTokens / 2 && !lease.ToppingUp && now >= lease.EmptyUntil)
            {
                lease.ToppingUp = true;
                topUp = LeaseTokens - lease.Tokens;
            }
        }

        if (topUp > 0)
        {
            _ = TopUpAsync(userId, lease, topUp, now);
        }

        return new ValueTask<bool?>(true);
    }

    private async ValueTask<bool?> RefillAsync(long userId, Lease lease, long now)
    {
        var got = await TakeSharedAsync(userId, LeaseTokens);
        if (got is not { } tokens)
        {
            return null;
        }

        lock (lease)
        {
            if (tokens == 0)
            {
                lease.EmptyUntil = now + _emptyFor;
                return false;
            }

            Add(lease, tokens - 1, now);
            return true;
        }
    }

    /// <summary>Half the lease is spent: the next part is taken before it is needed (a send never waits for it).</summary>
    private async Task TopUpAsync(long userId, Lease lease, int count, long now)
    {
        int? got = null;
        try
        {
            got = await TakeSharedAsync(userId, count);
        }
        finally
        {
            lock (lease)
            {
                lease.ToppingUp = false;
                if (got == 0)
                {
                    lease.EmptyUntil = now + _emptyFor; // what is left of the lease is still the user's to spend
                }
                else if (got is { } tokens)
                {
                    Add(lease, tokens, now);
                }
            }
        }
    }

    private ValueTask<int?> TakeSharedAsync(long userId, int count) =>
        _shared.TakeAsync(_name + userId.ToString(System.Globalization.CultureInfo.InvariantCulture), _rate, _burst, count);

    /// <summary>Tokens taken from the shared bucket join what the lease still holds (a racing refill's too: both came out of it).</summary>
    private void Add(Lease lease, int tokens, long now)
    {
        lease.Tokens = (now < lease.Until ? lease.Tokens : 0) + tokens;
        lease.Until = now + _lifetime;
        lease.EmptyUntil = 0;
    }

    public void Dispose() => _purge.Dispose();

    private void Purge()
    {
        var now = _time.GetTimestamp();
        foreach (var (userId, lease) in _leases)
        {
            lock (lease)
            {
                if (now >= lease.Until && now >= lease.EmptyUntil && !lease.ToppingUp)
                {
                    _leases.TryRemove(new KeyValuePair<long, Lease>(userId, lease));
                }
            }
        }
    }

    private sealed class Lease
    {
        public int Tokens;
        public long Until;
        public long EmptyUntil;
        public bool ToppingUp;
    }
}
