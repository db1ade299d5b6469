using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Parley.Protocol;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Messaging;
using StackExchange.Redis;

namespace Parley.Server.Cluster;

/// <summary>
/// Conversation channels for big groups (docs/cluster.md, "Big groups"). A group of at least
/// <see cref="ClusterOptions.GroupChannelMinMembers"/> members has a channel of its own,
/// <c>{prefix}:c:{conversationId}</c>: its message, recall and typing frames are published there once instead of once
/// per member, and a node is subscribed to it while it holds a connection of at least one member. The receiving node
/// delivers to its own members of the conversation, from its view of it, with the same rule as the publishing node's
/// route: a view at least as new as the members version the frame carries (the message's commit version), so a member
/// removed through another node never gets a frame committed after the removal; members who joined after a frame's
/// seq get nothing of it.
///
/// Subscriptions change in one loop (like user channels'): when a user's first connection here opens (the user's big
/// groups are read from the database before the hello, so the channels are live before the client's first sync),
/// when the last one goes, and when a group's members change (here or, through the control channel, elsewhere: the
/// group may have crossed the size, a member held here may have joined or left). A subscription made or dropped
/// because of a membership change, while members held here stay, tells those members to <c>resync</c> that
/// conversation: frames published on the other route meanwhile may not have reached them.
///
/// Order: like user channels, each frame carries its publisher's number on the channel; a subscription keeps, per
/// publishing incarnation, the next number expected. The numbering starts fresh with each subscription: the first
/// frame a subscription hears from a publisher is taken as the start (what came before was nobody's here, or its
/// members were told to resync when it was made); a gap that does not fill within <see cref="GapWait"/> is given up and
/// the conversation's local members are told to <c>resync</c> it (recall and typing frames carry no seq a client could
/// see a gap in).
/// </summary>
public sealed partial class ClusterBus
{
    /// <summary>One conversation channel this node is subscribed to (or about to be).</summary>
    private sealed class GroupSub(long conversationId)
    {
        public readonly long ConversationId = conversationId;

        /// <summary>The subscribed handler; null while not subscribed. Mutated by the group loop only.</summary>
        public Action<RedisChannel, RedisValue>? Handler;

        /// <summary>The users held here who are members (the group loop's own).</summary>
        public HashSet<long> Local = [];

        /// <summary>Per publishing incarnation: what comes next on this subscription. Guarded by the GroupSub itself.</summary>
        public Dictionary<Guid, GroupOrder>? Sequences;

        /// <summary>Frames in their publishers' order, delivered by <see cref="DrainGroupAsync"/> (views may need loading).</summary>
        public readonly Channel<GroupItem> Deliveries = Channel.CreateBounded<GroupItem>(new BoundedChannelOptions(MaxPendingGroupFrames) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

        /// <summary>1 when frames were dropped (queue full, a view that would not load): the local members resync.</summary>
        public int ResyncDue;

        public volatile bool Closed;

        public Task? Drain;
    }

    /// <summary>
    /// One publisher's frames on one subscription, in its order, to the subscription's drain; a gap given up resyncs the
    /// conversation's local members (a lost recall or typing frame leaves no seq gap a client could notice).
    /// </summary>
    private sealed class GroupOrder(ClusterBus bus, GroupSub sub) : BusOrder<BusMessage>(sub, bus._time, GapWait)
    {
        protected override void Deliver(BusMessage frame) => Hand(sub, frame);

        protected override void GaveUp()
        {
            Interlocked.Increment(ref bus._gapsGivenUp);
            if (!sub.Deliveries.Writer.TryWrite(new GroupItem(default, true)))
            {
                Volatile.Write(ref sub.ResyncDue, 1);
            }
        }
    }

    /// <summary>A frame to deliver, or (no frame) the order to tell the local members to resync.</summary>
    private readonly record struct GroupItem(BusMessage Message, bool Resync);

    private enum GroupOp : byte
    {
        Hold,
        Release,
        Changed,
        Resubscribe,
        Rebuild,
    }

    private readonly record struct GroupCommand(GroupOp Op, long Id, IReadOnlyList<long>? Conversations, TaskCompletionSource? Done);

    private const int MaxPendingGroupFrames = 10_000;
    private const int MaxExcludedTypers = 1_000;
    private const int RebuildChunk = 500;

    private static readonly TimeSpan RebuildTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<long, GroupSub> _groupSubs = new();

    /// <summary>Per held user: the big groups whose channel this node listens to for them. The group loop's own.</summary>
    private readonly Dictionary<long, HashSet<long>> _userGroups = [];

    /// <summary>Held users whose big groups were read and subscribed: a later connection of theirs needs no query.</summary>
    private readonly ConcurrentDictionary<long, byte> _groupsRead = new();

    private readonly Channel<GroupCommand> _groupCommands = Channel.CreateUnbounded<GroupCommand>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Numbers per conversation channel, the publish loop's own (as user channels' in ClusterBus.cs).</summary>
    private readonly Dictionary<long, long> _groupSequences = [];

    private MessageStore? _groupStore;
    private long _groupPublished;
    private long _groupReceived;

    private bool GroupChannelsOn => _options.GroupChannelMinMembers > 0;

    /// <summary>How many conversation channels this node is subscribed to.</summary>
    public int ConversationSubscriptions => _groupSubs.Count;

    private string GroupChannel(long conversationId) => _options.ChannelPrefix + ":c:" + conversationId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private void InitGroups(MessageStore store, Meter meter)
    {
        _groupStore = store;
        meter.CreateObservableGauge("parley.bus.conversation_subscriptions", () => _groupSubs.Count, "{channel}", "Conversation channels of big groups this node is subscribed to (groups with a member it holds connections of).");
        meter.CreateObservableCounter("parley.bus.conversation_published", () => Volatile.Read(ref _groupPublished), "{payload}", "Payloads this node published on conversation channels (one per big-group message, recall or typing hint).");
        meter.CreateObservableCounter("parley.bus.conversation_received", () => Volatile.Read(ref _groupReceived), "{payload}", "Conversation-channel payloads received from other nodes.");
    }

    private bool IsBigGroup(int members) => GroupChannelsOn && members >= _options.GroupChannelMinMembers; // at least 3: never a direct conversation

    // ---- Publishing (the route's consumer queues; the one publisher numbers and publishes) ----

    /// <summary>A big group's message: one payload on its conversation channel. False: the per-member route.</summary>
    private bool GroupMessage(CommittedMessage message, IReadOnlyList<(long UserId, long JoinedSeq)> members)
    {
        if (!IsBigGroup(members.Count))
        {
            return false;
        }

        var conversationId = message.Row.ConversationId;
        Enqueue(new Outgoing(OutKind.Conversation, conversationId, message.Row.Seq, BusWire.Conversation(_node.Incarnation, conversationId, message.Row.Seq, message.MembersVersion, [], message.MessageFrame), null, null));
        return true;
    }

    private bool GroupRecalled(long conversationId, long seq, long by, IReadOnlyList<(long UserId, long JoinedSeq)> members)
    {
        if (!IsBigGroup(members.Count))
        {
            return false;
        }

        var version = _views.Peek(conversationId)?.MembersVersion ?? 0; // the view the route just used (or a newer one)
        Enqueue(new Outgoing(OutKind.Conversation, conversationId, seq, BusWire.Conversation(_node.Incarnation, conversationId, seq, version, [], ServerFrames.Recalled(Ids.Format(conversationId), seq, Ids.Format(by))), null, null));
        return true;
    }

    /// <summary>
    /// A typing hint in a big group goes to every member but the typer and those who blocked them: published once,
    /// naming who is left out (when they are few; else per recipient as before). Not remembered as moved when lost.
    /// </summary>
    private bool GroupTyping(long conversationId, long userId, IReadOnlyList<long> recipients)
    {
        if (!GroupChannelsOn || recipients.Count + 1 < _options.GroupChannelMinMembers || _views.Peek(conversationId) is not { IsDirect: false } view || !IsBigGroup(view.MemberList.Count))
        {
            return false;
        }

        var to = new HashSet<long>(recipients);
        var except = new List<long>();
        foreach (var (member, _) in view.MemberList)
        {
            if (!to.Contains(member) && (except.Count < MaxExcludedTypers || member == userId))
            {
                except.Add(member);
            }
        }

        if (except.Count >= MaxExcludedTypers || !except.Contains(userId))
        {
            return false; // many blockers, or a view that is not the one the recipients came from: per recipient
        }

        Enqueue(new Outgoing(OutKind.Conversation, 0, 0, BusWire.Conversation(_node.Incarnation, conversationId, 0, view.MembersVersion, except, ServerFrames.Typing(Ids.Format(conversationId), Ids.Format(userId))), null, null));
        return true;
    }

    /// <summary>In the publish loop: numbers the payload on its conversation channel and publishes it.</summary>
    private void PublishConversation(ISubscriber subscriber, in Outgoing item)
    {
        var conversationId = BinaryPrimitives.ReadInt64LittleEndian(item.Payload.AsSpan(BusWire.ConversationNumberOffset + 8));
        if (_groupSequences.Count >= MaxNumberedChannels)
        {
            _groupSequences.Clear(); // as for user channels: numbers start again at 1 (taken as late by receivers until they pass what they expect)
        }

        ref var sequence = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_groupSequences, conversationId, out _);
        sequence++;
        BinaryPrimitives.WriteInt64LittleEndian(item.Payload.AsSpan(BusWire.ConversationNumberOffset), sequence);
        Publish(subscriber, GroupChannel(conversationId), item.Payload, item);
        Interlocked.Increment(ref _groupPublished);
    }

    // ---- Interest: which conversation channels this node listens to ----

    /// <summary>The user's big groups are subscribed (before the hello) when this node starts holding them.</summary>
    private async ValueTask HoldGroupsAsync(long userId, CancellationToken cancellationToken)
    {
        if (_groupsRead.ContainsKey(userId))
        {
            return; // held already: their channels are subscribed
        }

        IReadOnlyList<(long UserId, long ConversationId)> rows;
        try
        {
            rows = await _groupStore!.BigGroupsOfAsync([userId], _options.GroupChannelMinMembers, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogGroupsFailed(_logger, e);
            rows = []; // the database is in trouble (the client cannot sync either); the next membership change settles it
        }

        var conversations = new long[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            conversations[i] = rows[i].ConversationId;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _groupCommands.Writer.TryWrite(new GroupCommand(GroupOp.Hold, userId, conversations, done));
        try
        {
            await done.Task.WaitAsync(HeldTimeout, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            LogSubscribeSlow(_logger, userId);
        }
    }

    private void ReleaseGroups(long userId)
    {
        if (GroupChannelsOn)
        {
            _groupCommands.Writer.TryWrite(new GroupCommand(GroupOp.Release, userId, null, null));
        }
    }

    /// <summary>A group's members changed (committed here, or told by another node): settle its channel.</summary>
    private void GroupChanged(long conversationId)
    {
        if (GroupChannelsOn)
        {
            _groupCommands.Writer.TryWrite(new GroupCommand(GroupOp.Changed, conversationId, null, null));
        }
    }

    /// <summary>After a silent stop: every conversation channel subscribed again (numbering fresh).</summary>
    private void ResubscribeGroups()
    {
        if (GroupChannelsOn)
        {
            _groupCommands.Writer.TryWrite(new GroupCommand(GroupOp.Resubscribe, 0, null, null));
        }
    }

    /// <summary>
    /// After bus trouble (membership changes may have gone unheard): every held user's big groups read again, the
    /// channels made to match, before the node's sockets are told to resync.
    /// </summary>
    private async Task RebuildGroupsAsync()
    {
        if (!GroupChannelsOn)
        {
            return;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _groupCommands.Writer.TryWrite(new GroupCommand(GroupOp.Rebuild, 0, null, done));
        try
        {
            await done.Task.WaitAsync(RebuildTimeout, _time);
        }
        catch (TimeoutException)
        {
            LogRebuildSlow(_logger);
        }
    }

    private async Task GroupLoopAsync(CancellationToken stoppingToken)
    {
        var subscriber = _redis.Subscriber;
        while (await _groupCommands.Reader.WaitToReadAsync(stoppingToken))
        {
            while (_groupCommands.Reader.TryRead(out var command))
            {
                try
                {
                    switch (command.Op)
                    {
                        case GroupOp.Hold:
                            await HoldAsync(subscriber, command.Id, command.Conversations!);
                            break;
                        case GroupOp.Release:
                            await ReleaseAsync(subscriber, command.Id);
                            break;
                        case GroupOp.Changed:
                            await SettleGroupAsync(subscriber, command.Id, stoppingToken);
                            break;
                        case GroupOp.Resubscribe:
                            await ResubscribeGroupsAsync(subscriber);
                            break;
                        case GroupOp.Rebuild:
                            await RebuildAsync(subscriber, stoppingToken);
                            break;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogSubscribeFailed(_logger, e);
                }
                finally
                {
                    command.Done?.TrySetResult();
                }
            }
        }
    }

    private async Task HoldAsync(ISubscriber subscriber, long userId, IReadOnlyList<long> conversations)
    {
        if (!_connections.Holds(userId))
        {
            return; // gone again before this ran (its release settles the rest)
        }

        foreach (var conversationId in conversations)
        {
            await AddLocalAsync(subscriber, conversationId, userId);
        }

        _groupsRead.TryAdd(userId, 0);
    }

    private async Task AddLocalAsync(ISubscriber subscriber, long conversationId, long userId)
    {
        var sub = _groupSubs.GetOrAdd(conversationId, static id => new GroupSub(id));
        sub.Local.Add(userId);
        Mine(userId).Add(conversationId);
        await SubscribeGroupAsync(subscriber, sub);
    }

    private async Task ReleaseAsync(ISubscriber subscriber, long userId)
    {
        if (_connections.Holds(userId))
        {
            return;
        }

        _groupsRead.TryRemove(userId, out _);
        if (!_userGroups.Remove(userId, out var conversations))
        {
            return;
        }

        foreach (var conversationId in conversations)
        {
            if (_groupSubs.TryGetValue(conversationId, out var sub))
            {
                sub.Local.Remove(userId);
                if (sub.Local.Count == 0)
                {
                    await DropGroupAsync(subscriber, sub);
                }
            }
        }
    }

    /// <summary>
    /// A group's members changed: whether this node should listen to its channel now (a big group with a member held
    /// here), and for whom. Members whose route changed while they stay get resync for it.
    /// </summary>
    private async Task SettleGroupAsync(ISubscriber subscriber, long conversationId, CancellationToken cancellationToken)
    {
        _groupSubs.TryGetValue(conversationId, out var sub);
        if (sub is null && (await _groupStore!.GroupMemberCountAsync(conversationId, cancellationToken) is not { } count || !IsBigGroup(count)))
        {
            return; // not listened to, and not big: nothing to load
        }

        var view = await _views.GetAsync(conversationId, cancellationToken);
        var local = new HashSet<long>();
        if (view is { IsDirect: false } && IsBigGroup(view.MemberList.Count))
        {
            foreach (var (userId, _) in view.MemberList)
            {
                if (_connections.Holds(userId))
                {
                    local.Add(userId);
                }
            }
        }

        if (local.Count == 0)
        {
            if (sub is not null)
            {
                // Below the size now (or its last member here left): those still members here are served by their user
                // channels again, and what was on its way on this channel may not reach them.
                var stay = view is null ? [] : sub.Local.Where(u => view.Members.ContainsKey(u) && _connections.Holds(u)).ToList();
                SetLocal(sub, local);
                await DropGroupAsync(subscriber, sub);
                Resync(conversationId, stay);
            }

            return;
        }

        var fresh = sub is null || sub.Handler is null;
        sub ??= _groupSubs.GetOrAdd(conversationId, static id => new GroupSub(id));
        SetLocal(sub, local);
        await SubscribeGroupAsync(subscriber, sub);
        if (fresh && sub.Handler is not null)
        {
            // Made for a change (the group grew past the size, or its first member here joined): frames published on
            // this channel before it was live may have missed them.
            Resync(conversationId, local);
        }
    }

    private void SetLocal(GroupSub sub, HashSet<long> local)
    {
        foreach (var userId in sub.Local)
        {
            if (!local.Contains(userId) && _userGroups.TryGetValue(userId, out var theirs))
            {
                theirs.Remove(sub.ConversationId);
            }
        }

        foreach (var userId in local)
        {
            Mine(userId).Add(sub.ConversationId);
        }

        sub.Local = local;
    }

    private HashSet<long> Mine(long userId)
    {
        if (!_userGroups.TryGetValue(userId, out var mine))
        {
            _userGroups[userId] = mine = [];
        }

        return mine;
    }

    private void Resync(long conversationId, IEnumerable<long> userIds)
    {
        byte[]? frame = null;
        foreach (var userId in userIds)
        {
            Interlocked.Add(ref _resyncs, _fanout.DeliverLocal(userId, frame ??= ServerFrames.Resync([Ids.Format(conversationId)])));
        }
    }

    private async Task SubscribeGroupAsync(ISubscriber subscriber, GroupSub sub)
    {
        if (sub.Handler is not null || !_redis.IsConnected)
        {
            return; // subscribed; or Redis is away (the node is degraded; its recovery subscribes and resyncs)
        }

        lock (sub)
        {
            sub.Sequences = null; // numbering starts fresh with each subscription
        }

        var current = sub;
        Action<RedisChannel, RedisValue> onMessage = (_, value) => OnGroup(current, value);
        await subscriber.SubscribeAsync(RedisChannel.Literal(GroupChannel(sub.ConversationId)), onMessage);
        sub.Handler = onMessage;
        sub.Drain ??= DrainGroupAsync(sub);
    }

    private async Task DropGroupAsync(ISubscriber subscriber, GroupSub sub)
    {
        _groupSubs.TryRemove(new KeyValuePair<long, GroupSub>(sub.ConversationId, sub));
        sub.Closed = true;
        sub.Deliveries.Writer.TryComplete();
        if (sub.Handler is { } handler)
        {
            sub.Handler = null;
            await subscriber.UnsubscribeAsync(RedisChannel.Literal(GroupChannel(sub.ConversationId)), handler);
        }
    }

    private async Task ResubscribeGroupsAsync(ISubscriber subscriber)
    {
        if (!_redis.IsConnected)
        {
            return;
        }

        foreach (var (conversationId, sub) in _groupSubs)
        {
            if (sub.Handler is { } handler)
            {
                sub.Handler = null;
                await subscriber.UnsubscribeAsync(RedisChannel.Literal(GroupChannel(conversationId)), handler);
            }

            await SubscribeGroupAsync(subscriber, sub);
        }
    }

    /// <summary>Every held user's big groups from the database; the channels made to match (subscribed where they could not be).</summary>
    private async Task RebuildAsync(ISubscriber subscriber, CancellationToken cancellationToken)
    {
        var wanted = new Dictionary<long, HashSet<long>>();
        var users = _held.Keys.Where(_connections.Holds).ToList();
        foreach (var chunk in users.Chunk(RebuildChunk))
        {
            foreach (var (userId, conversationId) in await _groupStore!.BigGroupsOfAsync(chunk, _options.GroupChannelMinMembers, cancellationToken))
            {
                if (!wanted.TryGetValue(conversationId, out var local))
                {
                    wanted[conversationId] = local = [];
                }

                local.Add(userId);
            }
        }

        foreach (var (conversationId, sub) in _groupSubs)
        {
            if (!wanted.ContainsKey(conversationId))
            {
                SetLocal(sub, []);
                await DropGroupAsync(subscriber, sub);
            }
        }

        foreach (var (conversationId, local) in wanted)
        {
            var sub = _groupSubs.GetOrAdd(conversationId, static id => new GroupSub(id));
            SetLocal(sub, local);
            await SubscribeGroupAsync(subscriber, sub);
        }

        foreach (var userId in users)
        {
            _groupsRead.TryAdd(userId, 0);
        }
    }

    // ---- Receiving ----

    /// <summary>A conversation frame, on a thread-pool thread: put back in its publisher's order, then handed to the drain.</summary>
    private void OnGroup(GroupSub sub, RedisValue value)
    {
        if (!TryParse(value, out var parsed) || parsed.Origin == _node.Incarnation)
        {
            return; // this node delivered its own locally already
        }

        Interlocked.Increment(ref _received);
        if (parsed.Kind != BusKind.Conversation || parsed.Ids[1] != sub.ConversationId)
        {
            Interlocked.Increment(ref _malformed);
            return;
        }

        Interlocked.Increment(ref _groupReceived);
        if (sub.Closed)
        {
            return; // let go of (the unsubscribe is on its way)
        }

        var number = parsed.Ids[0];
        lock (sub)
        {
            sub.Sequences ??= [];
            if (!sub.Sequences.TryGetValue(parsed.Origin, out var order))
            {
                sub.Sequences[parsed.Origin] = order = new GroupOrder(this, sub);
            }

            order.Accept(number, parsed);
        }
    }

    /// <summary>Under the sub's lock, in order.</summary>
    private static void Hand(GroupSub sub, in BusMessage message)
    {
        if (!sub.Deliveries.Writer.TryWrite(new GroupItem(message, false)))
        {
            Volatile.Write(ref sub.ResyncDue, 1); // the drain is far behind (a view that will not load): its members resync
        }
    }

    /// <summary>
    /// One per subscription: delivers its frames in order to the conversation's members held here, each with a view at
    /// least as new as the members version it carries (reloaded from the database when older: a change made elsewhere
    /// whose control event has not arrived yet). Never waits on a socket.
    /// </summary>
    private async Task DrainGroupAsync(GroupSub sub)
    {
        await Task.Yield(); // off the group loop
        var reader = sub.Deliveries.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var item))
            {
                try
                {
                    if (item.Resync)
                    {
                        await ResyncLocalMembersAsync(sub.ConversationId);
                    }
                    else
                    {
                        await DeliverGroupAsync(sub.ConversationId, item.Message);
                    }
                }
                catch (Exception e)
                {
                    LogGroupDeliveryFailed(_logger, e);
                    Volatile.Write(ref sub.ResyncDue, 1);
                }

                if (Volatile.Read(ref sub.ResyncDue) == 1 && reader.Count == 0)
                {
                    try
                    {
                        await ResyncLocalMembersAsync(sub.ConversationId);
                        Volatile.Write(ref sub.ResyncDue, 0);
                    }
                    catch (Exception e)
                    {
                        LogGroupDeliveryFailed(_logger, e); // tried again after the next frame
                    }
                }
            }
        }
    }

    private async ValueTask DeliverGroupAsync(long conversationId, BusMessage message)
    {
        var ids = message.Ids;
        var seq = ids[2];
        var view = await _views.GetAsync(conversationId, CancellationToken.None);
        if (view is not null && view.MembersVersion < ids[3])
        {
            view = await _views.ReloadAsync(conversationId, CancellationToken.None);
        }

        if (view is null)
        {
            return; // dissolved
        }

        byte[]? frame = null;
        var members = view.MemberList;
        for (var i = 0; i < members.Count; i++)
        {
            var (userId, joinedSeq) = members[i];
            if ((seq > 0 && joinedSeq >= seq) || Excepted(ids, userId))
            {
                continue;
            }

            if (_connections.Holds(userId))
            {
                _fanout.DeliverLocal(userId, frame ??= message.Frame.ToArray());
            }
        }
    }

    private static bool Excepted(long[] ids, long userId)
    {
        for (var i = 4; i < ids.Length; i++)
        {
            if (ids[i] == userId)
            {
                return true;
            }
        }

        return false;
    }

    private async ValueTask ResyncLocalMembersAsync(long conversationId)
    {
        if (await _views.GetAsync(conversationId, CancellationToken.None) is { } view)
        {
            Resync(conversationId, view.MemberList.Select(m => m.UserId).Where(_connections.Holds));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster bus: reading a user's big groups failed; their conversation channels wait for the next change")]
    private static partial void LogGroupsFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster bus: delivering a conversation-channel frame failed; the conversation's members here are told to resync")]
    private static partial void LogGroupDeliveryFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster bus: rebuilding the conversation channels after bus trouble took too long; going on")]
    private static partial void LogRebuildSlow(ILogger logger);
}
