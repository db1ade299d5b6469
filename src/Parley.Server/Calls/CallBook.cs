using System.Security.Cryptography;
using Parley.Protocol;
using Parley.Server.Http;
using Parley.Storage;

namespace Parley.Server.Calls;

/// <summary>Where the call book's frames go and what it asks of the sockets (the local registry, or the cluster's).</summary>
public interface ICallSink
{
    /// <summary>To every connection of one device (device = session: a reconnect of the same session is the same device).</summary>
    void ToDevice(long userId, long deviceId, byte[] frame);

    /// <summary>To one connection (the answer to its own frame).</summary>
    void ToConnection(long userId, long connectionId, byte[] frame);

    /// <summary>To every device of the user but <paramref name="exceptDeviceId"/> (0: none excepted).</summary>
    void ToUser(long userId, byte[] frame, long exceptDeviceId);

    /// <summary>Whether the device has a socket open now.</summary>
    bool DeviceOnline(long userId, long deviceId);

    /// <summary>A call ended: its <c>call</c> message is to be written (asynchronously; never inside the book's lock).</summary>
    void Ended(CallRecord record);
}

/// <summary>What a call leaves in its conversation once it ends.</summary>
public sealed record CallRecord(long CallId, long ConversationId, long CallerId, long CalleeId, string Media, string Outcome, long? DurationMs);

/// <summary>The contract's <c>call.ended</c> reasons and <c>call</c> message outcomes.</summary>
public static class CallReasons
{
    public const string Rejected = "rejected";
    public const string Hangup = "hangup";
    public const string Timeout = "timeout";
    public const string Busy = "busy";
    public const string Unavailable = "unavailable";
    public const string Disconnected = "disconnected";
    public const string AnsweredElsewhere = "answered_elsewhere";

    public const string Completed = "completed";
    public const string Missed = "missed";
    public const string Failed = "failed";
}

/// <summary>
/// The calls of this node and their rules, in memory: ringing -> accepted -> ended, one call per device, the ring timeout,
/// the reconnect window, who may accept, reject, hang up and signal. One lock for everything (calls are few and their
/// frames rare next to messages); frames are queued on sockets inside it, so the frames of one call leave in the order
/// its changes were made. An ended call is forgotten at once (a late frame for it is answered <c>not_found</c>).
/// </summary>
public sealed class CallBook
{
    private readonly Lock _lock = new();
    private readonly Dictionary<long, Call> _calls = [];
    private readonly Dictionary<(long UserId, long DeviceId), Call> _byDevice = [];
    private readonly Dictionary<long, int> _perUser = []; // calls each user takes part in, either side
    private readonly Dictionary<long, Call> _ringing = []; // by callee: a user is rung by one call at most (else busy)
    private readonly TimeProvider _time;
    private readonly CallOptions _options;
    private readonly ICallSink _sink;

    private readonly int _node;

    /// <param name="node">Cluster mode: this node's id, which every call id it makes names (id % 1024), so other nodes know where a call is held; -1 on one node.</param>
    public CallBook(TimeProvider time, CallOptions options, ICallSink sink, int node = -1)
    {
        _node = node;
        _time = time;
        _options = options;
        _sink = sink;
    }

    /// <summary>Calls held now (tests, metrics).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _calls.Count;
            }
        }
    }

    /// <summary>
    /// A device calls the peer of a direct conversation (the caller's right to was checked already). The inviting
    /// connection is answered <c>call.invited</c> first; then the call rings on every device of the callee, or ends at
    /// once <c>unavailable</c> (no device of the callee online) or <c>busy</c> (the callee takes part in another call).
    /// </summary>
    /// <returns>The refusal, or null with <paramref name="callId"/> set.</returns>
    public Refusal? Invite(long callerId, long callerDevice, long connectionId, long calleeId, bool calleeOnline, long conversationId, string media, string? refJson, out long callId)
    {
        callId = 0;
        lock (_lock)
        {
            if (_byDevice.ContainsKey((callerId, callerDevice)))
            {
                return DeviceInCall;
            }

            if (_calls.Count >= _options.MaxCalls)
            {
                return TooManyCalls;
            }

            if (_perUser.GetValueOrDefault(callerId) >= _options.MaxCallsPerUser)
            {
                return TooManyOfYours;
            }

            do
            {
                callId = RandomNumberGenerator.GetInt32(1, int.MaxValue) * (long)int.MaxValue + RandomNumberGenerator.GetInt32(int.MaxValue);
                if (_node >= 0)
                {
                    callId = ((callId >> 11) * 1024) + _node;
                }
            }
            while (_calls.ContainsKey(callId));

            var call = new Call(callId, conversationId, callerId, callerDevice, calleeId, media);
            _calls[callId] = call;
            _byDevice[(callerId, callerDevice)] = call;
            Tally(callerId, +1);
            Tally(calleeId, +1);
            _sink.ToConnection(callerId, connectionId, ServerFrames.CallInvited(refJson, call.IdText));
            if (!calleeOnline)
            {
                End(call, CallReasons.Unavailable, CallReasons.Unavailable);
            }
            else if (_perUser[calleeId] > 1)
            {
                End(call, CallReasons.Busy, CallReasons.Busy);
            }
            else
            {
                _ringing[calleeId] = call;
                _sink.ToUser(calleeId, call.Ring, 0);
                call.Timer = _time.CreateTimer(static s => ((Timed)s!).Fire(), new Timed(this, call, CallReasons.Timeout), TimeSpan.FromSeconds(_options.RingSeconds), Timeout.InfiniteTimeSpan);
            }

            return null;
        }
    }

    /// <summary>A device of the callee answers: the caller's device is told, the callee's other devices stop ringing.</summary>
    public Refusal? Accept(long userId, long deviceId, long callId)
    {
        lock (_lock)
        {
            if (!_calls.TryGetValue(callId, out var call) || call.CalleeId != userId)
            {
                return NoSuchCall;
            }

            if (call.Accepted)
            {
                return AlreadyAccepted;
            }

            if (_byDevice.ContainsKey((userId, deviceId)))
            {
                return DeviceInCall;
            }

            call.Timer?.Dispose();
            call.Timer = null;
            _ringing.Remove(userId);
            call.CalleeDevice = deviceId;
            call.AcceptedAt = _time.GetTimestamp();
            _byDevice[(userId, deviceId)] = call;
            _sink.ToDevice(call.CallerId, call.CallerDevice, ServerFrames.CallAccepted(call.IdText, Ids.Format(userId), Ids.Format(deviceId)));
            _sink.ToUser(userId, ServerFrames.CallEnded(call.IdText, CallReasons.AnsweredElsewhere), deviceId);
            return null;
        }
    }

    /// <summary>The callee declines a ringing call (any of their devices).</summary>
    public Refusal? Reject(long userId, long callId)
    {
        lock (_lock)
        {
            if (!_calls.TryGetValue(callId, out var call) || (call.CalleeId != userId && call.CallerId != userId))
            {
                return NoSuchCall;
            }

            if (call.CalleeId != userId)
            {
                return OnlyTheCalleeRejects;
            }

            if (call.Accepted)
            {
                return AlreadyAccepted;
            }

            End(call, CallReasons.Rejected, CallReasons.Rejected);
            return null;
        }
    }

    /// <summary>
    /// One of the call's devices ends it: the caller's (a ringing call is then a missed one), or the callee's accepting
    /// device. A callee's device hanging up a call that still rings rejects it.
    /// </summary>
    public Refusal? Hangup(long userId, long deviceId, long callId)
    {
        lock (_lock)
        {
            if (!_calls.TryGetValue(callId, out var call))
            {
                return NoSuchCall;
            }

            if (userId == call.CallerId && deviceId == call.CallerDevice)
            {
                End(call, CallReasons.Hangup, call.Accepted ? CallReasons.Completed : CallReasons.Missed);
                return null;
            }

            if (userId == call.CalleeId && (!call.Accepted || deviceId == call.CalleeDevice))
            {
                if (call.Accepted)
                {
                    End(call, CallReasons.Hangup, CallReasons.Completed);
                }
                else
                {
                    End(call, CallReasons.Rejected, CallReasons.Rejected);
                }

                return null;
            }

            return NoSuchCall;
        }
    }

    /// <summary>Ends every call held here between the two users (a block): accepted ones <c>hangup</c>, ringing ones <c>rejected</c>.</summary>
    public void EndBetween(long a, long b)
    {
        lock (_lock)
        {
            List<Call>? between = null;
            foreach (var call in _calls.Values)
            {
                if ((call.CallerId == a && call.CalleeId == b) || (call.CallerId == b && call.CalleeId == a))
                {
                    (between ??= []).Add(call);
                }
            }

            foreach (var call in between ?? [])
            {
                if (call.Accepted)
                {
                    End(call, CallReasons.Hangup, CallReasons.Completed);
                }
                else
                {
                    End(call, CallReasons.Rejected, CallReasons.Rejected);
                }
            }
        }
    }

    /// <summary>
    /// Relays signaling between the call's devices only: the caller's device to the callee's accepting device (before the
    /// accept: to every device of the callee, all ringing), and the accepting device to the caller's.
    /// </summary>
    public Refusal? Signal(long userId, long deviceId, long callId, ReadOnlySpan<byte> dataJson)
    {
        lock (_lock)
        {
            if (!_calls.TryGetValue(callId, out var call))
            {
                return NoSuchCall;
            }

            if (userId == call.CallerId && deviceId == call.CallerDevice)
            {
                var frame = ServerFrames.CallSignal(call.IdText, dataJson);
                if (call.Accepted)
                {
                    _sink.ToDevice(call.CalleeId, call.CalleeDevice, frame);
                }
                else
                {
                    // Before the answer every device of the callee gets each signal: a budget per call bounds what a
                    // caller can push to a ringing callee (an offer and its candidates are a few KiB).
                    if (call.RingSignalBytes + dataJson.Length > _options.MaxRingSignalBytes)
                    {
                        return RingSignalsSpent;
                    }

                    call.RingSignalBytes += dataJson.Length;
                    _sink.ToUser(call.CalleeId, frame, 0);
                }

                return null;
            }

            if (userId == call.CalleeId && call.Accepted && deviceId == call.CalleeDevice)
            {
                _sink.ToDevice(call.CallerId, call.CallerDevice, ServerFrames.CallSignal(call.IdText, dataJson));
                return null;
            }

            return userId == call.CalleeId && !call.Accepted ? AcceptFirst : NoSuchCall;
        }
    }

    /// <summary>A socket of the device closed: if the device takes part in a call and has no other socket, its reconnect window starts.</summary>
    public void DeviceDisconnected(long userId, long deviceId)
    {
        lock (_lock)
        {
            if (!_byDevice.TryGetValue((userId, deviceId), out var call) || _sink.DeviceOnline(userId, deviceId))
            {
                return;
            }

            var caller = userId == call.CallerId && deviceId == call.CallerDevice;
            if (caller ? call.CallerGone is null : call.CalleeGone is null)
            {
                var timer = StartReconnectWindow(call, caller);
                if (caller)
                {
                    call.CallerGone = timer;
                }
                else
                {
                    call.CalleeGone = timer;
                }
            }
        }
    }

    /// <summary>
    /// A socket of the device opened (after its hello): a reconnect window of its call closes, and a call ringing for
    /// the user rings on this socket too.
    /// </summary>
    public void DeviceConnected(long userId, long deviceId, long connectionId)
    {
        lock (_lock)
        {
            if (_ringing.TryGetValue(userId, out var ringing))
            {
                _sink.ToConnection(userId, connectionId, ringing.Ring);
            }

            if (!_byDevice.TryGetValue((userId, deviceId), out var call))
            {
                return;
            }

            if (userId == call.CallerId && deviceId == call.CallerDevice)
            {
                call.CallerGone?.Dispose();
                call.CallerGone = null;
            }
            else
            {
                call.CalleeGone?.Dispose();
                call.CalleeGone = null;
            }
        }
    }

    private ITimer StartReconnectWindow(Call call, bool caller)
    {
        var timed = new Timed(this, call, CallReasons.Disconnected, caller);
        timed.Own = _time.CreateTimer(static s => ((Timed)s!).Fire(), timed, TimeSpan.FromSeconds(_options.ReconnectSeconds), Timeout.InfiniteTimeSpan);
        return timed.Own;
    }

    private void Expired(Timed timed)
    {
        lock (_lock)
        {
            var call = timed.Call;
            if (!_calls.TryGetValue(call.Id, out var held) || held != call)
            {
                return; // ended meanwhile
            }

            if (timed.Reason == CallReasons.Timeout)
            {
                if (!call.Accepted)
                {
                    End(call, CallReasons.Timeout, CallReasons.Missed);
                }

                return;
            }

            // A reconnect window that was closed (the device came back) while this callback waited for the lock is no expiry.
            var window = timed.Caller ? call.CallerGone : call.CalleeGone;
            if (window is not null && ReferenceEquals(window, timed.Own))
            {
                End(call, CallReasons.Disconnected, call.Accepted ? CallReasons.Completed : CallReasons.Failed);
            }
        }
    }

    /// <summary>Ends a call (inside the lock): both sides told, the call forgotten, its message handed to the sink.</summary>
    private void End(Call call, string reason, string outcome)
    {
        _calls.Remove(call.Id);
        if (_ringing.TryGetValue(call.CalleeId, out var ringing) && ringing == call)
        {
            _ringing.Remove(call.CalleeId);
        }

        _byDevice.Remove((call.CallerId, call.CallerDevice));
        if (call.Accepted)
        {
            _byDevice.Remove((call.CalleeId, call.CalleeDevice));
        }

        Tally(call.CallerId, -1);
        Tally(call.CalleeId, -1);
        call.Timer?.Dispose();
        call.CallerGone?.Dispose();
        call.CalleeGone?.Dispose();
        var ended = ServerFrames.CallEnded(call.IdText, reason);
        _sink.ToDevice(call.CallerId, call.CallerDevice, ended);
        if (call.Accepted)
        {
            _sink.ToDevice(call.CalleeId, call.CalleeDevice, ended);
        }
        else if (reason is not (CallReasons.Busy or CallReasons.Unavailable))
        {
            _sink.ToUser(call.CalleeId, ended, 0); // every device rang
        }

        long? duration = call.Accepted ? (long)_time.GetElapsedTime(call.AcceptedAt).TotalMilliseconds : null;
        _sink.Ended(new CallRecord(call.Id, call.ConversationId, call.CallerId, call.CalleeId, call.Media, outcome, duration));
    }

    private void Tally(long userId, int change)
    {
        var count = _perUser.GetValueOrDefault(userId) + change;
        if (count <= 0)
        {
            _perUser.Remove(userId);
        }
        else
        {
            _perUser[userId] = count;
        }
    }

    private sealed class Call(long id, long conversationId, long callerId, long callerDevice, long calleeId, string media)
    {
        public long Id { get; } = id;

        public string IdText { get; } = Ids.Format(id);

        public long ConversationId { get; } = conversationId;

        public long CallerId { get; } = callerId;

        public long CallerDevice { get; } = callerDevice;

        public long CalleeId { get; } = calleeId;

        public string Media { get; } = media;

        /// <summary>Its <c>call.ring</c> frame, made once for every device it rings on.</summary>
        public byte[] Ring { get; } = ServerFrames.CallRing(Ids.Format(id), Ids.Format(conversationId), Ids.Format(callerId), Ids.Format(callerDevice), media);

        /// <summary>The callee's accepting device; 0 while ringing.</summary>
        public long CalleeDevice { get; set; }

        public bool Accepted => CalleeDevice != 0;

        public long AcceptedAt { get; set; }

        /// <summary>Bytes of the caller's signals relayed while the call rang (to every device of the callee).</summary>
        public long RingSignalBytes { get; set; }

        /// <summary>The ring timeout while ringing.</summary>
        public ITimer? Timer { get; set; }

        /// <summary>The reconnect windows of the caller's and the callee's device, while they have no socket.</summary>
        public ITimer? CallerGone { get; set; }

        public ITimer? CalleeGone { get; set; }
    }

    /// <summary>A timer's state: which call, why, and (reconnect windows) which side; the timer itself once made.</summary>
    private sealed class Timed(CallBook book, Call call, string reason, bool caller = false)
    {
        public Call Call { get; } = call;

        public string Reason { get; } = reason;

        public bool Caller { get; } = caller;

        /// <summary>The reconnect window's own timer: a window closed and opened again meanwhile is another timer.</summary>
        public ITimer? Own { get; set; }

        public void Fire() => book.Expired(this);
    }

    private static readonly Refusal NoSuchCall = Refusal.NotFound("Call");
    private static readonly Refusal DeviceInCall = new(409, ErrorCodes.Conflict, "This device is already in a call.");
    private static readonly Refusal AlreadyAccepted = new(409, ErrorCodes.Conflict, "The call was accepted already.");
    private static readonly Refusal OnlyTheCalleeRejects = new(409, ErrorCodes.Conflict, "Only the callee rejects a call; the caller hangs up.");
    private static readonly Refusal RingSignalsSpent = new(413, ErrorCodes.TooLarge, "The call's signals before the answer are over their budget (Calls:MaxRingSignalBytes); wait for the answer.");
    private static readonly Refusal AcceptFirst = new(409, ErrorCodes.Conflict, "Accept the call before signaling.");
    private static readonly Refusal TooManyOfYours = new(429, ErrorCodes.RateLimited, "You take part in as many calls as you may.");
    private static readonly Refusal TooManyCalls = new(503, ErrorCodes.Unavailable, "The server takes no more calls now; try again later.");
}
