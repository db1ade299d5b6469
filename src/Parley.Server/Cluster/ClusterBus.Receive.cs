using System.Collections.Concurrent;
using System.Threading.Channels;
using Parley.Protocol;
using Parley.Server.Realtime;
using StackExchange.Redis;

namespace Parley.Server.Cluster;

/// <summary>
/// The receiving side. Interest routing: this node is subscribed to a user's channel while it holds at least one of
/// that user's connections, to the control channel and to its own node channel, so it receives only what its users
/// need. Order: StackExchange.Redis runs plain subscription handlers concurrently on the thread pool, in no order;
/// its ordered alternative, a <see cref="ChannelMessageQueue"/> per channel, costs about 3 KiB per subscription
/// (56 MiB for 19,000 users) against 330 B for a handler. So user channels have handlers, and every frame carries the
/// publisher's sequence on that channel (1, 2, 3, ...; Redis keeps one publisher's order per channel): per user and
/// publishing node, a frame that overtook an earlier one waits for it (briefly: a gap that does not fill within
/// <see cref="GapWait"/> is given up, the frames delivered as they are, and the client's seq check fills it by after=).
/// The control and node channels, one each, are ordered queues. Receiving never waits on a socket
/// (<see cref="Fanout.DeliverLocal"/> only queues; a full socket is closed and catches up by after=), and a flood on
/// one channel cannot hold up another.
/// </summary>
public sealed partial class ClusterBus : IUserInterest
{
    /// <summary>A held user's subscription (mutated only by the interest loop) and the order of what arrives on it.</summary>
    private sealed class Held
    {
        public readonly TaskCompletionSource Ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The subscribed handler; null while not subscribed.</summary>
        public Action<RedisChannel, RedisValue>? Handler;

        /// <summary>Per publishing node incarnation: what comes next on this channel. Guarded by the Held itself.</summary>
        public Dictionary<Guid, UserOrder>? Sequences;
    }

    /// <summary>One publisher's frames on one user channel, in its order, to the user's local sockets.</summary>
    private sealed class UserOrder(ClusterBus bus, long userId, Held held) : BusOrder<byte[]>(held, bus._time, GapWait)
    {
        protected override void Deliver(byte[] frame) => bus._fanout.DeliverLocal(userId, frame);

        protected override void GaveUp() => Interlocked.Increment(ref bus._gapsGivenUp);
    }

    /// <summary>How long a frame that overtook an earlier one waits for it before the gap is given up.</summary>
    private static readonly TimeSpan GapWait = TimeSpan.FromMilliseconds(200);

    private static readonly TimeSpan HeldTimeout = TimeSpan.FromSeconds(5);

    // Commands of the interest loop beside user ids (which are positive).
    private const long ResubscribeAll = long.MinValue;
    private const long RecoverCommand = long.MinValue + 1;

    private readonly ConcurrentDictionary<long, Held> _held = new();
    private readonly HashSet<long> _cameBack = []; // interest loop only
    private readonly Channel<long> _interest = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true });
    private ChannelMessageQueue? _control;
    private ChannelMessageQueue? _own;

    /// <summary>How many user channels this node is subscribed to.</summary>
    public int UserSubscriptions => _held.Count;

    public async ValueTask HeldAsync(long userId, CancellationToken cancellationToken)
    {
        await HoldUserChannelAsync(userId, cancellationToken);
        if (GroupChannelsOn)
        {
            await HoldGroupsAsync(userId, cancellationToken); // ClusterBus.Groups.cs
        }
    }

    private async ValueTask HoldUserChannelAsync(long userId, CancellationToken cancellationToken)
    {
        for (var round = 0; round < 3; round++)
        {
            var held = _held.GetOrAdd(userId, static _ => new Held());
            if (held.Ready.Task.IsCompleted && held.Handler is not null)
            {
                return;
            }

            _interest.Writer.TryWrite(userId);
            try
            {
                await held.Ready.Task.WaitAsync(HeldTimeout, _time, cancellationToken);
            }
            catch (TimeoutException)
            {
                LogSubscribeSlow(_logger, userId);
                return; // the bus is in trouble: the node is degraded, and its sockets get resync when it recovers
            }

            if (_held.TryGetValue(userId, out var now) && ReferenceEquals(now, held))
            {
                return;
            }
        }
    }

    public void Released(long userId)
    {
        _interest.Writer.TryWrite(userId);
        ReleaseGroups(userId);
    }

    /// <summary>
    /// The one place subscriptions change: each request settles one user against the registry as it is now, so racing
    /// adds and removes (a last connection leaving as a new one arrives) always end subscribed exactly when a
    /// connection is held, whatever order their calls came in.
    /// </summary>
    private async Task InterestLoopAsync(CancellationToken stoppingToken)
    {
        var subscriber = _redis.Subscriber;
        while (!await EnsureBaseAsync(subscriber))
        {
            await Task.Delay(TimeSpan.FromSeconds(1), _time, stoppingToken); // Redis not there yet: not ready until the canary returns
        }

        while (await _interest.Reader.WaitToReadAsync(stoppingToken))
        {
            while (_interest.Reader.TryRead(out var userId))
            {
                try
                {
                    await EnsureBaseAsync(subscriber);
                    switch (userId)
                    {
                        case ResubscribeAll:
                            await ResubscribeAllAsync(subscriber);
                            break;
                        case RecoverCommand:
                            await RecoverAsync(subscriber);
                            break;
                        default:
                            await SettleAsync(subscriber, userId);
                            break;
                    }
                }
                catch (Exception e)
                {
                    LogSubscribeFailed(_logger, e);
                    SetDegraded("a subscription change failed: " + e.GetType().Name); // recovery settles it and resyncs the sockets
                }
            }
        }
    }

    /// <summary>The control and node channels; false while they cannot be subscribed (Redis unreachable).</summary>
    private async Task<bool> EnsureBaseAsync(ISubscriber subscriber)
    {
        try
        {
            _control ??= await SubscribeAsync(subscriber, _channels.Control, OnControl);
            _own ??= await SubscribeAsync(subscriber, _channels.Node(_node.Incarnation), OnOwn);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSubscribeFailed(_logger, e);
            return false;
        }
    }

    private async Task SettleAsync(ISubscriber subscriber, long userId)
    {
        _held.TryGetValue(userId, out var held);
        if (_connections.Holds(userId))
        {
            held ??= _held.GetOrAdd(userId, static _ => new Held());
            if (held.Handler is null && _redis.IsConnected)
            {
                var current = held;
                Action<RedisChannel, RedisValue> onMessage = (_, value) => OnUser(userId, current, value);
                await subscriber.SubscribeAsync(RedisChannel.Literal(_channels.User(userId)), onMessage);
                held.Handler = onMessage;
                EnqueueHolder(HolderAction.Join, userId, held); // heard from now on: tell the other holders
                if (_cameBack.Remove(userId))
                {
                    // A socket registered while the old subscription was being dropped took it for live: what came
                    // between the unsubscribe and now was not heard.
                    Interlocked.Add(ref _resyncs, _fanout.DeliverLocal(userId, ServerFrames.Resync(null)));
                }
            }

            held.Ready.TrySetResult(); // without Redis too: the waiting socket goes on, the node is degraded and will resync it
            return;
        }

        if (held is null)
        {
            return;
        }

        _held.TryRemove(new KeyValuePair<long, Held>(userId, held));
        held.Ready.TrySetResult();
        EnqueueHolder(HolderAction.Leave, userId, held); // also after a resubscribe-all dropped the handler: what was skipped is told
        if (held.Handler is { } subscribed)
        {
            await subscriber.UnsubscribeAsync(RedisChannel.Literal(_channels.User(userId)), subscribed);
        }

        if (_connections.Holds(userId))
        {
            _cameBack.Add(userId);
            _interest.Writer.TryWrite(userId); // came back while it was being dropped
        }
    }

    /// <summary>
    /// After a silent stop (the canary, over a connection that looks up): every subscription made again from scratch.
    /// Over a lost connection there is nothing to do: StackExchange.Redis resubscribes when it reconnects.
    /// </summary>
    private async Task ResubscribeAllAsync(ISubscriber subscriber)
    {
        if (!_redis.IsConnected)
        {
            return;
        }

        if (Interlocked.Exchange(ref _control, null) is { } control)
        {
            await control.UnsubscribeAsync();
        }

        if (Interlocked.Exchange(ref _own, null) is { } own)
        {
            await own.UnsubscribeAsync();
        }

        await EnsureBaseAsync(subscriber);
        foreach (var (userId, held) in _held)
        {
            if (held.Handler is { } handler)
            {
                held.Handler = null;
                await subscriber.UnsubscribeAsync(RedisChannel.Literal(_channels.User(userId)), handler);
            }

            await SettleAsync(subscriber, userId);
        }

        ResubscribeGroups();
    }

    private static async Task<ChannelMessageQueue> SubscribeAsync(ISubscriber subscriber, string channel, Action<ChannelMessage> handler)
    {
        var queue = await subscriber.SubscribeAsync(RedisChannel.Literal(channel));
        queue.OnMessage(handler);
        return queue;
    }

    /// <summary>A frame for one user, on a thread-pool thread: put back in its publisher's order, then queued on the user's local sockets as it came.</summary>
    private void OnUser(long userId, Held held, RedisValue value)
    {
        if (!TryParse(value, out var parsed) || parsed.Origin == _node.Incarnation)
        {
            return; // this node delivered its own locally already
        }

        if (parsed.Kind == BusKind.Holder)
        {
            HeardHolder(userId, parsed); // who else holds the user (ClusterBus.Holders.cs)
            Interlocked.Increment(ref _received); // after: once counted, the notice is in the publish loop's queue (tests rely on it)
            return;
        }

        Interlocked.Increment(ref _received);

        if (parsed.Kind != BusKind.Frame)
        {
            Interlocked.Increment(ref _malformed);
            return;
        }

        if (!_connections.Holds(userId))
        {
            Interlocked.Increment(ref _foreign); // the user's last socket just left (the unsubscribe is on its way)
            return;
        }

        var number = parsed.Ids[0];
        var frame = parsed.Frame.ToArray();
        lock (held)
        {
            held.Sequences ??= [];
            if (!held.Sequences.TryGetValue(parsed.Origin, out var order))
            {
                held.Sequences[parsed.Origin] = order = new UserOrder(this, userId, held);
            }

            order.Accept(number, frame);
        }
    }

    private long _gapsGivenUp;

    /// <summary>Revocations and invalidations committed on other nodes.</summary>
    private void OnControl(ChannelMessage message)
    {
        if (!TryParse(message.Message, out var parsed) || parsed.Origin == _node.Incarnation)
        {
            return;
        }

        Interlocked.Increment(ref _received);
        switch (parsed.Kind)
        {
            case BusKind.Revoked:
                _sessions.MarkRevokedElsewhere(parsed.Ids);
                _fanout.SessionsRevoked(parsed.Ids);
                break;
            case BusKind.Membership:
                _versions.Invalidate(parsed.Ids[0]);
                GroupChanged(parsed.Ids[0]);
                break;
            case BusKind.Pair:
                _versions.InvalidatePair(parsed.Ids[0], parsed.Ids[1]);
                break;
            case BusKind.Moved:
                MovedElsewhere(parsed.Ids);
                break;
            default:
                Interlocked.Increment(ref _malformed);
                break;
        }
    }

    /// <summary>The node channel: this incarnation's canary coming back.</summary>
    private void OnOwn(ChannelMessage message)
    {
        if (TryParse(message.Message, out var parsed) && parsed.Kind == BusKind.Canary && parsed.Origin == _node.Incarnation)
        {
            CanaryReturned(parsed.Ids[0]);
        }
    }

    private bool TryParse(RedisValue value, out BusMessage parsed)
    {
        if (value.IsNull || !BusWire.TryParse((ReadOnlyMemory<byte>)value, out parsed))
        {
            parsed = default;
            var count = Interlocked.Increment(ref _malformed);
            if (count == 1 || count % 10_000 == 0)
            {
                LogMalformed(_logger, count); // a flood of them must not flood the log
            }

            return false;
        }

        return true;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster bus: subscribing user {UserId}'s channel took too long; going on without it")]
    private static partial void LogSubscribeSlow(ILogger logger, long userId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster bus: a subscription change failed")]
    private static partial void LogSubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster bus: dropped a payload that does not parse ({Count} so far)")]
    private static partial void LogMalformed(ILogger logger, long count);
}
