using System.Text.Json;
using Microsoft.Extensions.Options;
using Parley.Protocol;
using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Storage;

namespace Parley.Server.Calls;

/// <summary>
/// The calls feature behind the socket's <c>call.*</c> frames: an invite is checked as a direct message would be (the
/// conversation's view: membership, blocks, friendship; the sender's send rate, since every call leaves a message),
/// then the <see cref="CallBook"/> decides; an ended call's <c>call</c> message goes through the sender's pipeline
/// (catch-up, the post-commit route, offline pushes), in the caller's name.
/// </summary>
public sealed partial class CallService : ICallSink
{
    private readonly ConversationViews _views;
    private readonly MessageSender _sender;
    private readonly SendRateLimiter _rate;
    private readonly ConnectionRegistry _connections;
    private readonly MessagingOptions _messaging;
    private readonly ILogger<CallService> _logger;
    private readonly TokenBuckets _signals;
    private readonly TokenBuckets _controls;

    public CallService(
        ConversationViews views,
        MessageSender sender,
        SendRateLimiter rate,
        ConnectionRegistry connections,
        TimeProvider time,
        IOptions<CallOptions> options,
        IOptions<MessagingOptions> messaging,
        ILogger<CallService> logger,
        Cluster.ClusterOptions? cluster = null,
        Cluster.ClusterRedis? redis = null,
        Social.PresenceTracker? presence = null)
    {
        _views = views;
        _sender = sender;
        _rate = rate;
        _connections = connections;
        _messaging = messaging.Value;
        _logger = logger;
        Options = options.Value;
        _signals = new TokenBuckets(Options.SignalsPerSecond, Options.SignalBurst, time);
        _controls = new TokenBuckets(Options.ControlsPerSecond, Options.ControlBurst, time);
        Book = new CallBook(time, Options, this, cluster is { Enabled: true } && redis is not null ? cluster.NodeId : -1);
        if (cluster is { Enabled: true } && redis is not null)
        {
            StartRelay(cluster, redis, presence); // CallService.Cluster.cs
        }
    }

    public CallOptions Options { get; }

    public CallBook Book { get; }

    /// <summary><c>call.invite</c>: the caller must be a member of a direct conversation whose peer would accept their messages.</summary>
    public async ValueTask<Refusal?> InviteAsync(Caller caller, long connectionId, CallInviteFrame invite, CancellationToken cancellationToken)
    {
        var conversationId = long.Parse(invite.ConversationId, System.Globalization.CultureInfo.InvariantCulture);
        var view = await _views.GetAsync(conversationId, cancellationToken);
        if (view is null || !view.Members.ContainsKey(caller.UserId))
        {
            return _sender.NotFound(caller); // not theirs to know of, as for a send
        }

        if (!view.IsDirect)
        {
            return DirectOnly;
        }

        var peer = view.PeerOf(caller.UserId)!.Value;
        if (MessageSender.DirectRefusal(view.Blocks(peer), view.Befriends(caller.UserId), _messaging) is { } refusal)
        {
            return refusal;
        }

        if (!await _rate.TryTakeAsync(caller.UserId))
        {
            return CallingTooFast;
        }

        var online = _connections.Holds(peer) || await OnlineElsewhereAsync(peer);
        return Book.Invite(caller.UserId, caller.SessionId, connectionId, peer, online, conversationId, invite.Media, invite.RefJson, out _);
    }

    // accept, reject and hangup are rate limited per device in a bucket of their own (a device that spent its signals
    // can still hang up): a flood of them (guessed call ids) would otherwise cost a lock of the book each, and in
    // cluster mode a publish to every node each.
    public Refusal? Accept(Caller caller, long connectionId, CallAcceptFrame accept) =>
        !_controls.TryTake(caller.SessionId, out _) ? ControllingTooFast
        : Forward(RelayAction.Accept, caller, connectionId, Id(accept.CallId), accept.RefJson, default) ? null : Book.Accept(caller.UserId, caller.SessionId, Id(accept.CallId));

    public Refusal? Reject(Caller caller, long connectionId, CallRejectFrame reject) =>
        !_controls.TryTake(caller.SessionId, out _) ? ControllingTooFast
        : Forward(RelayAction.Reject, caller, connectionId, Id(reject.CallId), reject.RefJson, default) ? null : Book.Reject(caller.UserId, Id(reject.CallId));

    public Refusal? Hangup(Caller caller, long connectionId, CallHangupFrame hangup) =>
        !_controls.TryTake(caller.SessionId, out _) ? ControllingTooFast
        : Forward(RelayAction.Hangup, caller, connectionId, Id(hangup.CallId), hangup.RefJson, default) ? null : Book.Hangup(caller.UserId, caller.SessionId, Id(hangup.CallId));

    /// <summary>
    /// A block between two users ends every call between them (ringing or accepted), on every node: reason
    /// <c>hangup</c> for an accepted call, <c>rejected</c> for a ringing one, as if the blocker had ended it.
    /// </summary>
    public void Blocked(long blockerId, long blockedId)
    {
        Book.EndBetween(blockerId, blockedId);
        BroadcastEndBetween(blockerId, blockedId); // CallService.Cluster.cs
    }

    /// <summary>
    /// <c>call.signal</c>: size-limited and rate limited per device (the session: every socket of one device signals the
    /// same call, so a bucket per socket would multiply the limit by <c>Realtime:MaxConnectionsPerUser</c>), then relayed by the book.
    /// </summary>
    public Refusal? Signal(Caller caller, long connectionId, CallSignalFrame signal)
    {
        if (signal.Data.Length > Options.MaxSignalBytes)
        {
            return new Refusal(413, ErrorCodes.TooLarge, $"A call.signal's data may be at most {Options.MaxSignalBytes} bytes.");
        }

        if (!_signals.TryTake(caller.SessionId, out _))
        {
            return SignalingTooFast;
        }

        return Forward(RelayAction.Signal, caller, connectionId, Id(signal.CallId), signal.RefJson, signal.Data) ? null : Book.Signal(caller.UserId, caller.SessionId, Id(signal.CallId), signal.Data);
    }

    public void DeviceConnected(long userId, long deviceId, long connectionId)
    {
        Book.DeviceConnected(userId, deviceId, connectionId);
        RemoteDeviceChanged(userId, deviceId, back: true);
    }

    public void DeviceDisconnected(long userId, long deviceId)
    {
        Book.DeviceDisconnected(userId, deviceId);
        RemoteDeviceChanged(userId, deviceId, back: false);
    }

    void ICallSink.ToDevice(long userId, long deviceId, byte[] frame)
    {
        Relay(userId, deviceId, 0, frame);
        foreach (var connection in _connections.ForUser(userId))
        {
            if (connection.SessionId == deviceId)
            {
                connection.TrySend(frame);
            }
        }
    }

    void ICallSink.ToConnection(long userId, long connectionId, byte[] frame)
    {
        foreach (var connection in _connections.ForUser(userId))
        {
            if (connection.Id == connectionId)
            {
                connection.TrySend(frame);
            }
        }
    }

    void ICallSink.ToUser(long userId, byte[] frame, long exceptDeviceId)
    {
        Relay(userId, 0, exceptDeviceId, frame);
        foreach (var connection in _connections.ForUser(userId))
        {
            if (connection.SessionId != exceptDeviceId)
            {
                connection.TrySend(frame);
            }
        }
    }

    bool ICallSink.DeviceOnline(long userId, long deviceId)
    {
        foreach (var connection in _connections.ForUser(userId))
        {
            if (connection.SessionId == deviceId)
            {
                return true;
            }
        }

        return false;
    }

    void ICallSink.Ended(CallRecord record) => _ = WriteAsync(record);

    /// <summary>The call's message, once (its clientMsgId is the call's: a second write would return the first).</summary>
    private async Task WriteAsync(CallRecord record)
    {
        try
        {
            await Task.Yield(); // out of the book's lock
            var content = JsonSerializer.SerializeToElement(
                new CallContent(Ids.Format(record.CallId), record.Media, record.Outcome, record.DurationMs),
                CallJson.Default.CallContent);
            var command = new SendCommand(record.ConversationId, "call:" + Ids.Format(record.CallId), "call", content, null, [], false);
            var sent = await _sender.SendServerMessageAsync(record.CallerId, command, CancellationToken.None);
            if (!sent.TryGetValue(out _, out var refusal))
            {
                LogNotRecorded(_logger, record.CallId, refusal.Code); // e.g. a block made during the call
            }
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            LogNotRecorded(_logger, record.CallId, "server stopping"); // the pipeline takes no more messages
        }
        catch (Exception e)
        {
            LogRecordFailed(_logger, e, record.CallId);
        }
    }

    private static long Id(string id) => long.Parse(id, System.Globalization.CultureInfo.InvariantCulture);

    private static readonly Refusal DirectOnly = Refusal.Invalid("conversationId", "calls are for direct conversations only");
    private static readonly Refusal CallingTooFast = new(429, ErrorCodes.RateLimited, "You are calling too fast.") { RetryAfterSeconds = 1 };
    private static readonly Refusal SignalingTooFast = new(429, ErrorCodes.RateLimited, "Too many call.signal frames from this device.") { RetryAfterSeconds = 1 };
    private static readonly Refusal ControllingTooFast = new(429, ErrorCodes.RateLimited, "Too many call.accept, call.reject and call.hangup frames from this device.") { RetryAfterSeconds = 1 };

    [LoggerMessage(Level = LogLevel.Information, Message = "The message of call {CallId} was not written: {Code}")]
    private static partial void LogNotRecorded(ILogger logger, long callId, string code);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The message of call {CallId} could not be written")]
    private static partial void LogRecordFailed(ILogger logger, Exception exception, long callId);
}

/// <summary>The content of a <c>call</c> message.</summary>
public sealed record CallContent(string CallId, string Media, string Outcome, [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] long? DurationMs);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(CallContent))]
internal sealed partial class CallJson : System.Text.Json.Serialization.JsonSerializerContext;
