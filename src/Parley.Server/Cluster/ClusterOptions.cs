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

    /// <summary>Tokens of a user's shared send-rate bucket a node takes from Redis at once (<see cref="SharedTokenLeases"/>).</summary>
    public int RateLeaseTokens { get; set; } = 5;

    /// <summary>How long a node that stopped refreshing its liveness key still counts as alive (its users as online).</summary>
    public int NodeTimeoutSeconds { get; set; } = 5;

    /// <summary>The start of every bus channel name; distinct per deployment sharing one Redis.</summary>
    public string ChannelPrefix { get; set; } = "parley";

    /// <summary>How often the node publishes a canary on its own bus channel (milliseconds).</summary>
    public int CanaryIntervalMs { get; set; } = 1000;

    /// <summary>Canaries missed in a row after which the subscription is taken as stopped: resubscribe and resync.</summary>
    public int CanaryMisses { get; set; } = 3;

    /// <summary>Payloads queued for the bus at most; past it they are dropped and their conversations announced as moved.</summary>
    public int PublishQueueLimit { get; set; } = 100_000;

    /// <summary>
    /// Groups of at least this many members get a conversation channel: a message (recall, typing hint) is published
    /// once on it rather than once per member, and a node subscribes to it while it holds a member's connection. 0 =
    /// never (every group through its members' user channels).
    /// </summary>
    public int GroupChannelMinMembers { get; set; } = 100;

    public bool Enabled => !string.IsNullOrWhiteSpace(Redis);

    /// <summary>Refuses what cannot run (at startup, with a message that names the setting).</summary>
    public void Validate(string storageProvider)
    {
        if (NodeId is < 0 or > 1023)
        {
            throw new InvalidOperationException($"Cluster:NodeId must be 0-1023 (got {NodeId}).");
        }

        if (NodeTimeoutSeconds is < 1 or > 300)
        {
            throw new InvalidOperationException($"Cluster:NodeTimeoutSeconds must be 1-300 (got {NodeTimeoutSeconds}).");
        }

        if (RateLeaseTokens < 1)
        {
            throw new InvalidOperationException($"Cluster:RateLeaseTokens must be at least 1 (got {RateLeaseTokens}).");
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

        if (GroupChannelMinMembers is < 0 or 1 or 2 or > 1_000_000)
        {
            throw new InvalidOperationException($"Cluster:GroupChannelMinMembers must be 0 (off) or 3-1000000 (got {GroupChannelMinMembers}).");
        }

        if (Enabled && !string.Equals(storageProvider, "postgres", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                "Cluster mode (Cluster:Redis is set) needs Storage:Provider=postgres: every node must share one database. " +
                "Unset Cluster:Redis to run one node on the embedded SQLite store.");
        }
    }
}
