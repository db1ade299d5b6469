namespace Parley.Server.Cluster;

/// <summary>
/// The <c>Cluster:</c> settings (CONTRACT.md, "Cluster mode"). An empty <see cref="Redis"/> (the default) is one
/// node and no Redis: nothing of the cluster runs.
/// </summary>
public sealed class ClusterOptions
{
    public const string Section = "Cluster";

    /// <summary>A StackExchange.Redis configuration string (<c>host:port,password=...</c>); empty means one node.</summary>
    public string Redis { get; set; } = "";

    /// <summary>0-1023, distinct per node: the node bits of generated ids.</summary>
    public int NodeId { get; set; }

    /// <summary>Addresses whose <c>X-Forwarded-For</c> is believed (a load balancer's); none by default.</summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary>The start of every bus channel name; distinct per deployment sharing one Redis.</summary>
    public string ChannelPrefix { get; set; } = "parley";

    /// <summary>How often the node publishes a canary on its own bus channel (milliseconds).</summary>
    public int CanaryIntervalMs { get; set; } = 1000;

    /// <summary>Canaries missed in a row after which the subscription is taken as stopped: resubscribe and resync.</summary>
    public int CanaryMisses { get; set; } = 3;

    /// <summary>Payloads queued for the bus at most; past it they are dropped and their conversations announced as moved.</summary>
    public int PublishQueueLimit { get; set; } = 100_000;

    public bool Enabled => !string.IsNullOrWhiteSpace(Redis);

    /// <summary>Refuses what cannot run (at startup, with a message that names the setting).</summary>
    public void Validate(string storageProvider)
    {
        if (NodeId is < 0 or > 1023)
        {
            throw new InvalidOperationException($"Cluster:NodeId must be 0-1023 (got {NodeId}).");
        }

        if (string.IsNullOrWhiteSpace(ChannelPrefix) || ChannelPrefix.Length > 64 || ChannelPrefix.Any(char.IsWhiteSpace))
        {
            throw new InvalidOperationException("Cluster:ChannelPrefix must be 1-64 characters without spaces.");
        }

        if (CanaryIntervalMs is < 10 or > 60_000 || CanaryMisses is < 1 or > 100 || PublishQueueLimit < 1)
        {
            throw new InvalidOperationException(
                $"Cluster:CanaryIntervalMs must be 10-60000 (got {CanaryIntervalMs}), Cluster:CanaryMisses 1-100 (got {CanaryMisses}), Cluster:PublishQueueLimit at least 1 (got {PublishQueueLimit}).");
        }

        if (Enabled && !string.Equals(storageProvider, "postgres", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                "Cluster mode (Cluster:Redis is set) needs Storage:Provider=postgres: every node must share one database. " +
                "Unset Cluster:Redis to run one node on the embedded SQLite store.");
        }
    }
}
