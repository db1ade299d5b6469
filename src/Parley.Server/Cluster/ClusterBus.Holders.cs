using Parley.Protocol;
using Parley.Storage;
using StackExchange.Redis;

namespace Parley.Server.Cluster;

/// <summary>
/// Who else holds a user (docs/cluster.md, "No echo"). Without it, a node publishes every frame for a user it holds
/// to the user's channel and hears it come back from Redis: a 1:1 message sent on A to a user on B costs A the
/// sender's-channel publish (for the sender's other devices) and the echo of it, half the bus work. So nodes tell
/// each other on a user's channel when they start and stop holding the user, and a node that holds a user no other
/// node holds skips that channel.
/// <list type="bullet">
/// <item>A node that subscribes to a user's channel publishes <c>join</c> on it (after the subscription is
/// confirmed); every node holding the user answers <c>here</c>. A node about to unsubscribe publishes <c>leave</c>.
/// Each carries the publisher's generation of its holding, so a late <c>leave</c> never undoes a newer <c>join</c>.</item>
/// <item>The publisher skips a user channel only while it holds the user itself, knows of no other holder, and the bus
/// is not degraded; it remembers what it skipped (conversations, at most <see cref="MaxSkipped"/>, else everything).</item>
/// <item>When it learns of a holder (the race: a device connecting elsewhere while frames were skipped), it publishes
/// <c>resync</c> with what it skipped on the channel, and the other holders tell the user's sockets to catch up:
/// every skipped frame was committed before that notice, so their after= finds it.</item>
/// <item>Whatever may have been missed (this node's bus degraded, or a notice of its own lost) forgets who else holds
/// whom and joins every held user again (on recovery). A node that died without <c>leave</c> stays a holder in the
/// others' view until they let the user go: they publish for nothing, never too little.</item>
/// </list>
/// All of it runs in the one publish loop (<see cref="Holder"/>), so a skip decision and the learning of a holder never
/// race. Only user channels: a big group's conversation channel is heard by the nodes holding members anyway.
/// </summary>
public sealed partial class ClusterBus
{
    private const int MaxSkipped = 64;
    private const int MaxOthers = 64;

    /// <summary>This node's holding of one user, as the publish loop sees it. Only the publish loop touches it.</summary>
    private sealed class HolderState(Held held, long generation)
    {
        /// <summary>The subscription it was made for: it counts only while that is the user's subscription still.</summary>
        public readonly Held Held = held;

        public long Generation = generation;

        /// <summary>Other node incarnations holding the user, with the generation of their holding.</summary>
        public readonly Dictionary<Guid, long> Others = [];

        /// <summary>Conversations of frames skipped since the last resync notice; null with <see cref="SkippedAll"/> false: none.</summary>
        public HashSet<long>? Skipped;

        public bool SkippedAll;
    }

    private enum HolderAction : long
    {
        /// <summary>Wire: the publisher holds the user now (answered with <see cref="Here"/>). Local: this node subscribed.</summary>
        Join = 1,

        /// <summary>Wire: the publisher holds the user too (an answer to <see cref="Join"/>).</summary>
        Here = 2,

        /// <summary>Wire: the publisher no longer holds the user. Local: this node is about to unsubscribe.</summary>
        Leave = 3,

        /// <summary>Wire: frames for the user were skipped while the publisher knew no other holder; the ids list the conversations (none: all).</summary>
        Resync = 4,

        /// <summary>Local only: forget every other holder (the bus may have lost notices); joins follow.</summary>
        Reset = 5,
    }

    /// <summary>A holder command for the publish loop: this node's own, or (<see cref="Heard"/>) a notice heard from <see cref="Origin"/>.</summary>
    private sealed record HolderCommand(HolderAction Action, long UserId, Held? Held, bool Heard, Guid Origin, long Generation);

    private readonly Dictionary<long, HolderState> _holders = [];
    private long _holderGeneration;
    private long _skippedPublishes;
    private volatile bool _holderNoticeLost;

    /// <summary>Queued past the queue limit: a holder command is small, rare (per subscription change) and must not be dropped.</summary>
    private void EnqueueHolder(HolderAction action, long userId, Held? held, bool heard = false, Guid origin = default, long generation = 0)
    {
        Interlocked.Increment(ref _queued);
        _outgoing.Writer.TryWrite(new Outgoing(OutKind.Holder, 0, 0, [], null, null, new HolderCommand(action, userId, held, heard, origin, generation)));
    }

    /// <summary>True when the frame for <paramref name="userId"/> need not be published: no other node holds the user (publish loop only).</summary>
    private bool SkipUserChannel(long userId, in Outgoing item)
    {
        if (!_holders.TryGetValue(userId, out var state) || state.Others.Count > 0 || Volatile.Read(ref _degraded) is not null
            || !_held.TryGetValue(userId, out var held) || !ReferenceEquals(held, state.Held) || held.Handler is null)
        {
            return false;
        }

        if (item.Ephemeral)
        {
            // typing, presence: a resync would not bring them back, nor need to
        }
        else if (item.ConversationId == 0)
        {
            return false; // a notify: rare, and not found again by after=, so always published
        }
        else if (!state.SkippedAll)
        {
            if ((state.Skipped ??= []).Count >= MaxSkipped)
            {
                state.SkippedAll = true;
                state.Skipped = null;
            }
            else
            {
                state.Skipped.Add(item.ConversationId);
            }
        }

        _skippedPublishes++;
        return true;
    }

    /// <summary>Runs one holder command (publish loop only).</summary>
    private void Holder(ISubscriber subscriber, HolderCommand command)
    {
        var userId = command.UserId;
        _holders.TryGetValue(userId, out var state);
        switch (command.Action)
        {
            case HolderAction.Reset when !command.Heard:
                foreach (var each in _holders.Values)
                {
                    each.Others.Clear(); // what was skipped stays: it is told when a holder is learned again
                }

                return;
            case HolderAction.Join when !command.Heard:
                if (command.Held is not { } held || !_held.TryGetValue(userId, out var current) || !ReferenceEquals(current, held))
                {
                    return; // let go again meanwhile
                }

                if (state is not null && ReferenceEquals(state.Held, held))
                {
                    state.Others.Clear();
                    state.Generation = ++_holderGeneration;
                }
                else
                {
                    _holders[userId] = state = new HolderState(held, ++_holderGeneration);
                }

                Notice(subscriber, userId, HolderAction.Join, state.Generation, null);
                return;
            case HolderAction.Leave when !command.Heard:
                if (state is not null && (command.Held is null || ReferenceEquals(state.Held, command.Held)))
                {
                    _holders.Remove(userId);
                    ResyncSkipped(subscriber, userId, state); // a holder that joined unheard may have missed what was skipped
                    Notice(subscriber, userId, HolderAction.Leave, state.Generation, null);
                }

                return;
            case HolderAction.Reset or HolderAction.Resync:
                return; // never queued as heard (HeardHolder)
        }

        // A notice from another node about a user this node holds (or held: a state of another subscription is stale).
        if (state is null || !_held.TryGetValue(userId, out var live) || !ReferenceEquals(live, state.Held))
        {
            return; // not held here (any more): this node's own join, when it comes, starts the exchange
        }

        switch (command.Action)
        {
            case HolderAction.Join:
                Learned(subscriber, userId, state, command.Origin, command.Generation);
                Notice(subscriber, userId, HolderAction.Here, state.Generation, null);
                break;
            case HolderAction.Here:
                Learned(subscriber, userId, state, command.Origin, command.Generation);
                break;
            case HolderAction.Leave:
                if (state.Others.TryGetValue(command.Origin, out var generation) && generation <= command.Generation)
                {
                    state.Others.Remove(command.Origin);
                }

                break;
        }
    }

    private void Learned(ISubscriber subscriber, long userId, HolderState state, Guid origin, long generation)
    {
        if (state.Others.TryGetValue(origin, out var known))
        {
            state.Others[origin] = Math.Max(known, generation);
            return;
        }

        if (state.Others.Count >= MaxOthers)
        {
            return; // held elsewhere anyway (never skipped): a flood of rogue joins cannot grow it
        }

        state.Others[origin] = generation;
        ResyncSkipped(subscriber, userId, state);
    }

    /// <summary>Tells whoever holds the user now to catch up on what this node skipped (if it skipped anything).</summary>
    private void ResyncSkipped(ISubscriber subscriber, long userId, HolderState state)
    {
        if (state.SkippedAll || state.Skipped is { Count: > 0 })
        {
            Notice(subscriber, userId, HolderAction.Resync, state.Generation, state.SkippedAll ? [] : [.. state.Skipped!]);
            state.Skipped = null; // a resync that does not go out makes everyone resync on recovery (Lost)
            state.SkippedAll = false;
        }
    }

    private void Notice(ISubscriber subscriber, long userId, HolderAction action, long generation, long[]? conversations)
    {
        long[] ids = conversations is null ? [(long)action, generation] : [(long)action, generation, .. conversations];
        var payload = BusWire.Ids(BusKind.Holder, _node.Incarnation, ids);
        var item = new Outgoing(OutKind.Holder, 0, 0, payload, null, null, null);
        if (!_redis.IsConnected)
        {
            Lost(item);
            return;
        }

        Publish(subscriber, _channels.User(userId), payload, item);
    }

    /// <summary>A holder notice heard on a user's channel (a subscription handler's thread).</summary>
    private void HeardHolder(long userId, in BusMessage parsed)
    {
        var action = (HolderAction)parsed.Ids[0];
        if (action == HolderAction.Resync)
        {
            if (_connections.Holds(userId))
            {
                string[]? conversations = parsed.Ids.Length > 2 ? [.. parsed.Ids.Skip(2).Select(Ids.Format)] : null;
                Interlocked.Add(ref _resyncs, _fanout.DeliverLocal(userId, ServerFrames.Resync(conversations)));
            }

            return;
        }

        if (parsed.Origin == Guid.Empty)
        {
            Interlocked.Increment(ref _malformed); // no node has the empty incarnation
            return;
        }

        EnqueueHolder(action, userId, null, heard: true, parsed.Origin, parsed.Ids[1]);
    }

    /// <summary>
    /// After the bus may have lost notices (this node recovered, or its own notice was not published): forget who else
    /// holds whom and join every held user again, so the others answer and this node learns them afresh.
    /// </summary>
    private void RejoinAll()
    {
        _holderNoticeLost = false;
        EnqueueHolder(HolderAction.Reset, 0, null);
        foreach (var (userId, held) in _held)
        {
            if (held.Handler is not null)
            {
                EnqueueHolder(HolderAction.Join, userId, held);
            }
        }
    }
}
