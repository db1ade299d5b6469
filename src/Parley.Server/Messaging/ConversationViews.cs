using System.Collections.Concurrent;
using System.Collections.Frozen;
using Microsoft.Extensions.Options;
using Parley.Server.Groups;
using Parley.Storage.Messaging;

namespace Parley.Server.Messaging;

/// <summary>One member of a <see cref="ConversationView"/>: where they joined, and in a group their role and mute.</summary>
public readonly record struct ViewMember(long JoinedSeq, GroupRole? Role, long? MutedUntil);

/// <summary>
/// What the send, ack, read and typing checks and the fan-out need of one conversation, held in memory: its kind,
/// its members, and for a direct conversation the friendship and blocks between its two users. Immutable but for
/// <see cref="MaxSeq"/>, which only rises; replaced whole when a change commits (<see cref="ConversationViews"/>).
/// </summary>
public sealed class ConversationView
{
    private long _maxSeq;

    internal ConversationView(ConversationViewRow row, long version, long pairVersion)
    {
        Id = row.Id;
        IsDirect = row.Type == "direct";
        GroupId = row.GroupId;
        Hidden = row.GroupId is not null && row.Visibility is null or "private";
        Temporary = row.Temporary == 1;
        UserLow = row.UserLow ?? 0;
        UserHigh = row.UserHigh ?? 0;
        LowFriendsHigh = row.LowFriendsHigh;
        HighFriendsLow = row.HighFriendsLow;
        LowBlocksHigh = row.LowBlocksHigh;
        HighBlocksLow = row.HighBlocksLow;
        _maxSeq = row.MaxSeq;
        MembersVersion = row.MembersVersion;
        Version = version;
        PairVersion = pairVersion;
        var list = new (long UserId, long JoinedSeq)[row.Members.Count];
        var members = new Dictionary<long, ViewMember>(row.Members.Count);
        for (var i = 0; i < list.Length; i++)
        {
            var m = row.Members[i];
            list[i] = (m.UserId, m.JoinedSeq);
            members[m.UserId] = new ViewMember(m.JoinedSeq, m.Role is null ? null : GroupPolicy.FromWire(m.Role), m.MutedUntil);
        }

        MemberList = list;
        Members = members.ToFrozenDictionary();
    }

    public long Id { get; }

    public bool IsDirect { get; }

    public long? GroupId { get; }

    /// <summary>A private group's conversation: outsiders get 404, as if it did not exist.</summary>
    public bool Hidden { get; }

    /// <summary>A temporary group's: each message moves its idle expiry.</summary>
    public bool Temporary { get; }

    public long UserLow { get; }

    public long UserHigh { get; }

    public bool LowFriendsHigh { get; }

    public bool HighFriendsLow { get; }

    public bool LowBlocksHigh { get; }

    public bool HighBlocksLow { get; }

    /// <summary>Every member by user id.</summary>
    public FrozenDictionary<long, ViewMember> Members { get; }

    /// <summary>Every member with their join position, by user id: what the fan-out walks.</summary>
    public IReadOnlyList<(long UserId, long JoinedSeq)> MemberList { get; }

    /// <summary>The latest seq this node knows of: loaded, then raised by each commit. May lag other nodes' commits.</summary>
    public long MaxSeq => Volatile.Read(ref _maxSeq);

    internal long Version { get; }

    /// <summary>The conversation row's <c>members_version</c> when loaded (PostgreSQL; cluster mode checks sends against it at commit).</summary>
    public long MembersVersion { get; }

    /// <summary>The pair's version read before loading (direct only); <see cref="long.MinValue"/> when the pair was not known then.</summary>
    internal long PairVersion { get; }

    /// <summary>For a direct conversation, the member that is not <paramref name="me"/>.</summary>
    public long? PeerOf(long me) => IsDirect ? (UserLow == me ? UserHigh : UserLow) : null;

    /// <summary>Whether <paramref name="blocker"/> blocks the other member of this direct conversation.</summary>
    public bool Blocks(long blocker) => IsDirect && (blocker == UserLow ? LowBlocksHigh : blocker == UserHigh && HighBlocksLow);

    /// <summary>Whether <paramref name="userId"/> holds the other member of this direct conversation as a friend.</summary>
    public bool Befriends(long userId) => IsDirect && (userId == UserLow ? LowFriendsHigh : userId == UserHigh && HighFriendsLow);

    public void RaiseMaxSeq(long seq)
    {
        var current = Volatile.Read(ref _maxSeq);
        while (seq > current)
        {
            var seen = Interlocked.CompareExchange(ref _maxSeq, seq, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}

/// <summary>
/// The in-memory, versioned views of conversations: a send, ack, read or typing hint and the fan-out of a message
/// read no database in the steady state. A view is loaded on a miss with one round trip (<see cref="MessageStore.LoadViewAsync"/>)
/// and is good while the versions read before loading it are unchanged (<see cref="MembershipVersions"/>: bumped after
/// every committed change of members, roles, mutes, the group, friendship or blocks, before the changing request
/// returns), so a change committed during a load makes the loaded view stale at once; never expired by time alone.
/// Bounded: past <see cref="MessagingOptions.ViewCacheConversations"/> views the cache is emptied (the hot conversations
/// come back on their next use).
/// </summary>
public sealed class ConversationViews(MessageStore store, MembershipVersions versions, IOptions<MessagingOptions> options)
{
    private readonly ConcurrentDictionary<long, ConversationView> _views = new();

    /// <summary>Reloads of groups in flight, each with the version it read first: concurrent misses share one.</summary>
    private readonly ConcurrentDictionary<long, (long Version, Task<ConversationView?> Load)> _reloads = new();
    private readonly int _capacity = Math.Max(1, options.Value.ViewCacheConversations);

    /// <summary>How many views are held (tests, diagnostics).</summary>
    public int Count => _views.Count;

    /// <summary>The conversation's current view; null when it does not exist.</summary>
    public ValueTask<ConversationView?> GetAsync(long conversationId, CancellationToken cancellationToken)
    {
        var version = versions.Current(conversationId);
        if (_views.TryGetValue(conversationId, out var cached) && cached.Version == version
            && (!cached.IsDirect || cached.PairVersion == versions.CurrentPair(cached.UserLow, cached.UserHigh)))
        {
            return ValueTask.FromResult<ConversationView?>(cached);
        }

        return cached is { IsDirect: false } ? ReloadGroupAsync(conversationId, version, cached, cancellationToken) : LoadAsync(conversationId, version, cached, cancellationToken);
    }

    /// <summary>
    /// A group's view after a change: every sender of a busy group misses at once, and one load (of possibly many
    /// members) serves all who read the same version; it is not cancelled by any one of them.
    /// </summary>
    private async ValueTask<ConversationView?> ReloadGroupAsync(long conversationId, long version, ConversationView stale, CancellationToken cancellationToken)
    {
        if (_reloads.TryGetValue(conversationId, out var running) && running.Version == version)
        {
            return await running.Load.WaitAsync(cancellationToken);
        }

        var load = new TaskCompletionSource<ConversationView?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var entry = (version, load.Task);
        if (!_reloads.TryAdd(conversationId, entry))
        {
            return await LoadAsync(conversationId, version, stale, cancellationToken); // another version's reload is running
        }

        try
        {
            var view = await LoadAsync(conversationId, version, stale, CancellationToken.None);
            load.SetResult(view);
        }
        catch (Exception e)
        {
            load.SetException(e);
        }
        finally
        {
            _reloads.TryRemove(new KeyValuePair<long, (long, Task<ConversationView?>)>(conversationId, entry));
        }

        return await load.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Loads the conversation's view from the database whatever this node's versions say: cluster mode, when a commit
    /// showed the database's members version is newer than the view's (a change made on another node whose event has
    /// not arrived yet).
    /// </summary>
    public ValueTask<ConversationView?> ReloadAsync(long conversationId, CancellationToken cancellationToken) =>
        LoadAsync(conversationId, versions.Current(conversationId), Peek(conversationId), cancellationToken);

    /// <summary>Drops every held view (cluster mode, after a bus outage that may have lost membership changes).</summary>
    public void Clear() => _views.Clear();

    /// <summary>The view when one is held, current or not (no load): for callers that can do without, such as raising its seq.</summary>
    public ConversationView? Peek(long conversationId) => _views.TryGetValue(conversationId, out var view) ? view : null;

    private async ValueTask<ConversationView?> LoadAsync(long conversationId, long version, ConversationView? stale, CancellationToken cancellationToken)
    {
        // A direct conversation's two users never change: a stale view names them, so their pair's version is read
        // before loading too. Without one it is not known yet, and the view is kept marked unconfirmed: its next use
        // loads again, this time reading the pair's version first.
        var pairVersion = stale is { IsDirect: true } ? versions.CurrentPair(stale.UserLow, stale.UserHigh) : long.MinValue;
        var row = await store.LoadViewAsync(conversationId, cancellationToken);
        if (row is null)
        {
            _views.TryRemove(conversationId, out _);
            return null;
        }

        var view = new ConversationView(row, version, row.Type == "direct" ? pairVersion : 0);
        if (stale is not null)
        {
            view.RaiseMaxSeq(stale.MaxSeq);
        }

        if (_views.Count >= _capacity)
        {
            _views.Clear();
        }

        // A load that read the database before a newer one finished must not replace it (cluster mode relies on a
        // held view never going back to older members than a commit already checked against).
        return _views.AddOrUpdate(
            conversationId,
            static (_, loaded) => loaded,
            static (_, held, loaded) => held.MembersVersion > loaded.MembersVersion && held.Version >= loaded.Version ? held : loaded,
            view);
    }
}
