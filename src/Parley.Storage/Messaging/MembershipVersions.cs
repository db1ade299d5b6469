namespace Parley.Storage.Messaging;

/// <summary>
/// Tells caches of conversation membership when to reload: every committed change of a conversation's members
/// moves its version (striped: conversations share 4096 counters, so memory stays bounded and a change reloads
/// at most a few unrelated conversations). A cache records the version it read before loading, and an entry is
/// good while the version is unchanged. In-process: a cluster must broadcast these bumps between nodes.
/// </summary>
public sealed class MembershipVersions
{
    private const int Stripes = 4096;
    private readonly long[] _versions = new long[Stripes];

    public long Current(long conversationId) => Volatile.Read(ref _versions[Stripe(conversationId)]);

    /// <summary>Call after the change has committed.</summary>
    public void Bump(long conversationId) => Interlocked.Increment(ref _versions[Stripe(conversationId)]);

    private static int Stripe(long conversationId) => (int)((ulong)conversationId * 0x9E3779B97F4A7C15UL >> 52);
}
