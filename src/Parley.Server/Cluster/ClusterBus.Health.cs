using System.Collections.Concurrent;
using System.Threading.Channels;
using Parley.Protocol;
using Parley.Storage;
using StackExchange.Redis;

namespace Parley.Server.Cluster;

/// <summary>
/// Bus loss and recovery (docs/cluster.md, "When Redis fails"). The node is degraded (<c>/health/ready</c> 503 with the
/// reason) from start until its first canary comes back, whenever a Redis connection fails, and when its canary stops
/// coming back (<see cref="CanaryMonitor"/>: the subscription silently stopped; every subscription is then made again).
/// It recovers when a canary returns over a connected multiplexer (so the subscriptions deliver again): it drops its
/// conversation views and cached sessions (changes and revocations may have been lost), sends <c>resync</c> to every
/// local socket, and tells the other nodes on the control channel which conversations it failed to publish for, so
/// their members get <c>resync</c> with those conversationIds; control payloads it lost are published again.
/// </summary>
public sealed partial class ClusterBus
{
    private const int MaxRemembered = 10_000;

    private readonly CanaryMonitor _canary;
    private readonly object _stateLock = new();
    private string? _degraded = "starting: the bus has not delivered this node's canary yet";
    private bool _publishTrouble;

    // What failed to go out: conversations whose members elsewhere may have missed frames, and control payloads.
    private readonly ConcurrentDictionary<long, byte> _moved = new();
    private readonly ConcurrentQueue<byte[]> _lostControl = new();
    private int _lostControlCount;
    private volatile bool _movedOverflow;
    // Bounded, like what one announcement may make this node look up: past either, everyone here resyncs instead
    // (cheaper than thousands of view loads, and a flood of announcements cannot pile up).
    private const int MaxMovedLookups = 1_000;
    private readonly Channel<long[]> _movedElsewhere = Channel.CreateBounded<long[]>(new BoundedChannelOptions(256) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>Why the bus is degraded, or null when it delivers.</summary>
    public string? Degraded
    {
        get
        {
            lock (_stateLock)
            {
                return _degraded;
            }
        }
    }

    private void SetDegraded(string reason)
    {
        lock (_stateLock)
        {
            if (_degraded is not null)
            {
                return;
            }

            _degraded = reason;
        }

        LogDegraded(_logger, reason);
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e) =>
        SetDegraded($"the Redis {e.ConnectionType} connection failed ({e.FailureType})");

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        // Not yet recovered: the node recovers when its canary comes back through the restored subscriptions.
    }

    /// <summary>A payload that did not go out (Redis down, publish failed, queue full): remembered for the recovery.</summary>
    private void Lost(in Outgoing item)
    {
        Interlocked.Increment(ref _publishFailed);
        _publishTrouble = true;
        if (item.Kind == OutKind.Holder)
        {
            _holderNoticeLost = true; // the others may not know what this node holds: it joins every user again on return
            if (item.Payload.Length > BusWire.HeaderLength + 4 && item.Payload[BusWire.HeaderLength + 4] == 4)
            {
                _movedOverflow = true; // a resync of what was skipped did not go out: every socket resyncs on return
            }

            return;
        }

        if (item.Kind == OutKind.Control)
        {
            if (Interlocked.Increment(ref _lostControlCount) <= MaxRemembered)
            {
                _lostControl.Enqueue(item.Payload);
            }

            return;
        }

        if (item.ConversationId != 0)
        {
            if (_moved.Count < MaxRemembered)
            {
                _moved.TryAdd(item.ConversationId, 0);
            }
            else
            {
                _movedOverflow = true;
            }
        }
    }

    private async Task CanaryLoopAsync(CancellationToken stoppingToken)
    {
        var subscriber = _redis.Subscriber;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(10, _options.CanaryIntervalMs)), _time);
        do
        {
            var (number, stopped) = _canary.Tick();
            if (stopped)
            {
                SetDegraded($"this node's canary did not come back {_canary.Misses} times in a row (the subscription stopped delivering)");
                _interest.Writer.TryWrite(ResubscribeAll);
            }

            if (_redis.IsConnected)
            {
                try
                {
                    await subscriber.PublishAsync(RedisChannel.Literal(_channels.Node(_node.Incarnation)), BusWire.Canary(_node.Incarnation, number));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    SetDegraded("publishing the canary failed: " + e.GetType().Name);
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private void CanaryReturned(long number)
    {
        if (!_canary.Returned(number) || !_redis.IsConnected)
        {
            return;
        }

        string? was;
        bool announce;
        lock (_stateLock)
        {
            was = _degraded;
            _degraded = null;
            announce = _publishTrouble;
            _publishTrouble = false;
        }

        if (was is not null)
        {
            // In the interest loop: users who connected while Redis was away are subscribed first, then told to resync.
            Volatile.Write(ref _recoveredFrom, was);
            _interest.Writer.TryWrite(RecoverCommand);
        }

        if (was is not null || announce)
        {
            Announce();
        }
    }

    private string? _recoveredFrom;

    /// <summary>
    /// The subscriptions deliver again: subscribe the users whose channel could not be subscribed meanwhile (before
    /// telling them to catch up, so nothing falls between their sync and the first live push), forget what may have
    /// changed unheard, and tell every local device to catch up.
    /// </summary>
    private async Task RecoverAsync(ISubscriber subscriber)
    {
        foreach (var (userId, held) in _held)
        {
            if (held.Handler is null)
            {
                await SettleAsync(subscriber, userId);
            }
        }

        RejoinAll(); // notices may have been lost both ways (ClusterBus.Holders.cs)
        _views.Clear();
        _sessions.DropCache();
        await RebuildGroupsAsync(); // conversation channels made to match what may have changed unheard, before the resync
        var queued = _fanout.DeliverToAll(ServerFrames.Resync(null));
        Interlocked.Add(ref _resyncs, queued);
        LogRecovered(_logger, Interlocked.Exchange(ref _recoveredFrom, null) ?? "trouble", queued);
    }

    /// <summary>Publishes (in order, through the publisher) the control payloads that were lost and the conversations that moved.</summary>
    private void Announce()
    {
        if (_holderNoticeLost)
        {
            RejoinAll();
        }

        while (_lostControl.TryDequeue(out var payload))
        {
            Interlocked.Decrement(ref _lostControlCount);
            Enqueue(new Outgoing(OutKind.Control, 0, 0, payload, null, null));
        }

        var overflow = _movedOverflow;
        _movedOverflow = false;
        var moved = new List<long>();
        foreach (var id in _moved.Keys)
        {
            if (_moved.TryRemove(id, out _))
            {
                moved.Add(id);
            }
        }

        if (overflow)
        {
            Enqueue(new Outgoing(OutKind.Control, 0, 0, BusWire.Ids(BusKind.Moved, _node.Incarnation, []), null, null)); // everyone resyncs
        }
        else if (moved.Count > 0)
        {
            Enqueue(new Outgoing(OutKind.Control, 0, 0, BusWire.Ids(BusKind.Moved, _node.Incarnation, moved), null, null));
        }
    }

    /// <summary>Another node announced conversations it could not publish for: handled apart from the control channel's reader.</summary>
    private void MovedElsewhere(long[] conversationIds)
    {
        if (conversationIds.Length == 0 || conversationIds.Length > MaxMovedLookups || !_movedElsewhere.Writer.TryWrite(conversationIds))
        {
            Interlocked.Add(ref _resyncs, _fanout.DeliverToAll(ServerFrames.Resync(null)));
        }
    }

    /// <summary>Members held here of conversations that moved elsewhere get <c>resync</c> with those conversationIds.</summary>
    private async Task MovedLoopAsync(CancellationToken stoppingToken)
    {
        while (await _movedElsewhere.Reader.WaitToReadAsync(stoppingToken))
        {
            while (_movedElsewhere.Reader.TryRead(out var conversationIds))
            {
                foreach (var conversationId in conversationIds)
                {
                    try
                    {
                        if (await _views.GetAsync(conversationId, stoppingToken) is not { } view)
                        {
                            continue;
                        }

                        byte[]? frame = null;
                        foreach (var (userId, _) in view.MemberList)
                        {
                            if (_connections.Holds(userId))
                            {
                                Interlocked.Add(ref _resyncs, _fanout.DeliverLocal(userId, frame ??= ServerFrames.Resync([Ids.Format(conversationId)])));
                            }
                        }
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        LogMovedFailed(_logger, e);
                    }
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster bus degraded: {Reason}")]
    private static partial void LogDegraded(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster bus delivers again (was: {Reason}); resync sent to {Sockets} local sockets")]
    private static partial void LogRecovered(ILogger logger, string reason, int sockets);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster bus: telling the members of a moved conversation to resync failed")]
    private static partial void LogMovedFailed(ILogger logger, Exception exception);
}
