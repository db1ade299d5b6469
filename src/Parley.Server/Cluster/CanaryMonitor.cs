namespace Parley.Server.Cluster;

/// <summary>
/// Decides from canaries whether the node's subscriptions still deliver (pure logic; the bus ticks it once per
/// <c>Cluster:CanaryIntervalMs</c>). Each tick sends the next-numbered canary to the node's own channel; a tick that
/// finds the previous one not come back counts a miss; <see cref="ClusterOptions.CanaryMisses"/> misses in a row mean
/// the subscription silently stopped (a known StackExchange.Redis and Centrifugo failure after failovers), and again
/// every as many ticks while it stays so. Thread-safe: ticks and returns come from different threads.
/// </summary>
public sealed class CanaryMonitor(int maxMisses)
{
    private readonly object _lock = new();
    private long _sent;
    private long _returned;
    private int _misses;

    /// <summary>Misses in a row so far.</summary>
    public int Misses
    {
        get
        {
            lock (_lock)
            {
                return _misses;
            }
        }
    }

    /// <summary>One interval passed: the number of the canary to send now, and whether the subscription is to be taken as stopped.</summary>
    public (long Number, bool Stopped) Tick()
    {
        lock (_lock)
        {
            _misses = _sent > _returned ? _misses + 1 : 0;
            _sent++;
            return (_sent, _misses > 0 && _misses % maxMisses == 0);
        }
    }

    /// <summary>A canary came back; true when it is the latest one sent (the subscription delivers now).</summary>
    public bool Returned(long number)
    {
        lock (_lock)
        {
            if (number > _returned && number <= _sent)
            {
                _returned = number;
            }

            if (_returned == _sent)
            {
                _misses = 0;
                return true;
            }

            return false;
        }
    }
}
