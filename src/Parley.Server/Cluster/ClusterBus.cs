using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Parley.Protocol;
using Parley.Server.Accounts;
using Parley.Server.Events;
using Parley.Server.Messaging;
using Parley.Server.Operations;
using Parley.Server.Realtime;
using Parley.Storage;
using Parley.Storage.Messaging;
using StackExchange.Redis;

namespace Parley.Server.Cluster;

/// <summary>
/// The cluster bus (docs/cluster.md, "The bus"): the post-commit route's second sink, beside the local fan-out, in
/// cluster mode only. What the route hands it (already committed, in commit order) is queued, never waited on, and one
/// publisher publishes it in order over the node's one Redis connection: a frame's ready bytes to each recipient's user
/// channel (a 1:1 message: the recipient's and the sender's, for the sender's other devices), revocations and cache
/// invalidations to the control channel. The receiving side is in ClusterBus.Receive.cs; health and recovery in
/// ClusterBus.Health.cs. The bus may lose anything: PostgreSQL and the dense seq are the truth, and a node that may
/// have lost something tells the devices concerned to <c>resync</c>.
/// </summary>
public sealed partial class ClusterBus : BackgroundService, IPostCommitSink
{
    private readonly ClusterRedis _redis;
    private readonly NodeIdentity _node;
    private readonly ClusterOptions _options;
    private readonly Fanout _fanout;
    private readonly ConnectionRegistry _connections;
    private readonly ConversationViews _views;
    private readonly MembershipVersions _versions;
    private readonly SessionGuard _sessions;
    private readonly TimeProvider _time;
    private readonly ILogger<ClusterBus> _logger;
    private readonly BusChannels _channels;

    private readonly Channel<Outgoing> _outgoing = Channel.CreateUnbounded<Outgoing>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<(Task<long> Publish, Outgoing Item)> _inFlight = Channel.CreateUnbounded<(Task<long>, Outgoing)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private int _queued;

    // Counters (the "Parley" meter; docs/cluster.md lists them).
    private long _published;
    private long _publishFailed;
    private long _received;
    private long _foreign;
    private long _malformed;
    private long _resyncs;

    public ClusterBus(
        ClusterRedis redis,
        NodeIdentity node,
        ClusterOptions options,
        Fanout fanout,
        ConnectionRegistry connections,
        ConversationViews views,
        MembershipVersions versions,
        SessionGuard sessions,
        MessageStore messages,
        TimeProvider time,
        IMeterFactory meters,
        ILogger<ClusterBus> logger)
    {
        _redis = redis;
        _node = node;
        _options = options;
        _fanout = fanout;
        _connections = connections;
        _views = views;
        _versions = versions;
        _sessions = sessions;
        _time = time;
        _logger = logger;
        _channels = new BusChannels(options.ChannelPrefix);
        _canary = new CanaryMonitor(Math.Max(1, options.CanaryMisses));
        _connections.Interest = this;
        var meter = meters.Create(ParleyMetrics.MeterName);
        meter.CreateObservableCounter("parley.bus.published", () => Volatile.Read(ref _published), "{payload}", "Payloads this node published on the cluster bus.");
        meter.CreateObservableCounter("parley.bus.publish_failures", () => Volatile.Read(ref _publishFailed), "{payload}", "Payloads this node could not publish (Redis down, queue full); their conversations are announced as moved on recovery.");
        meter.CreateObservableCounter("parley.bus.skipped_publishes", () => Volatile.Read(ref _skippedPublishes), "{payload}", "Frames for a user's channel not published because no other node holds the user (docs/cluster.md, \"No echo\").");
        meter.CreateObservableCounter("parley.bus.received", () => Volatile.Read(ref _received), "{payload}", "Payloads received from other nodes.");
        meter.CreateObservableCounter("parley.bus.foreign_frames", () => Volatile.Read(ref _foreign), "{payload}", "Frames received for a user this node holds no connection of (interest routing keeps this at 0 but for races with a leaving user).");
        meter.CreateObservableCounter("parley.bus.malformed", () => Volatile.Read(ref _malformed), "{payload}", "Payloads dropped because they did not parse (another version, or a rogue publisher).");
        meter.CreateObservableCounter("parley.bus.resyncs", () => Volatile.Read(ref _resyncs), "{frame}", "resync frames queued on local sockets after bus trouble.");
        meter.CreateObservableCounter("parley.bus.gaps_given_up", () => Volatile.Read(ref _gapsGivenUp), "{gap}", "Frames that overtook an earlier one on a user channel which then never came (lost on the bus): delivered without it after a short wait.");
        meter.CreateObservableGauge("parley.bus.user_subscriptions", () => _held.Count, "{channel}", "User channels this node is subscribed to (users it holds connections of).");
        meter.CreateObservableGauge("parley.bus.degraded", () => Degraded is null ? 0 : 1, null, "1 while the bus is degraded (Redis unreachable or the canary lost): /health/ready is 503.");
        InitGroups(messages, meter); // conversation channels of big groups: ClusterBus.Groups.cs
    }

    /// <summary>How many payloads wait to be published (tests, diagnostics).</summary>
    public int Queued => Volatile.Read(ref _queued);

    public void Message(CommittedMessage message, IReadOnlyList<(long UserId, long JoinedSeq)> members, long? originConnectionId)
    {
        if (!GroupMessage(message, members))
        {
            Enqueue(new Outgoing(OutKind.Message, message.Row.ConversationId, message.Row.Seq, message.MessageFrame, members, null));
        }
    }

    public void Recalled(long conversationId, long seq, long by, IReadOnlyList<(long UserId, long JoinedSeq)> members)
    {
        if (!GroupRecalled(conversationId, seq, by, members))
        {
            Enqueue(new Outgoing(OutKind.Recall, conversationId, seq, ServerFrames.Recalled(Ids.Format(conversationId), seq, Ids.Format(by)), members, null));
        }
    }

    public void Read(long conversationId, long userId, long seq, IReadOnlyList<long> recipients, long? originConnectionId) =>
        Enqueue(new Outgoing(OutKind.Users, conversationId, 0, ServerFrames.Read(Ids.Format(conversationId), Ids.Format(userId), seq), null, recipients));

    public void Typing(long conversationId, long userId, IReadOnlyList<long> recipients)
    {
        if (!GroupTyping(conversationId, userId, recipients))
        {
            Enqueue(new Outgoing(OutKind.Users, 0, 0, ServerFrames.Typing(Ids.Format(conversationId), Ids.Format(userId)), null, recipients, Ephemeral: true));
        }
    }

    public void Notify(Notification notification) =>
        Enqueue(new Outgoing(OutKind.Users, 0, 0, ServerFrames.Notify(notification.Kind, notification.Data), null, notification.UserIds));

    public void Presence(long userId, bool online, long? lastSeenAt, IReadOnlyList<long> friends) =>
        Enqueue(new Outgoing(OutKind.Users, 0, 0, ServerFrames.Presence(Ids.Format(userId), online, lastSeenAt), null, friends, Ephemeral: true));

    public void SessionsRevoked(IReadOnlyList<long> sessionIds) =>
        Enqueue(new Outgoing(OutKind.Control, 0, 0, BusWire.Ids(BusKind.Revoked, _node.Incarnation, sessionIds), null, null));

    public void MembershipChanged(long conversationId)
    {
        Enqueue(new Outgoing(OutKind.Control, 0, 0, BusWire.Ids(BusKind.Membership, _node.Incarnation, [conversationId]), null, null));
        GroupChanged(conversationId);
    }

    public void PairChanged(long userA, long userB) =>
        Enqueue(new Outgoing(OutKind.Control, 0, 0, BusWire.Ids(BusKind.Pair, _node.Incarnation, [userA, userB]), null, null));

    /// <summary>Queues without waiting (the route's consumer calls this); past the limit the item is dropped and remembered.</summary>
    private void Enqueue(in Outgoing item)
    {
        if (Interlocked.Increment(ref _queued) > Math.Max(1, _options.PublishQueueLimit))
        {
            Interlocked.Decrement(ref _queued);
            Lost(item);
            return;
        }

        _outgoing.Writer.TryWrite(item);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var redis = (ConnectionMultiplexer)_redis.Multiplexer;
        redis.ConnectionFailed += OnConnectionFailed;
        redis.ConnectionRestored += OnConnectionRestored;
        try
        {
            await Task.WhenAll(
                SuperviseAsync(PublishLoopAsync, "publisher", stoppingToken),
                SuperviseAsync(ConfirmLoopAsync, "publish confirmations", stoppingToken),
                SuperviseAsync(InterestLoopAsync, "subscriptions", stoppingToken),
                SuperviseAsync(CanaryLoopAsync, "canary", stoppingToken),
                SuperviseAsync(MovedLoopAsync, "moved conversations", stoppingToken),
                SuperviseAsync(GroupLoopAsync, "conversation channels", stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutting down
        }
        finally
        {
            redis.ConnectionFailed -= OnConnectionFailed;
            redis.ConnectionRestored -= OnConnectionRestored;
        }
    }

    /// <summary>
    /// Runs one of the bus's loops and starts it again should it ever fail: a fault in the bus must not stop the host
    /// (a background service's exception would), since the node serves from PostgreSQL without it.
    /// </summary>
    private async Task SuperviseAsync(Func<CancellationToken, Task> loop, string name, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await loop(stoppingToken);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogLoopFailed(_logger, e, name);
                await Task.Delay(TimeSpan.FromSeconds(1), _time, stoppingToken);
            }
        }
    }

    /// <summary>The one publisher: publishes in queue order (StackExchange.Redis writes commands in call order on one connection).</summary>
    private async Task PublishLoopAsync(CancellationToken stoppingToken)
    {
        var subscriber = _redis.Subscriber;
        while (await _outgoing.Reader.WaitToReadAsync(stoppingToken))
        {
            while (_outgoing.Reader.TryRead(out var item))
            {
                Interlocked.Decrement(ref _queued);
                try
                {
                    PublishOne(subscriber, item);
                }
                catch (Exception e)
                {
                    LogPublishFailed(_logger, e);
                    Lost(item);
                }
            }
        }
    }

    private void PublishOne(ISubscriber subscriber, in Outgoing item)
    {
        if (item.Command is { } command)
        {
            Holder(subscriber, command); // who else holds whom: kept up to date even while Redis is away (ClusterBus.Holders.cs)
            return;
        }

        if (!_redis.IsConnected)
        {
            Lost(item);
            return;
        }

        if (item.Kind == OutKind.Control)
        {
            Publish(subscriber, _channels.Control, item.Payload, item);
            return;
        }

        if (item.Kind == OutKind.Conversation)
        {
            PublishConversation(subscriber, item); // a big group's channel: once (ClusterBus.Groups.cs)
            return;
        }

        if (item.Members is { } members)
        {
            for (var i = 0; i < members.Count; i++)
            {
                var (userId, joinedSeq) = members[i];
                if (joinedSeq < item.Seq)
                {
                    PublishFrame(subscriber, userId, item);
                }
            }
        }
        else if (item.Users is { } users)
        {
            for (var i = 0; i < users.Count; i++)
            {
                PublishFrame(subscriber, users[i], item);
            }
        }
    }

    /// <summary>
    /// One frame to one user's channel, numbered per channel (1, 2, 3, ...) so the receiving node can put back in order
    /// what StackExchange.Redis hands its handlers concurrently (ClusterBus.Receive.cs). Only this loop numbers.
    /// </summary>
    private void PublishFrame(ISubscriber subscriber, long userId, in Outgoing item)
    {
        if (SkipUserChannel(userId, item))
        {
            return; // no other node holds the user (ClusterBus.Holders.cs)
        }

        if (_channelSequences.Count >= MaxNumberedChannels)
        {
            _channelSequences.Clear(); // bounded: numbers start again at 1, which receivers take as late (delivered at once, unordered) until they pass what they expect
        }

        ref var sequence = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_channelSequences, userId, out _);
        sequence++;
        Publish(subscriber, _channels.User(userId), BusWire.Frame(_node.Incarnation, sequence, item.Payload), item);
    }

    private const int MaxNumberedChannels = 250_000; // about 7 MiB at most
    private readonly Dictionary<long, long> _channelSequences = [];

    private void Publish(ISubscriber subscriber, string channel, byte[] payload, in Outgoing item)
    {
        _inFlight.Writer.TryWrite((subscriber.PublishAsync(RedisChannel.Literal(channel), payload), item));
        Interlocked.Increment(ref _published);
    }

    /// <summary>
    /// Awaits publishes in order; one that failed is remembered (its conversation is announced as moved on recovery).
    /// What is in flight is taken as a batch and only its last publish awaited: replies come back in order on the one
    /// connection, so by then the others have (almost always) completed too and are checked without a wait each.
    /// </summary>
    private async Task ConfirmLoopAsync(CancellationToken stoppingToken)
    {
        var batch = new List<(Task<long> Publish, Outgoing Item)>();
        while (await _inFlight.Reader.WaitToReadAsync(stoppingToken))
        {
            while (batch.Count < 4096 && _inFlight.Reader.TryRead(out var entry))
            {
                batch.Add(entry);
            }

            await ((Task)batch[^1].Publish).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var (publish, item) in batch)
            {
                if (!publish.IsCompleted)
                {
                    await ((Task)publish).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }

                if (!publish.IsCompletedSuccessfully)
                {
                    _ = publish.Exception; // observed
                    Lost(item);
                }
            }

            batch.Clear();
        }
    }

    private enum OutKind : byte
    {
        /// <summary>A message frame: to the channels of the members who joined before its seq.</summary>
        Message,

        /// <summary>A recall frame: likewise.</summary>
        Recall,

        /// <summary>A frame to the listed users' channels.</summary>
        Users,

        /// <summary>A ready payload for the control channel.</summary>
        Control,

        /// <summary>A ready payload (but its number) for a big group's conversation channel.</summary>
        Conversation,

        /// <summary>A holder command (<see cref="HolderCommand"/>; ClusterBus.Holders.cs), or the notice it published.</summary>
        Holder,
    }

    /// <summary>One thing to publish: for frames, the frame's bytes (wrapped per channel with its number); for control, the ready payload.</summary>
    private readonly record struct Outgoing(
        OutKind Kind,
        long ConversationId,
        long Seq,
        byte[] Payload,
        IReadOnlyList<(long UserId, long JoinedSeq)>? Members,
        IReadOnlyList<long>? Users,
        HolderCommand? Command = null,
        bool Ephemeral = false);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cluster bus: its {Loop} loop failed; starting it again")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception, string loop);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster bus: a publish failed")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception);
}
