using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Calls;

/// <summary>Short reconnect window, so a lost device ends its call within a test's wait.</summary>
public sealed class CallsSqliteFixture : ServerFixture
{
    public override Backend Backend => Backend.Sqlite;

    protected override string[] ExtraArgs => ["--Calls:ReconnectSeconds=1"];
}

public sealed class CallsPostgresFixture : ServerFixture
{
    public override Backend Backend => Backend.Postgres;

    protected override string[] ExtraArgs => ["--Calls:ReconnectSeconds=1"];
}

/// <summary>A ring that times out within a test's wait.</summary>
public sealed class RingTimeoutSqliteFixture : ServerFixture
{
    public override Backend Backend => Backend.Sqlite;

    protected override string[] ExtraArgs => ["--Calls:RingSeconds=1"];
}

public sealed class RingTimeoutPostgresFixture : ServerFixture
{
    public override Backend Backend => Backend.Postgres;

    protected override string[] ExtraArgs => ["--Calls:RingSeconds=1"];
}

public sealed class CallsTestsSqlite(CallsSqliteFixture fixture) : CallsTests(fixture), IClassFixture<CallsSqliteFixture>;

public sealed class CallsTestsPostgres(CallsPostgresFixture fixture) : CallsTests(fixture), IClassFixture<CallsPostgresFixture>;

public sealed class RingTimeoutTestsSqlite(RingTimeoutSqliteFixture fixture) : RingTimeoutTests(fixture), IClassFixture<RingTimeoutSqliteFixture>;

public sealed class RingTimeoutTestsPostgres(RingTimeoutPostgresFixture fixture) : RingTimeoutTests(fixture), IClassFixture<RingTimeoutPostgresFixture>;

/// <summary>Frames of the calls feature, for the tests.</summary>
internal static class CallFrames
{
    public static JsonObject Invite(string conversationId, string media = "audio", string reference = "inv") =>
        new() { ["type"] = "call.invite", ["ref"] = reference, ["conversationId"] = conversationId, ["media"] = media };

    public static JsonObject Frame(string type, string callId, string? reference = null)
    {
        var frame = new JsonObject { ["type"] = type, ["callId"] = callId };
        if (reference is not null)
        {
            frame["ref"] = reference;
        }

        return frame;
    }

    public static JsonObject Signal(string callId, JsonNode data, string? reference = null)
    {
        var frame = Frame("call.signal", callId, reference);
        frame["data"] = data;
        return frame;
    }

    /// <summary>Invites and returns the call's id from <c>call.invited</c>.</summary>
    public static async Task<string> InviteAsync(this WsClient caller, string conversationId, string media = "audio")
    {
        var reference = "inv-" + Guid.NewGuid().ToString("N")[..6];
        await caller.SendAsync(Invite(conversationId, media, reference));
        var answer = await caller.NextMatchingAsync(f => (string?)f["ref"] == reference);
        Assert.True((string?)answer["type"] == "call.invited", answer.ToJsonString());
        return (string)answer["callId"]!;
    }

    /// <summary>Sends a frame with a ref and returns the <c>error</c> answering it.</summary>
    public static async Task<JsonNode> RefusedAsync(this WsClient client, JsonObject frame)
    {
        var reference = "e-" + Guid.NewGuid().ToString("N")[..6];
        frame["ref"] = reference;
        await client.SendAsync(frame);
        var answer = await client.NextMatchingAsync(f => (string?)f["ref"] == reference);
        Assert.True((string?)answer["type"] == "error", answer.ToJsonString());
        return answer;
    }

    public static Func<JsonNode, bool> Of(string callId) => f => (string?)f["callId"] == callId;

    /// <summary>The conversation's <c>call</c> message of this call, read by catch-up (it is written once the call ended).</summary>
    public static async Task<JsonNode> CallMessageAsync(this ApiHost server, TestUser user, string conversationId, string callId)
    {
        JsonNode? found = null;
        await Poll.UntilAsync(async () =>
        {
            found = (await server.CatchUpAsync(user, conversationId)).LastOrDefault(m => (string?)m["type"] == "call" && (string?)m["content"]!["callId"] == callId);
            return found is not null;
        }, $"the call message of call {callId}");
        return found!;
    }
}

/// <summary>One-to-one calls over real sockets: ring, accept, signal, reject, hang up, busy, unavailable, lost devices, refusals.</summary>
public abstract class CallsTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task A_call_rings_every_callee_device_is_answered_on_one_and_signals_only_between_the_two()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var aOther = await Server.LoginAsync(a.Username, a.Password, "caller's laptop");
        var bOther = await Server.LoginAsync(b.Username, b.Password, "callee's laptop");
        var stranger = await Server.RegisterAsync();
        await using var caller = await WsClient.ConnectAsync(Server, a.AccessToken);
        await using var callerLaptop = await WsClient.ConnectAsync(Server, aOther.AccessToken);
        await using var phone = await WsClient.ConnectAsync(Server, b.AccessToken);
        await using var laptop = await WsClient.ConnectAsync(Server, bOther.AccessToken);
        await using var outsider = await WsClient.ConnectAsync(Server, stranger.AccessToken);

        var callId = await caller.InviteAsync(conversationId, "video");
        foreach (var device in new[] { phone, laptop })
        {
            var ring = await device.NextAsync("call.ring", where: CallFrames.Of(callId));
            Assert.Equal(conversationId, (string?)ring["conversationId"]);
            Assert.Equal(a.Id, (string?)ring["from"]);
            Assert.Equal(a.DeviceId, (string?)ring["fromDeviceId"]);
            Assert.Equal("video", (string?)ring["media"]);
        }

        // a device that comes online while the call rings is rung too
        var bThird = await Server.LoginAsync(b.Username, b.Password, "callee's tablet");
        await using (var tablet = await WsClient.ConnectAsync(Server, bThird.AccessToken))
        {
            Assert.Equal(a.Id, (string?)(await tablet.NextAsync("call.ring", where: CallFrames.Of(callId)))["from"]);
        }

        // before the answer the caller's offer reaches every ringing device
        await caller.SendAsync(CallFrames.Signal(callId, new JsonObject { ["type"] = "offer", ["sdp"] = "v=0 offer" }));
        foreach (var device in new[] { phone, laptop })
        {
            Assert.Equal("v=0 offer", (string?)(await device.NextAsync("call.signal", where: CallFrames.Of(callId)))["data"]!["sdp"]);
        }

        // a stranger can neither accept nor signal nor hang up; the callee may not signal before accepting
        Assert.Equal("not_found", (string?)(await outsider.RefusedAsync(CallFrames.Frame("call.accept", callId)))["code"]);
        Assert.Equal("not_found", (string?)(await outsider.RefusedAsync(CallFrames.Signal(callId, "x")))["code"]);
        Assert.Equal("not_found", (string?)(await outsider.RefusedAsync(CallFrames.Frame("call.hangup", callId)))["code"]);
        Assert.Equal("conflict", (string?)(await phone.RefusedAsync(CallFrames.Signal(callId, "early")))["code"]);

        await phone.SendAsync(CallFrames.Frame("call.accept", callId, "acc"));
        var accepted = await caller.NextAsync("call.accepted", where: CallFrames.Of(callId));
        Assert.Equal(b.Id, (string?)accepted["by"]);
        Assert.Equal(b.DeviceId, (string?)accepted["deviceId"]);
        Assert.Equal("answered_elsewhere", (string?)(await laptop.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        Assert.Equal("conflict", (string?)(await laptop.RefusedAsync(CallFrames.Frame("call.accept", callId)))["code"]);

        await phone.SendAsync(CallFrames.Signal(callId, new JsonObject { ["type"] = "answer", ["sdp"] = "v=0 answer" }));
        Assert.Equal("v=0 answer", (string?)(await caller.NextAsync("call.signal", where: CallFrames.Of(callId)))["data"]!["sdp"]);
        await caller.SendAsync(CallFrames.Signal(callId, new JsonObject { ["candidate"] = "candidate:1 1 udp 1 127.0.0.1 9 typ host" }));
        Assert.StartsWith("candidate:1", (string?)(await phone.NextAsync("call.signal", where: CallFrames.Of(callId)))["data"]!["candidate"]);
        Assert.Equal("not_found", (string?)(await laptop.RefusedAsync(CallFrames.Signal(callId, "me too")))["code"]);

        await caller.SendAsync(CallFrames.Frame("call.hangup", callId));
        foreach (var device in new[] { caller, phone })
        {
            Assert.Equal("hangup", (string?)(await device.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        }

        // the call's message is the barrier: nothing of the call reached the third devices or the stranger before it
        var message = await phone.NextAsync("message");
        Assert.Equal("call", (string?)message["message"]!["type"]);
        Assert.Equal(a.Id, (string?)message["message"]!["senderId"]);
        Assert.True(await laptop.NoneBeforeAsync("call.signal", "message"));
        Assert.True(await callerLaptop.NoneBeforeAsync("call.ring", "message"));
        Assert.False(callerLaptop.Has("call.signal") || callerLaptop.Has("call.accepted") || callerLaptop.Has("call.ended"));
        await outsider.SendAsync(new JsonObject { ["type"] = "ping" });
        await outsider.NextAsync("pong");
        Assert.False(outsider.Has("call.signal") || outsider.Has("call.ring") || outsider.Has("call.ended"));

        var record = await Server.CallMessageAsync(b, conversationId, callId);
        Assert.Equal(a.Id, (string?)record["senderId"]);
        Assert.Equal("video", (string?)record["content"]!["media"]);
        Assert.Equal("completed", (string?)record["content"]!["outcome"]);
        Assert.True((long)record["content"]!["durationMs"]! >= 0);
        Assert.Equal("not_found", (string?)(await caller.RefusedAsync(CallFrames.Frame("call.hangup", callId)))["code"]);
    }

    [Fact]
    public async Task A_rejected_call_ends_on_both_sides_and_is_recorded_rejected()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await using var caller = await WsClient.ConnectAsync(Server, a.AccessToken);
        await using var callee = await WsClient.ConnectAsync(Server, b.AccessToken);
        var callId = await caller.InviteAsync(conversationId);
        await callee.NextAsync("call.ring", where: CallFrames.Of(callId));
        Assert.Equal("conflict", (string?)(await caller.RefusedAsync(CallFrames.Frame("call.reject", callId)))["code"]);
        await callee.SendAsync(CallFrames.Frame("call.reject", callId));
        Assert.Equal("rejected", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        Assert.Equal("rejected", (string?)(await callee.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        var record = await Server.CallMessageAsync(a, conversationId, callId);
        Assert.Equal("rejected", (string?)record["content"]!["outcome"]);
        Assert.Null(record["content"]!["durationMs"]);
    }

    [Fact]
    public async Task A_callee_in_another_call_is_busy_and_one_with_no_device_online_unavailable()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var c = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(c, b);
        var cb = await Server.DirectAsync(c, b);

        // nobody of b online: unavailable at once
        await using var caller = await WsClient.ConnectAsync(Server, a.AccessToken);
        var unanswered = await caller.InviteAsync(conversationId);
        Assert.Equal("unavailable", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(unanswered)))["reason"]);
        Assert.Equal("unavailable", (string?)(await Server.CallMessageAsync(a, conversationId, unanswered))["content"]!["outcome"]);

        await using var callee = await WsClient.ConnectAsync(Server, b.AccessToken);
        await using var other = await WsClient.ConnectAsync(Server, c.AccessToken);
        var first = await other.InviteAsync(cb);
        await callee.NextAsync("call.ring", where: CallFrames.Of(first));
        var second = await caller.InviteAsync(conversationId);
        Assert.Equal("busy", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(second)))["reason"]);
        Assert.Equal("busy", (string?)(await Server.CallMessageAsync(b, conversationId, second))["content"]!["outcome"]);
        Assert.False(callee.Has("call.ring", CallFrames.Of(second)));

        // the calling device is in its call: a second invite from it is refused
        Assert.Equal("conflict", (string?)(await other.RefusedAsync(CallFrames.Invite(cb)))["code"]);
        await other.SendAsync(CallFrames.Frame("call.hangup", first));
        Assert.Equal("hangup", (string?)(await callee.NextAsync("call.ended", where: CallFrames.Of(first)))["reason"]);
        Assert.Equal("missed", (string?)(await Server.CallMessageAsync(b, cb, first))["content"]!["outcome"]);
    }

    [Fact]
    public async Task A_device_that_loses_its_socket_past_the_reconnect_window_ends_the_call_disconnected()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await using var caller = await WsClient.ConnectAsync(Server, a.AccessToken);
        var callee = await WsClient.ConnectAsync(Server, b.AccessToken);
        var callId = await caller.InviteAsync(conversationId);
        await callee.NextAsync("call.ring", where: CallFrames.Of(callId));
        await callee.SendAsync(CallFrames.Frame("call.accept", callId));
        await caller.NextAsync("call.accepted", where: CallFrames.Of(callId));
        callee.Abort();
        await callee.DisposeAsync();
        Assert.Equal("disconnected", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        Assert.Equal("completed", (string?)(await Server.CallMessageAsync(a, conversationId, callId))["content"]!["outcome"]);
    }

    [Fact]
    public async Task The_devices_new_socket_carries_its_call_once_the_old_one_closed()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await using var caller = await WsClient.ConnectAsync(Server, a.AccessToken);
        await using var callee = await WsClient.ConnectAsync(Server, b.AccessToken);
        var callId = await caller.InviteAsync(conversationId);
        await callee.NextAsync("call.ring", where: CallFrames.Of(callId));
        await callee.SendAsync(CallFrames.Frame("call.accept", callId));
        await caller.NextAsync("call.accepted", where: CallFrames.Of(callId));

        // the same device session opens a second socket, then the first goes: the call is the device's, not the socket's
        await using var again = await WsClient.ConnectAsync(Server, b.AccessToken);
        await callee.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure);
        await again.SendAsync(CallFrames.Signal(callId, "still here"));
        Assert.Equal("still here", (string?)(await caller.NextAsync("call.signal", where: CallFrames.Of(callId)))["data"]);
        await caller.SendAsync(CallFrames.Signal(callId, "hello again"));
        Assert.Equal("hello again", (string?)(await again.NextAsync("call.signal", where: CallFrames.Of(callId)))["data"]);
        await again.SendAsync(CallFrames.Frame("call.hangup", callId));
        Assert.Equal("hangup", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
    }

    [Fact]
    public async Task Blocked_callers_non_friends_strangers_and_groups_are_refused_as_messages_are()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var stranger = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(a, null, b);
        await using var caller = await WsClient.ConnectAsync(Server, a.AccessToken);
        await using var callee = await WsClient.ConnectAsync(Server, b.AccessToken);
        await using var outsider = await WsClient.ConnectAsync(Server, stranger.AccessToken);

        Assert.Equal("not_found", (string?)(await outsider.RefusedAsync(CallFrames.Invite(conversationId)))["code"]);
        Assert.Equal("not_found", (string?)(await outsider.RefusedAsync(CallFrames.Invite("999999999999")))["code"]);
        Assert.Equal("invalid", (string?)(await caller.RefusedAsync(CallFrames.Invite((string)group["conversationId"]!)))["code"]);

        await Server.Put(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        Assert.Equal("blocked", (string?)(await caller.RefusedAsync(CallFrames.Invite(conversationId)))["code"]);
        await Server.Delete(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        await Server.Delete(b, $"/api/friends/{a.Id}").Expect(HttpStatusCode.NoContent);
        Assert.Equal("not_friends", (string?)(await caller.RefusedAsync(CallFrames.Invite(conversationId)))["code"]);

        // nothing rang, and no call left a message
        await callee.SendAsync(new JsonObject { ["type"] = "ping" });
        await callee.NextAsync("pong");
        Assert.False(callee.Has("call.ring"));
        Assert.DoesNotContain(await Server.CatchUpAsync(a, conversationId), m => (string?)m["type"] == "call");
    }

    [Fact]
    public async Task A_block_during_a_call_ends_it_on_both_sides_and_a_ringing_one_too()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await using var caller = await WsClient.ConnectAsync(Server, a.AccessToken);
        await using var callee = await WsClient.ConnectAsync(Server, b.AccessToken);
        var callId = await caller.InviteAsync(conversationId);
        await callee.NextAsync("call.ring", where: CallFrames.Of(callId));
        await callee.SendAsync(CallFrames.Frame("call.accept", callId));
        await caller.NextAsync("call.accepted", where: CallFrames.Of(callId));

        await Server.Put(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        Assert.Equal("hangup", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        Assert.Equal("hangup", (string?)(await callee.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        // the blocked caller can no longer signal it (the call is gone), nor call again
        Assert.Equal("not_found", (string?)(await caller.RefusedAsync(CallFrames.Signal(callId, "x")))["code"]);
        Assert.Equal("blocked", (string?)(await caller.RefusedAsync(CallFrames.Invite(conversationId)))["code"]);

        // the blocker calls the one they blocked? refused as a message would be; unblocked, a ringing call ends on a new block
        await Server.Delete(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        var ringing = await caller.InviteAsync(conversationId);
        await callee.NextAsync("call.ring", where: CallFrames.Of(ringing));
        await Server.Put(a, $"/api/blocks/{b.Id}").Expect(HttpStatusCode.NoContent); // the caller blocks this time
        Assert.Equal("rejected", (string?)(await callee.NextAsync("call.ended", where: CallFrames.Of(ringing)))["reason"]);
        Assert.Equal("rejected", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(ringing)))["reason"]);
    }

    [Fact]
    public async Task Accept_reject_and_hangup_floods_are_rate_limited_and_the_connection_lives_on()
    {
        var (a, _, _) = await Server.FriendsWithConversationAsync();
        await using var client = await WsClient.ConnectAsync(Server, a.AccessToken);
        var answers = new List<string?>();
        for (var i = 0; i < 25 && !answers.Contains("rate_limited"); i++)
        {
            var kind = (i % 3) switch { 0 => "call.accept", 1 => "call.reject", _ => "call.hangup" };
            answers.Add((string?)(await client.RefusedAsync(CallFrames.Frame(kind, (1_000_000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture))))["code"]);
        }

        // the default burst (Calls:ControlBurst, 20) of guessed ids is answered not_found, the one past it rate_limited
        Assert.Equal([.. Enumerable.Repeat("not_found", 20), "rate_limited"], answers);
        await client.SendAsync(new JsonObject { ["type"] = "ping" });
        await client.NextAsync("pong");
    }

    [Fact]
    public async Task Bad_call_frames_are_answered_with_errors_and_the_connection_lives_on()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await using var caller = await WsClient.ConnectAsync(Server, a.AccessToken);
        await using var callee = await WsClient.ConnectAsync(Server, b.AccessToken);
        Assert.Equal("invalid", (string?)(await caller.RefusedAsync(CallFrames.Invite(conversationId, "hologram")))["code"]);
        Assert.Equal("invalid", (string?)(await caller.RefusedAsync(new JsonObject { ["type"] = "call.invite", ["conversationId"] = conversationId }))["code"]);
        Assert.Equal("invalid", (string?)(await caller.RefusedAsync(new JsonObject { ["type"] = "call.accept", ["callId"] = "abc" }))["code"]);
        Assert.Equal("invalid", (string?)(await caller.RefusedAsync(new JsonObject { ["type"] = "call.signal", ["callId"] = "12" }))["code"]);
        Assert.Equal("invalid", (string?)(await caller.RefusedAsync(new JsonObject { ["type"] = "call.signal", ["callId"] = "12", ["data"] = null }))["code"]);
        Assert.Equal("not_found", (string?)(await caller.RefusedAsync(CallFrames.Frame("call.reject", "12")))["code"]);

        var callId = await caller.InviteAsync(conversationId);
        await callee.NextAsync("call.ring", where: CallFrames.Of(callId));
        var tooBig = await caller.RefusedAsync(CallFrames.Signal(callId, new string('x', 64 * 1024)));
        Assert.Equal("too_large", (string?)tooBig["code"]);

        // a client may not write call messages itself
        var send = new JsonObject
        {
            ["type"] = "send",
            ["conversationId"] = conversationId,
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["msgType"] = "call",
            ["content"] = new JsonObject { ["callId"] = callId, ["media"] = "audio", ["outcome"] = "completed", ["durationMs"] = 1 },
        };
        Assert.Equal("invalid", (string?)(await caller.RefusedAsync(send))["code"]);
        await Server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["type"] = "call",
            ["content"] = new JsonObject { ["callId"] = callId, ["media"] = "audio", ["outcome"] = "completed" },
        }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        await caller.SendAsync(CallFrames.Frame("call.hangup", callId));
        Assert.Equal("hangup", (string?)(await callee.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, caller.State);
        Assert.Equal("missed", (string?)(await Server.CallMessageAsync(a, conversationId, callId))["content"]!["outcome"]);
    }
}

/// <summary>The ring timeout on a server whose calls ring for one second.</summary>
public abstract class RingTimeoutTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task An_unanswered_call_times_out_and_is_a_missed_call_in_history()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await using var caller = await WsClient.ConnectAsync(Server, a.AccessToken);
        await using var callee = await WsClient.ConnectAsync(Server, b.AccessToken);
        var callId = await caller.InviteAsync(conversationId);
        await callee.NextAsync("call.ring", where: CallFrames.Of(callId));
        Assert.Equal("timeout", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        Assert.Equal("timeout", (string?)(await callee.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        var missed = await callee.NextAsync("message");
        Assert.Equal("call", (string?)missed["message"]!["type"]);
        Assert.Equal("missed", (string?)missed["message"]!["content"]!["outcome"]);
        Assert.Equal(1, (long)(await Server.ConversationAsync(b, conversationId))["unreadCount"]!);
        Assert.Equal("missed", (string?)(await Server.CallMessageAsync(b, conversationId, callId))["content"]!["outcome"]);
    }
}
