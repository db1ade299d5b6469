namespace Parley.Bench;

/// <summary>One phase's figures (one JSON line per phase run; nulls are left out of the table).</summary>
public sealed class PhaseResult
{
    public string Phase { get; set; } = "";

    public string Provider { get; set; } = "";

    /// <summary>How many server nodes the users were spread over, and how (<c>cross</c>: a pair's users never on one node).</summary>
    public int Nodes { get; set; } = 1;

    public string? Placement { get; set; }

    /// <summary>Each node's CPU seconds in the measured window (several nodes only), in the order of --server.</summary>
    public double[]? NodeCpuSeconds { get; set; }

    /// <summary>connect on several nodes: each node's open connections and RSS per connection.</summary>
    public int[]? NodeConnections { get; set; }

    public double[]? NodeRssPerConnectionKiB { get; set; }

    /// <summary>failover: the killed node's devices, and seconds from the kill until the last was back and caught up.</summary>
    public int? FailoverClients { get; set; }

    public double? FailoverBackSeconds { get; set; }

    public double? FailoverCaughtUpSeconds { get; set; }

    public double? FailoverCaughtUpP50Seconds { get; set; }

    public int Users { get; set; }

    public int? InFlight { get; set; }

    public double Seconds { get; set; }

    public long Sent { get; set; }

    public long Delivered { get; set; }

    public double? DeliveredPerSecond { get; set; }

    public double? LatencyP50Ms { get; set; }

    public double? LatencyP90Ms { get; set; }

    public double? LatencyP99Ms { get; set; }

    public double? LatencyMaxMs { get; set; }

    public long Lost { get; set; }

    public long Duplicated { get; set; }

    public long Errors { get; set; }

    public double? ServerCpuSeconds { get; set; }

    public double ToolCpuSeconds { get; set; }

    public double? MessagesPerServerCpuSecond { get; set; }

    /// <summary>Server managed allocations in the measured window per delivered message.</summary>
    public double? ServerAllocatedBytesPerMessage { get; set; }

    /// <summary>Server garbage collections (all generations) in the measured window.</summary>
    public double? ServerGcCollections { get; set; }

    public long? ServerRssBeforeBytes { get; set; }

    public long? ServerRssAfterBytes { get; set; }

    public double? RssPerConnectionKiB { get; set; }

    public double? ConnectPerSecond { get; set; }

    /// <summary>login: successful logins in the measured window, and per second.</summary>
    public long? Logins { get; set; }

    public double? LoginsPerSecond { get; set; }

    /// <summary>login: 503 unavailable answers (no password-hash slot in time) in the measured window.</summary>
    public long? Unavailable { get; set; }

    /// <summary>login: the server's peak RSS (VmHWM) over the phase.</summary>
    public long? ServerPeakRssBytes { get; set; }

    public string? Note { get; set; }
}

/// <summary>Latency samples in Stopwatch ticks; percentiles in milliseconds.</summary>
public sealed class Latencies
{
    private readonly List<long> _samples = [];
    private readonly Lock _lock = new();

    public void Add(long ticks)
    {
        lock (_lock)
        {
            _samples.Add(ticks);
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _samples.Count;
            }
        }
    }

    public (double P50, double P90, double P99, double Max)? Percentiles()
    {
        long[] sorted;
        lock (_lock)
        {
            if (_samples.Count == 0)
            {
                return null;
            }

            sorted = [.. _samples];
        }

        Array.Sort(sorted);
        double Ms(long ticks) => ticks * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
        double At(double q) => Ms(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)]);
        return (At(0.50), At(0.90), At(0.99), Ms(sorted[^1]));
    }
}
