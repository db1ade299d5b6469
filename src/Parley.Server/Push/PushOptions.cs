namespace Parley.Server.Push;

/// <summary>The <c>Push</c> settings (README, docs/push.md): offline notifications to the push targets devices register.</summary>
public sealed class PushOptions
{
    public const string Section = "Push";

    /// <summary>False: the push-target calls are 404 and nothing is ever pushed.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Whether a push carries <c>preview</c>, the first 100 characters of a text message.</summary>
    public bool Previews { get; set; }

    /// <summary>At most one push per conversation per user in this many seconds (0: one per message).</summary>
    public int CoalesceSeconds { get; set; } = 10;

    /// <summary>Hosts (names or addresses, case-insensitive) an endpoint may name with <c>http://</c>; they are trusted: the address check is skipped for them.</summary>
    public string[] AllowedInsecureHosts { get; set; } = [];

    /// <summary>Targets per user (over all their sessions); one more is 409 conflict.</summary>
    public int MaxTargetsPerUser { get; set; } = 10;

    /// <summary>The longest endpoint URL accepted.</summary>
    public int MaxEndpointLength { get; set; } = 2048;

    /// <summary>One delivery attempt's bound (connect, TLS, the answer's headers).</summary>
    public int TimeoutMs { get; set; } = 5000;

    /// <summary>Attempts of a push before it is dropped (a push is a hint: it is not kept on a failed list).</summary>
    public int MaxAttempts { get; set; } = 6;

    /// <summary>The first retry's delay; each next one doubles, up to <see cref="RetryMaxSeconds"/>, with jitter.</summary>
    public int RetryBaseMs { get; set; } = 1000;

    public int RetryMaxSeconds { get; set; } = 300;

    /// <summary>
    /// How often the set of users with targets is reloaded from the database (cluster mode: targets registered on
    /// other nodes are known here after at most this). Targets of revoked or expired sessions are deleted once a minute.
    /// </summary>
    public int RefreshSeconds { get; set; } = 10;

    /// <summary>Push candidates waiting for the writer; beyond it a candidate is dropped (counted).</summary>
    public int QueueCapacity { get; set; } = 100_000;

    /// <summary>TESTS ONLY: a port on which pushes may go to loopback (as LinkPreviews:TestLoopbackPort). 0: none.</summary>
    public int TestLoopbackPort { get; set; }

    public bool IsAllowedInsecure(string host) =>
        AllowedInsecureHosts.Any(h => string.Equals(h.Trim().TrimEnd('.'), host.TrimEnd('.'), StringComparison.OrdinalIgnoreCase));

    /// <summary>A bad setting fails the start with a clear message.</summary>
    public void Validate()
    {
        Check(CoalesceSeconds, 0, 86_400, nameof(CoalesceSeconds));
        Check(MaxTargetsPerUser, 1, 1000, nameof(MaxTargetsPerUser));
        Check(MaxEndpointLength, 32, 8192, nameof(MaxEndpointLength));
        Check(TimeoutMs, 1, 60_000, nameof(TimeoutMs));
        Check(MaxAttempts, 1, 100, nameof(MaxAttempts));
        Check(RetryBaseMs, 1, 3_600_000, nameof(RetryBaseMs));
        Check(RetryMaxSeconds, 1, 86_400, nameof(RetryMaxSeconds));
        Check(RefreshSeconds, 1, 86_400, nameof(RefreshSeconds));
        Check(QueueCapacity, 1, 10_000_000, nameof(QueueCapacity));
        Check(TestLoopbackPort, 0, 65_535, nameof(TestLoopbackPort));
    }

    private static void Check(int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            throw new InvalidOperationException($"Push:{name} must be between {min} and {max}.");
        }
    }
}
