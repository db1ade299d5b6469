namespace Parley.Storage.Messaging;

/// <summary>
/// Tells caches of what a send checks when to reload. Every committed change of a conversation's members (joins,
/// leaves, removals, roles, mutes, the group's settings, its dissolution) moves the conversation's version; every
/// committed change between two users (friendship made or ended, a block or unblock in either direction) moves
/// the pair's version. Striped (4096 counters each), so memory stays bounded and a change reloads at most a few
/// unrelated entries. A cache records the versions it read before loading, and an entry is good while they are
/// unchanged. Bumped after the commit and before the changing request returns. Each bump is also told to
/// <see cref="Changes"/> (the server's post-commit route, the seam through which a cluster carries it to other
/// nodes, which then bump their own).
/// </summary>
public sealed class MembershipVersions
{
    private const int Stripes = 4096;
    private readonly long[] _versions = new long[Stripes];
    private readonly long[] _pairs = new long[Stripes];

    /// <summary>Told of every bump, right after it.</summary>
    public IMembershipChanges? Changes { get; set; }

    public long Current(long conversationId) => Volatile.Read(ref _versions[Stripe((ulong)conversationId)]);

    /// <summary>Call after the change has committed.</summary>
    public void Bump(long conversationId)
    {
        Interlocked.Increment(ref _versions[Stripe((ulong)conversationId)]);
        Changes?.ConversationChanged(conversationId);
    }

    /// <summary>A change committed on another node (told by the cluster bus): moves the version without telling <see cref="Changes"/> again.</summary>
    public void Invalidate(long conversationId) => Interlocked.Increment(ref _versions[Stripe((ulong)conversationId)]);

    /// <summary>A pair change committed on another node: moves the pair's version without telling <see cref="Changes"/> again.</summary>
    public void InvalidatePair(long userA, long userB) => Interlocked.Increment(ref _pairs[PairStripe(userA, userB)]);

    /// <summary>The version of what stands between two users (in either order): friendship and blocks.</summary>
    public long CurrentPair(long userA, long userB) => Volatile.Read(ref _pairs[PairStripe(userA, userB)]);

    /// <summary>Call after a friendship or block between the two has committed.</summary>
    public void BumpPair(long userA, long userB)
    {
        Interlocked.Increment(ref _pairs[PairStripe(userA, userB)]);
        Changes?.PairChanged(userA, userB);
    }

    private static int PairStripe(long a, long b)
    {
        var (low, high) = a < b ? (a, b) : (b, a);
        return Stripe(((ulong)low * 0x9E3779B97F4A7C15UL) ^ (ulong)high);
    }

    private static int Stripe(ulong key) => (int)(key * 0x9E3779B97F4A7C15UL >> 52);
}

/// <summary>What is told of each committed change that <see cref="MembershipVersions"/> records.</summary>
public interface IMembershipChanges
{
    void ConversationChanged(long conversationId);

    void PairChanged(long userA, long userB);
}
