using System.Collections.Concurrent;
using System.Threading.Channels;
using Parley.Server.Realtime;
using StackExchange.Redis;

namespace Parley.Server.Cluster;

/// <summary>
/// The receiving side. Interest routing: this node is subscribed to a user's channel while it holds at least one of
/// that user's connections, to the control channel and to its own node channel, so it receives only what its users
/// need. Each subscription is a StackExchange.Redis <see cref="ChannelMessageQueue"/>: the library writes every
/// channel's messages into its queue in arrival order on its reader (a plain handler would be run concurrently, in
/// no order), and each queue is drained by its own sequential loop, so one user's frames keep their order while a
/// flood on one channel cannot hold up another. Receiving never waits on a socket (<see cref="Fanout.DeliverLocal"/>
/// only queues; a full socket is closed and catches up by after=).
/// </summary>
public sealed partial class ClusterBus : IUserInterest
{
    /// <summary>A held user's subscription. Mutated only by the interest loop.</summary>
    private sealed class Held
    {
        public readonly TaskCompletionSource Ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ChannelMessageQueue? Queue;
    }

    private static readonly TimeSpan HeldTimeout = TimeSpan.FromSeconds(5);

    // Commands of the interest loop beside user ids (which are positive).
    private const long ResubscribeAll = long.MinValue;
    private const long RecoverCommand = long.MinValue + 1;

    private readonly ConcurrentDictionary<long, Held> _held = new();
    private readonly Channel<long> _interest = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true });
    private ChannelMessageQueue? _control;
    private ChannelMessageQueue? _own;

    /// <summary>How many user channels this node is subscribed to.</summary>
    public int UserSubscriptions => _held.Count;

    public async ValueTask HeldAsync(long userId, CancellationToken cancellationToken)
    {
        for (var round = 0; round < 3; round++)
        {
            var held = _held.GetOrAdd(userId, static _ => new Held());
            if (held.Ready.Task.IsCompleted && held.Queue is not null)
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

    public void Released(long userId) => _interest.Writer.TryWrite(userId);

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
            if (held.Queue is null && _redis.IsConnected)
            {
                held.Queue = await SubscribeAsync(subscriber, _channels.User(userId), message => OnUser(userId, message));
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
        if (held.Queue is { } queue)
        {
            await queue.UnsubscribeAsync();
        }

        if (_connections.Holds(userId))
        {
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
            if (held.Queue is { } queue)
            {
                held.Queue = null;
                await queue.UnsubscribeAsync();
            }

            await SettleAsync(subscriber, userId);
        }
    }

    private static async Task<ChannelMessageQueue> SubscribeAsync(ISubscriber subscriber, string channel, Action<ChannelMessage> handler)
    {
        var queue = await subscriber.SubscribeAsync(RedisChannel.Literal(channel));
        queue.OnMessage(handler);
        return queue;
    }

    /// <summary>A frame for one user: queued on the user's local sockets as it came (no parse of the JSON, no copy but the frame's own).</summary>
    private void OnUser(long userId, ChannelMessage message)
    {
        if (!TryParse(message.Message, out var parsed) || parsed.Origin == _node.Incarnation)
        {
            return; // this node delivered its own locally already
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

        _fanout.DeliverLocal(userId, parsed.Frame.ToArray());
    }

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
