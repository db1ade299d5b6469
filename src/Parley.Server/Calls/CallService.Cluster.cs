using System.Buffers.Binary;
using System.Collections.Concurrent;
using Parley.Protocol;
using Parley.Server.Accounts;
using Parley.Server.Http;
using StackExchange.Redis;

namespace Parley.Server.Calls;

/// <summary>What a node asks of the node that holds a call (its id % 1024).</summary>
internal enum RelayAction : byte
{
    Accept = 1,
    Reject = 2,
    Hangup = 3,
    Signal = 4,
    DeviceGone = 5,
    DeviceBack = 6,
    EndBetween = 7, // to every node: a block ends the calls between two users wherever they are held
}

/// <summary>
/// Cluster mode: calls cross nodes over one Redis channel of their own (<c>{Cluster:ChannelPrefix}:calls</c>), beside
/// the bus rather than in it (calls are few; every node hears every call payload and keeps what concerns its sockets).
/// A call is held by the node that took the invite, and its id names that node (id % 1024 = <c>Cluster:NodeId</c>):
/// a frame of a device on another node is forwarded to it (<see cref="RelayAction"/>), and the frames the book sends
/// to users and devices are published for the other nodes to deliver to their sockets (an error answering a
/// forwarded frame goes back to its connection). Not (yet) across nodes: <c>busy</c> for a call held elsewhere, and a
/// device reconnecting to a third node within its window (the call ends <c>disconnected</c>).
/// </summary>
public sealed partial class CallService
{
    private const byte Deliver = 1, Command = 2;
    private const int EveryNode = -1; // a command's target: every node but the sender

    private ISubscriber? _bus;
    private RedisChannel _channel;
    private int _node = -1;
    private Social.PresenceTracker? _presence;

    // Devices of this node in a call held elsewhere, and that node: their socket losses and returns are forwarded.
    private readonly ConcurrentDictionary<(long UserId, long DeviceId), int> _remote = new();

    private void StartRelay(Cluster.ClusterOptions cluster, Cluster.ClusterRedis redis, Social.PresenceTracker? presence)
    {
        _node = cluster.NodeId;
        _presence = presence;
        _bus = redis.Subscriber;
        _channel = RedisChannel.Literal(cluster.ChannelPrefix + ":calls");
        _ = SubscribeAsync();
    }

    private async Task SubscribeAsync()
    {
        try
        {
            var queue = await _bus!.SubscribeAsync(_channel);
            queue.OnMessage(message => Received(message.Message));
        }
        catch (Exception e)
        {
            LogRelayFailed(_logger, e);
        }
    }

    private async ValueTask<bool> OnlineElsewhereAsync(long userId) =>
        _presence?.OnlineAmongAsync([userId]) is { } online && (await online).Contains(userId);

    private static int Owner(long callId) => (int)(callId % 1024);

    /// <summary>True when the call is held by another node and the frame went there.</summary>
    private bool Forward(RelayAction action, Caller caller, long connectionId, long callId, string? refJson, ReadOnlySpan<byte> data)
    {
        if (_bus is null || Owner(callId) == _node)
        {
            return false;
        }

        // The only device that signals a call held by another node is the callee's device that accepted it there
        // (the caller's device is on the owner node): anything else is answered here, not_found, and never crosses
        // the bus (a guessed call id would otherwise publish 64 KiB signals to every node, or wait forever for a
        // node that does not exist).
        if (action == RelayAction.Signal && !(_remote.TryGetValue((caller.UserId, caller.SessionId), out var accepted) && accepted == Owner(callId)))
        {
            return false;
        }

        var refBytes = refJson is null ? [] : System.Text.Encoding.UTF8.GetBytes(refJson);
        var payload = new byte[1 + 4 + 4 + 1 + 32 + 4 + refBytes.Length + data.Length];
        payload[0] = Command;
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(1), _node);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(5), Owner(callId));
        payload[9] = (byte)action;
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(10), caller.UserId);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(18), caller.SessionId);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(26), connectionId);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(34), callId);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(42), refBytes.Length);
        refBytes.CopyTo(payload.AsSpan(46));
        data.CopyTo(payload.AsSpan(46 + refBytes.Length));
        if (action == RelayAction.Accept)
        {
            if (_remote.Count > 100_000)
            {
                _remote.Clear(); // bounded; a forgotten device only stops forwarding its socket changes
            }

            _remote[(caller.UserId, caller.SessionId)] = Owner(callId);
        }

        Publish(payload);
        return true;
    }

    /// <summary>A block: every other node ends the calls it holds between the two users.</summary>
    private void BroadcastEndBetween(long a, long b)
    {
        if (_bus is null)
        {
            return;
        }

        var payload = new byte[46];
        payload[0] = Command;
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(1), _node);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(5), EveryNode);
        payload[9] = (byte)RelayAction.EndBetween;
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(10), a);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(18), b);
        Publish(payload);
    }

    private void RemoteDeviceChanged(long userId, long deviceId, bool back)
    {
        if (_bus is null || !_remote.TryGetValue((userId, deviceId), out var owner) || (!back && ((ICallSink)this).DeviceOnline(userId, deviceId)))
        {
            return;
        }

        var payload = new byte[46];
        payload[0] = Command;
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(1), _node);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(5), owner);
        payload[9] = (byte)(back ? RelayAction.DeviceBack : RelayAction.DeviceGone);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(10), userId);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(18), deviceId);
        Publish(payload);
    }

    /// <summary>A frame of the book for a user's sockets on other nodes (only the device, or all but one; or one connection of one node).</summary>
    private void Relay(long userId, long onlyDevice, long exceptDevice, byte[] frame, int connectionNode = -1, long connectionId = 0)
    {
        if (_bus is null)
        {
            return;
        }

        var payload = new byte[1 + 4 + 24 + 4 + 8 + frame.Length];
        payload[0] = Deliver;
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(1), _node);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(5), userId);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(13), onlyDevice);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(21), exceptDevice);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(29), connectionNode);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(33), connectionId);
        frame.CopyTo(payload.AsSpan(41));
        Publish(payload);
    }

    private void Publish(byte[] payload)
    {
        try
        {
            // Fire and forget: one connection writes commands in call order, so one call's payloads keep theirs.
            _bus!.Publish(_channel, payload, CommandFlags.FireAndForget);
        }
        catch (Exception e)
        {
            LogRelayFailed(_logger, e); // Redis away: the call's other side hears nothing (its own timers end the call)
        }
    }

    private void Received(RedisValue value)
    {
        try
        {
            ReadOnlySpan<byte> payload = (byte[])value!;
            if (payload.Length < 5 || BinaryPrimitives.ReadInt32LittleEndian(payload[1..]) == _node)
            {
                return; // this node's own
            }

            if (payload[0] == Deliver && payload.Length >= 41)
            {
                DeliverHere(
                    BinaryPrimitives.ReadInt64LittleEndian(payload[5..]),
                    BinaryPrimitives.ReadInt64LittleEndian(payload[13..]),
                    BinaryPrimitives.ReadInt64LittleEndian(payload[21..]),
                    BinaryPrimitives.ReadInt32LittleEndian(payload[29..]),
                    BinaryPrimitives.ReadInt64LittleEndian(payload[33..]),
                    payload[41..].ToArray());
            }
            else if (payload[0] == Command && payload.Length >= 46 && BinaryPrimitives.ReadInt32LittleEndian(payload[5..]) is var target && (target == _node || target == EveryNode))
            {
                RunForwarded(payload);
            }
        }
        catch (Exception e)
        {
            LogRelayFailed(_logger, e);
        }
    }

    private void DeliverHere(long userId, long onlyDevice, long exceptDevice, int connectionNode, long connectionId, byte[] frame)
    {
        if (connectionNode >= 0 && connectionNode != _node)
        {
            return;
        }

        foreach (var connection in _connections.ForUser(userId))
        {
            if ((connectionNode < 0 || connection.Id == connectionId)
                && (onlyDevice == 0 || connection.SessionId == onlyDevice)
                && (exceptDevice == 0 || connection.SessionId != exceptDevice))
            {
                connection.TrySend(frame);
            }
        }
    }

    /// <summary>A frame of a device on another node, for a call held here: run as if it came from a local socket.</summary>
    private void RunForwarded(ReadOnlySpan<byte> payload)
    {
        var origin = BinaryPrimitives.ReadInt32LittleEndian(payload[1..]);
        var action = (RelayAction)payload[9];
        var userId = BinaryPrimitives.ReadInt64LittleEndian(payload[10..]);
        var deviceId = BinaryPrimitives.ReadInt64LittleEndian(payload[18..]);
        var connectionId = BinaryPrimitives.ReadInt64LittleEndian(payload[26..]);
        var callId = BinaryPrimitives.ReadInt64LittleEndian(payload[34..]);
        var refLength = BinaryPrimitives.ReadInt32LittleEndian(payload[42..]);
        if (refLength < 0 || 46 + refLength > payload.Length)
        {
            return;
        }

        var refJson = refLength == 0 ? null : System.Text.Encoding.UTF8.GetString(payload.Slice(46, refLength));
        var data = payload[(46 + refLength)..];
        Refusal? refusal = null;
        switch (action)
        {
            case RelayAction.Accept:
                refusal = Book.Accept(userId, deviceId, callId);
                break;
            case RelayAction.Reject:
                refusal = Book.Reject(userId, callId);
                break;
            case RelayAction.Hangup:
                refusal = Book.Hangup(userId, deviceId, callId);
                break;
            case RelayAction.Signal:
                refusal = Book.Signal(userId, deviceId, callId, data);
                break;
            case RelayAction.DeviceGone:
                Book.DeviceDisconnected(userId, deviceId);
                break;
            case RelayAction.DeviceBack:
                Book.DeviceConnected(userId, deviceId, 0);
                break;
            case RelayAction.EndBetween:
                Book.EndBetween(userId, deviceId); // the two users (the payload's user and device fields)
                break;
        }

        if (refusal is not null)
        {
            Relay(userId, 0, 0, ServerFrames.Error(refJson, refusal.Code, refusal.Detail), origin, connectionId);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Calls: a payload between nodes could not be relayed")]
    private static partial void LogRelayFailed(ILogger logger, Exception exception);
}
