namespace Parley.Server.Accounts;

/// <summary>Settings section <c>Auth</c>.</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>Base64 HMAC-SHA256 key for access tokens (at least 32 bytes). When empty, a key is generated once
    /// and kept in DataDir/keys. Every node of a cluster needs the same key: set it explicitly there.</summary>
    public string? SigningKey { get; set; }

    public string Issuer { get; set; } = "parley";

    public int AccessTokenMinutes { get; set; } = 10;

    public int RefreshTokenDays { get; set; } = 30;

    /// <summary>Argon2id memory per password hash, in KiB (OWASP: 19456 with 2 passes).</summary>
    public int Argon2MemoryKiB { get; set; } = 19_456;

    /// <summary>Argon2id passes over that memory. libsodium always uses one lane (p = 1).</summary>
    public int Argon2Iterations { get; set; } = 2;

    /// <summary>Lets the server start with Argon2id settings below OWASP's minimum: for tests and load tools only.</summary>
    public bool AllowWeakPasswordHashes { get; set; }

    /// <summary>PBKDF2-HMAC-SHA-256 iterations of the SCRAM-SHA-256 keys stored beside the hash (XMPP SASL; RFC 7677's
    /// minimum 4096, at most 10,000,000: every client computes them too). Keys of another count are re-made at the next login.</summary>
    public int ScramIterations { get; set; } = 4096;

    /// <summary>Password hashes computed at once (each holds its memory and a core): one per core, since a hash is
    /// single-threaded CPU work and more at once would only add memory and latency.</summary>
    public int MaxConcurrentHashes { get; set; } = Environment.ProcessorCount;

    /// <summary>How long a register, login or password change waits for a hashing slot before 503 unavailable.</summary>
    public int HashQueueWaitMs { get; set; } = 2000;

    /// <summary>
    /// Failed logins of one username (from any address) within the window after which attempts from addresses this
    /// user never logged in from are slowed down: one per 1, 2, 4, ... seconds (up to LoginSlowdownMaxSeconds). Not
    /// a lockout: the owner on a known address is not slowed, and nobody is refused for good.
    /// </summary>
    public int LoginFailuresPerUsername { get; set; } = 10;

    /// <summary>Failed logins allowed per username from one client address within the window before 429 (a hard limit).</summary>
    public int LoginFailuresPerUsernameAndAddress { get; set; } = 10;

    /// <summary>The longest pause a username's growing slow-down imposes between attempts from addresses it never logged in from.</summary>
    public int LoginSlowdownMaxSeconds { get; set; } = 60;

    /// <summary>Failed logins allowed per client address within the window before 429.</summary>
    public int LoginFailuresPerAddress { get; set; } = 50;

    public int LoginFailureWindowSeconds { get; set; } = 900;

    /// <summary>New accounts allowed per client address within the registration window before 429.</summary>
    public int RegistrationsPerAddress { get; set; } = 1000;

    public int RegistrationWindowSeconds { get; set; } = 3600;

    /// <summary>How long a node trusts its cached view of a device session before asking the database again.</summary>
    public int SessionCacheSeconds { get; set; } = 30;
}
