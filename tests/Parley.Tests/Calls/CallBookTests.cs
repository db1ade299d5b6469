using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;
using Parley.Server.Calls;

namespace Parley.Tests.Calls;

/// <summary>The call state machine alone: every transition and timer, on a clock moved by hand.</summary>
public sealed class CallBookTests
{
    private const long Caller = 1, CallerPhone = 11, CallerLaptop = 12, CallerConnection = 100;
    private const long Callee = 2, CalleePhone = 21, CalleeLaptop = 22;
    private const long Conversation = 500;

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly RecordingSink _sink = new();
    private readonly CallOptions _options = new() { RingSeconds = 45, ReconnectSeconds = 15, MaxCallsPerUser = 2, MaxCalls = 3 };
    private readonly CallBook _book;

    public CallBookTests()
    {
        _book = new CallBook(_time, _options, _sink);
        _sink.Online.UnionWith([(Caller, CallerPhone), (Caller, CallerLaptop), (Callee, CalleePhone), (Callee, CalleeLaptop)]);
    }

    private long Invite(long callee = Callee, long device = CallerPhone)
    {
        Assert.Null(_book.Invite(Caller, device, CallerConnection, callee, calleeOnline: true, Conversation, "video", "7", out var callId));
        return callId;
    }

    private long Accepted()
    {
        var callId = Invite();
        Assert.Null(_book.Accept(Callee, CalleePhone, callId));
        _sink.Frames.Clear();
        return callId;
    }

    [Fact]
    public void An_invite_answers_the_connection_then_rings_every_device_of_the_callee()
    {
        var callId = Invite();
        Assert.Equal(2, _sink.Frames.Count);
        var invited = _sink.Single("call.invited");
        Assert.Equal(("connection", Caller, CallerConnection), (invited.Kind, invited.UserId, invited.Target));
        Assert.Equal(7, (int)invited.Json["ref"]!);
        Assert.Equal(callId.ToString(), (string?)invited.Json["callId"]);
        var ring = _sink.Single("call.ring");
        Assert.Equal(("user", Callee, 0L), (ring.Kind, ring.UserId, ring.Target));
        Assert.Equal("500", (string?)ring.Json["conversationId"]);
        Assert.Equal("1", (string?)ring.Json["from"]);
        Assert.Equal("11", (string?)ring.Json["fromDeviceId"]);
        Assert.Equal("video", (string?)ring.Json["media"]);
        Assert.Equal(1, _book.Count);
        Assert.Empty(_sink.Records);
    }

    [Fact]
    public void A_socket_opened_while_a_call_rings_rings_too_and_not_once_it_was_answered()
    {
        var callId = Invite();
        _sink.Frames.Clear();
        _book.DeviceConnected(Callee, 23, 230);
        var ring = _sink.Single("call.ring");
        Assert.Equal(("connection", Callee, 230L), (ring.Kind, ring.UserId, ring.Target));
        Assert.Equal(callId.ToString(), (string?)ring.Json["callId"]);
        _book.DeviceConnected(Caller, CallerLaptop, 120); // not the callee: nothing
        Assert.Null(_book.Accept(Callee, CalleePhone, callId));
        _sink.Frames.Clear();
        _book.DeviceConnected(Callee, 24, 240);
        Assert.Empty(_sink.Frames);
    }

    [Fact]
    public void A_callee_with_no_device_online_is_unavailable_and_never_rung()
    {
        Assert.Null(_book.Invite(Caller, CallerPhone, CallerConnection, Callee, calleeOnline: false, Conversation, "audio", null, out _));
        Assert.Equal(["call.invited", "call.ended"], _sink.Frames.Select(f => f.Type));
        var ended = _sink.Single("call.ended");
        Assert.Equal(("device", Caller, CallerPhone), (ended.Kind, ended.UserId, ended.Target));
        Assert.Equal("unavailable", (string?)ended.Json["reason"]);
        Assert.Equal(new CallRecord(_sink.Records[0].CallId, Conversation, Caller, Callee, "audio", "unavailable", null), Assert.Single(_sink.Records));
        Assert.Equal(0, _book.Count);
    }

    [Fact]
    public void A_callee_in_another_call_is_busy()
    {
        const long other = 3;
        Assert.Null(_book.Invite(other, 31, 300, Callee, calleeOnline: true, 600, "audio", null, out _));
        _sink.Frames.Clear();
        Invite();
        Assert.Equal(["call.invited", "call.ended"], _sink.Frames.Select(f => f.Type));
        Assert.Equal("busy", (string?)_sink.Single("call.ended").Json["reason"]);
        Assert.Equal("busy", Assert.Single(_sink.Records).Outcome);
        Assert.Equal(1, _book.Count); // the other call rings on
    }

    [Fact]
    public void A_device_takes_part_in_one_call_at_a_time_and_a_user_in_a_few()
    {
        Invite();
        Assert.Equal("conflict", _book.Invite(Caller, CallerPhone, CallerConnection, 4, true, 700, "audio", null, out _)!.Code);
        Invite(callee: 4, device: CallerLaptop); // another device of the same user may
        Assert.Equal("rate_limited", _book.Invite(Caller, 13, CallerConnection, 5, true, 800, "audio", null, out _)!.Code);
        Assert.Null(_book.Invite(6, 61, 600, 7, true, 900, "audio", null, out _));
        Assert.Equal(3, _book.Count);
        Assert.Equal("unavailable", _book.Invite(8, 81, 800, 9, true, 901, "audio", null, out _)!.Code); // MaxCalls
    }

    [Fact]
    public void Accepting_tells_the_callers_device_and_stops_the_other_devices_ringing()
    {
        var callId = Invite();
        _sink.Frames.Clear();
        Assert.Equal("not_found", _book.Accept(3, 31, callId)!.Code); // a stranger
        Assert.Equal("not_found", _book.Accept(Caller, CallerLaptop, callId)!.Code); // the caller's own other device
        Assert.Null(_book.Accept(Callee, CalleeLaptop, callId));
        var accepted = _sink.Single("call.accepted");
        Assert.Equal(("device", Caller, CallerPhone), (accepted.Kind, accepted.UserId, accepted.Target));
        Assert.Equal(("2", "22"), ((string?)accepted.Json["by"], (string?)accepted.Json["deviceId"]));
        var elsewhere = _sink.Single("call.ended");
        Assert.Equal(("user", Callee, CalleeLaptop), (elsewhere.Kind, elsewhere.UserId, elsewhere.Target)); // all but the accepting device
        Assert.Equal("answered_elsewhere", (string?)elsewhere.Json["reason"]);
        Assert.Equal("conflict", _book.Accept(Callee, CalleePhone, callId)!.Code);

        // the ring timeout no longer applies
        _time.Advance(TimeSpan.FromSeconds(46));
        Assert.Equal(1, _book.Count);
        Assert.Empty(_sink.Records);
    }

    [Fact]
    public void An_unanswered_call_times_out_as_missed()
    {
        var callId = Invite();
        _time.Advance(TimeSpan.FromSeconds(44));
        Assert.Equal(1, _book.Count);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, _book.Count);
        var ended = _sink.Frames.Where(f => f.Type == "call.ended").ToList();
        Assert.Equal([("device", Caller, CallerPhone), ("user", Callee, 0L)], ended.Select(f => (f.Kind, f.UserId, f.Target)));
        Assert.All(ended, f => Assert.Equal("timeout", (string?)f.Json["reason"]));
        Assert.Equal(new CallRecord(callId, Conversation, Caller, Callee, "video", "missed", null), Assert.Single(_sink.Records));
        Assert.Equal("not_found", _book.Accept(Callee, CalleePhone, callId)!.Code);
    }

    [Fact]
    public void The_callee_rejects_and_the_caller_cannot()
    {
        var callId = Invite();
        Assert.Equal("conflict", _book.Reject(Caller, callId)!.Code);
        Assert.Equal("not_found", _book.Reject(3, callId)!.Code);
        Assert.Null(_book.Reject(Callee, callId));
        Assert.Equal("rejected", (string?)_sink.Frames.Last(f => f.Type == "call.ended").Json["reason"]);
        Assert.Equal("rejected", Assert.Single(_sink.Records).Outcome);
        Assert.Equal("not_found", _book.Reject(Callee, callId)!.Code);

        var accepted = Accepted();
        Assert.Equal("conflict", _book.Reject(Callee, accepted)!.Code);
    }

    [Fact]
    public void The_caller_hanging_up_a_ringing_call_makes_it_missed()
    {
        var callId = Invite();
        Assert.Equal("not_found", _book.Hangup(Caller, CallerLaptop, callId)!.Code); // not the calling device
        Assert.Null(_book.Hangup(Caller, CallerPhone, callId));
        var ended = _sink.Frames.Where(f => f.Type == "call.ended").ToList();
        Assert.Equal([("device", Caller, CallerPhone), ("user", Callee, 0L)], ended.Select(f => (f.Kind, f.UserId, f.Target)));
        Assert.All(ended, f => Assert.Equal("hangup", (string?)f.Json["reason"]));
        Assert.Equal("missed", Assert.Single(_sink.Records).Outcome);
    }

    [Fact]
    public void A_callee_device_hanging_up_a_ringing_call_rejects_it()
    {
        var callId = Invite();
        Assert.Null(_book.Hangup(Callee, CalleeLaptop, callId));
        Assert.Equal("rejected", Assert.Single(_sink.Records).Outcome);
    }

    [Fact]
    public void Hanging_up_an_accepted_call_completes_it_with_its_duration()
    {
        var callId = Accepted();
        _time.Advance(TimeSpan.FromMilliseconds(61_500));
        Assert.Equal("not_found", _book.Hangup(Callee, CalleeLaptop, callId)!.Code); // the device that did not answer
        Assert.Null(_book.Hangup(Callee, CalleePhone, callId));
        var ended = _sink.Frames.Where(f => f.Type == "call.ended").ToList();
        Assert.Equal([("device", Caller, CallerPhone), ("device", Callee, CalleePhone)], ended.Select(f => (f.Kind, f.UserId, f.Target)));
        Assert.Equal(new CallRecord(callId, Conversation, Caller, Callee, "video", "completed", 61_500), Assert.Single(_sink.Records));
        Assert.Equal(0, _book.Count);

        // both devices are free again
        Invite();
        Assert.Null(_book.Invite(Callee, CalleePhone, 200, 9, true, 999, "audio", null, out _));
    }

    [Fact]
    public void Signals_go_only_between_the_calls_devices()
    {
        var callId = Invite();
        _sink.Frames.Clear();
        var offer = """{"type":"offer","sdp":"v=0"}"""u8.ToArray();
        Assert.Null(_book.Signal(Caller, CallerPhone, callId, offer));
        var toRinging = Assert.Single(_sink.Frames);
        Assert.Equal(("user", Callee, 0L), (toRinging.Kind, toRinging.UserId, toRinging.Target)); // every ringing device
        Assert.Equal("offer", (string?)toRinging.Json["data"]!["type"]);
        Assert.Equal("conflict", _book.Signal(Callee, CalleePhone, callId, offer)!.Code); // accept first
        Assert.Equal("not_found", _book.Signal(Caller, CallerLaptop, callId, offer)!.Code);
        Assert.Equal("not_found", _book.Signal(3, 31, callId, offer)!.Code);

        Assert.Null(_book.Accept(Callee, CalleePhone, callId));
        _sink.Frames.Clear();
        Assert.Null(_book.Signal(Caller, CallerPhone, callId, "\"candidate-1\""u8));
        Assert.Null(_book.Signal(Callee, CalleePhone, callId, "{\"type\":\"answer\"}"u8));
        Assert.Equal([("device", Callee, CalleePhone), ("device", Caller, CallerPhone)], _sink.Frames.Select(f => (f.Kind, f.UserId, f.Target)));
        Assert.Equal("candidate-1", (string?)_sink.Frames[0].Json["data"]);
        Assert.Equal("not_found", _book.Signal(Callee, CalleeLaptop, callId, offer)!.Code);
        Assert.Equal(2, _sink.Frames.Count);
    }

    [Fact]
    public void A_device_without_its_socket_past_the_reconnect_window_ends_the_call()
    {
        var callId = Accepted();
        _sink.Online.Remove((Callee, CalleePhone));
        _book.DeviceDisconnected(Callee, CalleePhone);
        _time.Advance(TimeSpan.FromSeconds(14));
        Assert.Equal(1, _book.Count);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, _book.Count);
        Assert.All(_sink.Frames.Where(f => f.Type == "call.ended"), f => Assert.Equal("disconnected", (string?)f.Json["reason"]));
        Assert.Equal(new CallRecord(callId, Conversation, Caller, Callee, "video", "completed", 15_000), Assert.Single(_sink.Records));
    }

    [Fact]
    public void A_device_back_within_the_window_keeps_the_call()
    {
        Accepted();
        _sink.Online.Remove((Caller, CallerPhone));
        _book.DeviceDisconnected(Caller, CallerPhone);
        _time.Advance(TimeSpan.FromSeconds(10));
        _sink.Online.Add((Caller, CallerPhone));
        _book.DeviceConnected(Caller, CallerPhone, 101);
        _time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(1, _book.Count);

        // a socket closing while the device has another open starts no window
        _book.DeviceDisconnected(Caller, CallerPhone);
        _time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(1, _book.Count);

        // a second loss gets a window of its own, whole
        _sink.Online.Remove((Caller, CallerPhone));
        _book.DeviceDisconnected(Caller, CallerPhone);
        _time.Advance(TimeSpan.FromSeconds(15));
        Assert.Equal(0, _book.Count);
    }

    [Fact]
    public void A_caller_gone_before_the_answer_fails_the_call()
    {
        Invite();
        _sink.Online.Remove((Caller, CallerPhone));
        _book.DeviceDisconnected(Caller, CallerPhone);
        _book.DeviceDisconnected(Callee, CalleePhone); // ringing devices are not the call's yet: no window of theirs
        _time.Advance(TimeSpan.FromSeconds(15));
        Assert.Equal("failed", Assert.Single(_sink.Records).Outcome);
        Assert.Equal("disconnected", (string?)_sink.Frames.Last(f => f.Type == "call.ended").Json["reason"]);
    }

    private sealed record Frame(string Kind, long UserId, long Target, JsonNode Json)
    {
        public string Type => (string)Json["type"]!;
    }

    [Fact]
    public void A_block_ends_the_calls_between_the_two_only_accepted_as_hangup_ringing_as_rejected()
    {
        const long Other = 3, Fourth = 4;
        _sink.Online.UnionWith([(Other, 31), (Fourth, 41)]);
        var accepted = Accepted();
        Assert.Null(_book.Invite(Caller, CallerLaptop, CallerConnection, Fourth, calleeOnline: true, Conversation + 1, "audio", null, out var elsewhere));
        Assert.Null(_book.Invite(Callee, CalleeLaptop, 220, Other, calleeOnline: true, Conversation + 2, "audio", null, out var ringing));
        _sink.Frames.Clear();

        _book.EndBetween(Other, Callee); // Other blocks the callee: the call ringing Other ends, the call with Caller lives on
        Assert.Equal([("device", Callee, CalleeLaptop), ("user", Other, 0L)], _sink.Frames.Select(f => (f.Kind, f.UserId, f.Target)));
        Assert.All(_sink.Frames, f => Assert.Equal("rejected", (string?)f.Json["reason"]));
        Assert.Equal(ringing, Assert.Single(_sink.Records).CallId);
        Assert.Equal("rejected", _sink.Records[0].Outcome);
        _sink.Frames.Clear();

        _time.Advance(TimeSpan.FromSeconds(3));
        _book.EndBetween(Caller, Callee); // either way round
        Assert.All(_sink.Frames, f => Assert.Equal("hangup", (string?)f.Json["reason"]));
        Assert.Equal([(Caller, CallerPhone), (Callee, CalleePhone)], _sink.Frames.Select(f => (f.UserId, f.Target)));
        var record = _sink.Records[1];
        Assert.Equal((accepted, "completed", 3000L), (record.CallId, record.Outcome, record.DurationMs));
        Assert.Equal(1, _book.Count); // Caller's call with Fourth (not between the two) is still there
        Assert.Null(_book.Hangup(Caller, CallerLaptop, elsewhere));
    }

    [Fact]
    public void Signals_before_the_answer_have_a_budget_per_call_and_after_it_none()
    {
        var book = new CallBook(_time, new CallOptions { MaxRingSignalBytes = 1000 }, _sink);
        Assert.Null(book.Invite(Caller, CallerPhone, CallerConnection, Callee, calleeOnline: true, Conversation, "video", null, out var callId));
        var data = Encoding.UTF8.GetBytes("\"" + new string('c', 398) + "\""); // 400 bytes
        Assert.Null(book.Signal(Caller, CallerPhone, callId, data));
        Assert.Null(book.Signal(Caller, CallerPhone, callId, data));
        Assert.Equal("too_large", book.Signal(Caller, CallerPhone, callId, data)!.Code); // 1200 > 1000: not relayed
        Assert.Equal(2, _sink.Frames.Count(f => f.Type == "call.signal"));
        Assert.Null(book.Signal(Caller, CallerPhone, callId, Encoding.UTF8.GetBytes("\"" + new string('c', 148) + "\""))); // what fits still goes
        Assert.Null(book.Accept(Callee, CalleePhone, callId));
        for (var i = 0; i < 5; i++)
        {
            Assert.Null(book.Signal(Caller, CallerPhone, callId, data)); // to one device now: the rate limit is the bound
        }
    }

    [Theory]
    [InlineData("RingSeconds", "0")]
    [InlineData("ReconnectSeconds", "-1")]
    [InlineData("MaxSignalBytes", "10")]
    [InlineData("MaxRingSignalBytes", "100")]
    [InlineData("SignalsPerSecond", "0")]
    [InlineData("ControlsPerSecond", "-2")]
    [InlineData("ControlBurst", "0")]
    [InlineData("MaxCalls", "0")]
    [InlineData("TurnTtlSeconds", "5")]
    [InlineData("TurnUrls:0", "http://turn.example")]
    [InlineData("StunUrls:0", "turn:stun.example")]
    public void A_bad_setting_is_refused_naming_it(string key, string value)
    {
        var options = new ConfigurationBuilder().AddInMemoryCollection([new(key, value)]).Build().Get<CallOptions>()!;
        var e = Assert.Throws<InvalidOperationException>(options.Validate);
        Assert.StartsWith("Calls:" + key.Split(':')[0] + " ", e.Message);
        new CallOptions().Validate(); // the defaults are fine
    }

    private sealed class RecordingSink : ICallSink
    {
        public List<Frame> Frames { get; } = [];

        public List<CallRecord> Records { get; } = [];

        public HashSet<(long UserId, long DeviceId)> Online { get; } = [];

        public Frame Single(string type) => Assert.Single(Frames, f => f.Type == type);

        public void ToDevice(long userId, long deviceId, byte[] frame) => Frames.Add(new("device", userId, deviceId, Parse(frame)));

        public void ToConnection(long userId, long connectionId, byte[] frame) => Frames.Add(new("connection", userId, connectionId, Parse(frame)));

        public void ToUser(long userId, byte[] frame, long exceptDeviceId) => Frames.Add(new("user", userId, exceptDeviceId, Parse(frame)));

        public bool DeviceOnline(long userId, long deviceId) => Online.Contains((userId, deviceId));

        public void Ended(CallRecord record) => Records.Add(record);

        private static JsonNode Parse(byte[] frame) => JsonNode.Parse(Encoding.UTF8.GetString(frame))!;
    }
}
