using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Realtime;

public sealed class GatewayTestsSqlite(SqliteFixture fixture) : GatewayTests(fixture), IClassFixture<SqliteFixture>;

public sealed class GatewayTestsPostgres(PostgresFixture fixture) : GatewayTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>The WebSocket protocol with real clients: every frame, both directions.</summary>
public abstract class GatewayTests(ServerFixture fixture) : BackendTests(fixture)
{
    private static JsonObject Send(string conversationId, string text, string? clientMsgId = null, JsonNode? reference = null) => new()
    {
        ["type"] = "send",
        ["ref"] = reference ?? "r-" + Guid.NewGuid().ToString("N")[..6],
        ["conversationId"] = conversationId,
        ["clientMsgId"] = clientMsgId ?? Guid.NewGuid().ToString("N"),
        ["msgType"] = "text",
        ["content"] = new JsonObject { ["text"] = text },
    };

    [Fact]
    public async Task Hello_then_ping_pong()
    {
        var user = await Server.RegisterAsync();
        await using var ws = await WsClient.ConnectAsync(Server, user.AccessToken);
        Assert.Equal(user.Id, (string?)ws.Hello["userId"]);
        Assert.Equal(user.DeviceId, (string?)ws.Hello["deviceId"]);
        Assert.Equal(30000, (int)ws.Hello["heartbeatMs"]!);
        Assert.True((long)ws.Hello["serverTime"]! > 0);
        await ws.SendAsync(new JsonObject { ["type"] = "ping" });
        await ws.NextAsync("pong");
    }

    [Fact]
    public async Task Upgrade_needs_a_valid_token_and_an_allowed_origin()
    {
        var user = await Server.RegisterAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, await WsClient.RefusedAsync(Server, null));
        Assert.Equal(HttpStatusCode.Unauthorized, await WsClient.RefusedAsync(Server, "garbage"));
        Assert.Equal(HttpStatusCode.Forbidden, await WsClient.RefusedAsync(Server, user.AccessToken, "https://evil.example"));
        await using var sameOrigin = await WsClient.ConnectAsync(Server, user.AccessToken, Server.BaseUri.GetLeftPart(UriPartial.Authority));
        Assert.Equal(WebSocketState.Open, sameOrigin.State);
        await Server.Send(HttpMethod.Get, "/ws", user.AccessToken).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Get, "/ws").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task A_send_is_acknowledged_and_reaches_every_other_device_once()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var a2 = await Server.LoginAsync(a.Username, a.Password, "second device");
        await using var sender = await WsClient.ConnectAsync(Server, a.AccessToken);
        await using var senderOther = await WsClient.ConnectAsync(Server, a2.AccessToken);
        await using var peer = await WsClient.ConnectAsync(Server, b.AccessToken);

        await sender.SendAsync(Send(conversationId, "hi", "c-1", JsonValue.Create(42)));
        var sent = await sender.NextAsync("sent");
        Assert.Equal(42, (int)sent["ref"]!);
        Assert.Equal(1, (long)sent["message"]!["seq"]!);
        Assert.Equal("hi", (string?)sent["message"]!["content"]!["text"]);

        foreach (var device in new[] { senderOther, peer })
        {
            var pushed = await device.NextAsync("message");
            Assert.Equal(1, (long)pushed["message"]!["seq"]!);
            Assert.Equal(a.Id, (string?)pushed["message"]!["senderId"]);
        }

        // a retry over the socket gives the original again, and nothing new is pushed
        await sender.SendAsync(Send(conversationId, "hi again", "c-1", JsonValue.Create("retry")));
        var again = await sender.NextAsync("sent");
        Assert.Equal("retry", (string?)again["ref"]);
        Assert.Equal(1, (long)again["message"]!["seq"]!);

        // HTTP sends are pushed too, to all of the sender's devices. Seq 2 is also the barrier for what must not
        // come: pushes of one conversation leave in seq order, so a second copy of seq 1 (to a device that had it,
        // to the sending connection, which got "sent" instead, or for the retry) would arrive before it.
        await Server.SendTextAsync(b, conversationId, "by http");
        foreach (var device in new[] { sender, senderOther, peer })
        {
            Assert.True(await device.NoneBeforeAsync("message", "message", IsSeq(2)), "a second copy of seq 1 came before seq 2");
        }
    }

    private static Func<JsonNode, bool> IsSeq(long seq) => f => (long?)f["message"]?["seq"] == seq;

    [Fact]
    public async Task Bad_frames_get_errors_and_the_connection_lives_on()
    {
        var (a, _, conversationId) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, a.AccessToken);

        await ws.SendRawAsync(Encoding.UTF8.GetBytes("{not json"));
        Assert.Equal("invalid", (string?)(await ws.NextAsync("error"))["code"]);
        await ws.SendRawAsync(Encoding.UTF8.GetBytes("""{"type":"dance","ref":"d1"}"""));
        var unknown = await ws.NextAsync("error");
        Assert.Equal("unknown_type", (string?)unknown["code"]);
        Assert.Equal("d1", (string?)unknown["ref"]);
        await ws.SendRawAsync([1, 2, 3], WebSocketMessageType.Binary);
        Assert.Equal("invalid", (string?)(await ws.NextAsync("error"))["code"]);
        await ws.SendAsync(new JsonObject { ["type"] = "send", ["ref"] = "s1", ["conversationId"] = conversationId, ["clientMsgId"] = "x", ["msgType"] = "text", ["content"] = new JsonObject() });
        var invalid = await ws.NextAsync("error");
        Assert.Equal("invalid", (string?)invalid["code"]);
        Assert.Equal("s1", (string?)invalid["ref"]);
        var stranger = await Server.RegisterAsync();
        var other = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(stranger, other);
        var notMine = await Server.DirectAsync(stranger, other);
        await ws.SendAsync(Send(notMine, "let me in", reference: "s2"));
        Assert.Equal("forbidden", (string?)(await ws.NextAsync("error", where: f => (string?)f["ref"] == "s2"))["code"]);
        await ws.SendAsync(new JsonObject { ["type"] = "sync", ["ref"] = "y1", ["conversationId"] = notMine, ["afterSeq"] = 0 });
        Assert.Equal("forbidden", (string?)(await ws.NextAsync("error", where: f => (string?)f["ref"] == "y1"))["code"]);
        foreach (var type in new[] { "read", "ack", "typing" })
        {
            await ws.SendAsync(new JsonObject { ["type"] = type, ["conversationId"] = notMine, ["seq"] = 1 });
            Assert.Equal("forbidden", (string?)(await ws.NextAsync("error"))["code"]);
        }

        await ws.SendAsync(new JsonObject { ["type"] = "ping" });
        await ws.NextAsync("pong");
    }

    [Fact]
    public async Task An_oversize_frame_closes_with_1009()
    {
        var user = await Server.RegisterAsync();
        await using var ws = await WsClient.ConnectAsync(Server, user.AccessToken);
        var big = Encoding.UTF8.GetBytes("{\"type\":\"ping\",\"pad\":\"" + new string('x', 130 * 1024) + "\"}");
        await ws.SendRawAsync(big);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await ws.ClosedAsync());
    }

    [Fact]
    public async Task Sync_returns_history_after_a_seq()
    {
        var (a, _, conversationId) = await Server.FriendsWithConversationAsync();
        for (var i = 1; i <= 5; i++)
        {
            await Server.SendTextAsync(a, conversationId, "m" + i);
        }

        await using var ws = await WsClient.ConnectAsync(Server, a.AccessToken);
        await ws.SendAsync(new JsonObject { ["type"] = "sync", ["ref"] = 7, ["conversationId"] = conversationId, ["afterSeq"] = 2, ["limit"] = 2 });
        var page = await ws.NextAsync("messages");
        Assert.Equal(7, (int)page["ref"]!);
        Assert.Equal(conversationId, (string?)page["conversationId"]);
        Assert.Equal([3L, 4], page["items"]!.AsArray().Select(m => (long)m!["seq"]!));
        Assert.True((bool)page["hasMore"]!);
        Assert.Equal(5, (long)page["maxSeq"]!);
    }

    [Fact]
    public async Task Read_typing_and_ack_frames()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, conversationId, "read me");
        await using var wsA = await WsClient.ConnectAsync(Server, a.AccessToken);
        await using var wsB = await WsClient.ConnectAsync(Server, b.AccessToken);

        await wsB.SendAsync(new JsonObject { ["type"] = "read", ["conversationId"] = conversationId, ["seq"] = 1 });
        var read = await wsA.NextAsync("read");
        Assert.Equal(b.Id, (string?)read["userId"]);
        Assert.Equal(1, (long)read["seq"]!);
        Assert.Equal(0, (long)(await Server.ConversationAsync(b, conversationId))["unreadCount"]!);

        await wsA.SendAsync(new JsonObject { ["type"] = "typing", ["conversationId"] = conversationId });
        Assert.Equal(a.Id, (string?)(await wsB.NextAsync("typing"))["userId"]);
        // Barrier: a connection's frames are handled in order, so an echo of A's typing to A would be queued
        // before the answer to A's next frame.
        await wsA.SendAsync(new JsonObject { ["type"] = "ping" });
        Assert.True(await wsA.NoneBeforeAsync("typing", "pong"), "the typing user got its own typing frame");

        await wsB.SendAsync(new JsonObject { ["type"] = "ack", ["conversationId"] = conversationId, ["seq"] = 1 });
        await wsB.SendAsync(new JsonObject { ["type"] = "ping" });
        await wsB.NextAsync("pong"); // frames of one connection are handled in order: the ack is stored
        var forB = await Server.ConversationAsync(b, conversationId);
        Assert.Equal(1, (long)forB["ackSeq"]!);
        var bOther = await Server.LoginAsync(b.Username, b.Password);
        Assert.Equal(0, (long)(await Server.ConversationAsync(bOther, conversationId))["ackSeq"]!); // per device
    }

    [Fact]
    public async Task A_blocked_users_typing_and_read_receipts_never_reach_the_blocker()
    {
        var (a, b, direct) = await Server.FriendsWithConversationAsync();
        var c = await Server.RegisterAsync();
        var group = (string)(await Server.CreateGroupAsync(b, null, a, c))["conversationId"]!;
        await Server.SendTextAsync(b, direct, "from the blocker");
        await Server.SendTextAsync(a, direct, "from the one about to be blocked"); // seq 2: unread for the blocker
        await Server.Put(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        await using var wsA = await WsClient.ConnectAsync(Server, a.AccessToken);
        await using var wsB = await WsClient.ConnectAsync(Server, b.AccessToken);
        await using var wsC = await WsClient.ConnectAsync(Server, c.AccessToken);

        // The blocked user types in the group and reads the blocker's message; a ping answered means both were handled.
        await wsA.SendAsync(new JsonObject { ["type"] = "typing", ["conversationId"] = group });
        await wsA.SendAsync(new JsonObject { ["type"] = "read", ["conversationId"] = direct, ["seq"] = 2 });
        await wsA.SendAsync(new JsonObject { ["type"] = "ping" });
        await wsA.NextAsync("pong");
        Assert.Equal(a.Id, (string?)(await wsC.NextAsync("typing"))["userId"]); // others still see it

        // Barriers: the next typing and read frames the blocker gets are these, not the blocked user's.
        await wsC.SendAsync(new JsonObject { ["type"] = "typing", ["conversationId"] = group });
        Assert.Equal(c.Id, (string?)(await wsB.NextAsync("typing"))["userId"]);
        var bOther = await Server.LoginAsync(b.Username, b.Password);
        await Server.Post(bOther, $"/api/conversations/{direct}/read", new JsonObject { ["seq"] = 2 }).Expect(HttpStatusCode.NoContent);
        Assert.Equal(b.Id, (string?)(await wsB.NextAsync("read"))["userId"]);
    }

    [Fact]
    public async Task Notifications_presence_and_recalls_are_pushed()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        await using var wsB = await WsClient.ConnectAsync(Server, b.AccessToken);
        await Server.SendFriendRequestAsync(a, b);
        var notify = await wsB.NextAsync("notify");
        Assert.Equal("friend.request", (string?)notify["kind"]);
        Assert.Equal(a.Id, (string?)notify["data"]!["fromUserId"]);
        await Server.Post(b, $"/api/friends/requests/{(string)notify["data"]!["id"]!}/accept").Expect(HttpStatusCode.OK);

        var wsA = await WsClient.ConnectAsync(Server, a.AccessToken);
        var online = await wsB.NextAsync("presence", where: f => (string?)f["userId"] == a.Id);
        Assert.True((bool)online["online"]!);

        var conversationId = await Server.DirectAsync(a, b);
        await Server.SendTextAsync(a, conversationId, "regret");
        await wsB.NextAsync("message");
        await Server.Post(a, $"/api/conversations/{conversationId}/messages/1/recall").Expect(HttpStatusCode.OK);
        var recalled = await wsB.NextAsync("recalled");
        Assert.Equal(1, (long)recalled["seq"]!);
        Assert.Equal(a.Id, (string?)recalled["by"]);

        await wsA.DisposeAsync();
        var offline = await wsB.NextAsync("presence", where: f => (string?)f["userId"] == a.Id && !(bool)f["online"]!);
        Assert.True((long)offline["lastSeenAt"]! > 0);
    }

    [Fact]
    public async Task Revoking_a_session_closes_its_sockets_with_4001()
    {
        var user = await Server.RegisterAsync();
        var other = await Server.LoginAsync(user.Username, user.Password);
        await using var ws = await WsClient.ConnectAsync(Server, user.AccessToken);
        await using var wsOther = await WsClient.ConnectAsync(Server, other.AccessToken);
        await Server.Send(HttpMethod.Post, "/api/auth/logout", body: new JsonObject { ["refreshToken"] = user.RefreshToken }).Expect(HttpStatusCode.NoContent);
        Assert.Equal((WebSocketCloseStatus)4001, await ws.ClosedAsync());
        await wsOther.SendAsync(new JsonObject { ["type"] = "ping" });
        await wsOther.NextAsync("pong");
    }

    [Fact]
    public async Task A_removed_member_stops_receiving_at_once()
    {
        var owner = await Server.RegisterAsync();
        var members = await Server.RegisterManyAsync(2);
        var group = await Server.CreateGroupAsync(owner, null, members);
        var conversationId = (string)group["conversationId"]!;
        await using var stays = await WsClient.ConnectAsync(Server, members[0].AccessToken);
        await using var removed = await WsClient.ConnectAsync(Server, members[1].AccessToken);
        await Server.SendTextAsync(owner, conversationId, "before");
        await removed.NextAsync("message");

        await Server.Delete(owner, $"/api/groups/{group.Id()}/members/{members[1].Id}").Expect(HttpStatusCode.NoContent);
        Assert.Equal("group.removed", (string?)(await removed.NextAsync("notify"))["kind"]);
        await Server.SendTextAsync(owner, conversationId, "after");
        Assert.Equal("after", (string?)(await stays.NextAsync("message", where: IsSeq(2)))["message"]!["content"]!["text"]);

        // Barrier: added back, the member gets seq 3; pushes of one conversation leave in seq order, so seq 2 would
        // have arrived before it.
        await Server.Post(owner, $"/api/groups/{group.Id()}/members", new JsonObject { ["userIds"] = new JsonArray(members[1].Id) }).Expect(HttpStatusCode.OK);
        await Server.SendTextAsync(owner, conversationId, "back");
        Assert.True(await removed.NoneBeforeAsync("message", "message", IsSeq(3)), "the removed member got seq 2");
    }

    [Fact]
    public async Task Concurrent_socket_senders_get_dense_seqs()
    {
        var owner = await Server.RegisterAsync();
        var members = await Server.RegisterManyAsync(3);
        var group = await Server.CreateGroupAsync(owner, null, members);
        var conversationId = (string)group["conversationId"]!;
        var clients = new List<WsClient>();
        foreach (var user in members.Append(owner))
        {
            clients.Add(await WsClient.ConnectAsync(Server, user.AccessToken));
        }

        const int PerClient = 50;
        var seqs = await Task.WhenAll(clients.Select(async client =>
        {
            var mine = new List<long>();
            for (var i = 0; i < PerClient; i++)
            {
                await client.SendAsync(Send(conversationId, "n" + i, reference: i));
            }

            for (var i = 0; i < PerClient; i++)
            {
                var sent = await client.NextAsync("sent", where: f => (int)f["ref"]! == i);
                mine.Add((long)sent["message"]!["seq"]!);
            }

            return mine;
        }));

        Assert.All(seqs, mine => Assert.Equal(mine.Order(), mine)); // a connection's sends keep their order
        Assert.Equal(Enumerable.Range(1, clients.Count * PerClient).Select(i => (long)i), seqs.SelectMany(s => s).Order());
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Pushes_of_one_conversation_arrive_in_seq_order_under_concurrent_senders()
    {
        var owner = await Server.RegisterAsync();
        var members = await Server.RegisterManyAsync(4);
        var group = await Server.CreateGroupAsync(owner, null, members);
        var conversationId = (string)group["conversationId"]!;
        await using var watcher = await WsClient.ConnectAsync(Server, owner.AccessToken);
        const int PerSender = 30;
        await Task.WhenAll(members.Select(async m =>
        {
            for (var i = 0; i < PerSender; i++)
            {
                await Server.SendTextAsync(m, conversationId, m.Username + i);
            }
        }));

        var seqs = new List<long>();
        while (seqs.Count < members.Length * PerSender)
        {
            seqs.Add((long)(await watcher.NextAsync("message"))["message"]!["seq"]!);
        }

        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
    }

    [Fact]
    public async Task Empty_frames_and_deeply_nested_content_are_refused()
    {
        var (a, _, conversationId) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, a.AccessToken);
        await ws.SendRawAsync([]);
        Assert.Equal("invalid", (string?)(await ws.NextAsync("error"))["code"]);

        JsonNode nested = new JsonObject { ["leaf"] = 1 };
        for (var i = 0; i < 20; i++)
        {
            nested = new JsonObject { ["n"] = nested };
        }

        await ws.SendAsync(new JsonObject
        {
            ["type"] = "send", ["ref"] = "deep", ["conversationId"] = conversationId, ["clientMsgId"] = "deep-1",
            ["msgType"] = "custom", ["content"] = nested,
        });
        Assert.Equal("invalid", (string?)(await ws.NextAsync("error", where: f => (string?)f["ref"] == "deep"))["code"]);
        await ws.SendAsync(new JsonObject { ["type"] = "ping" });
        await ws.NextAsync("pong");
    }

    [Fact]
    public async Task A_client_msg_id_reused_in_another_conversation_is_a_conflict()
    {
        var (a, b, first) = await Server.FriendsWithConversationAsync();
        var c = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(a, c);
        var second = await Server.DirectAsync(a, c);
        await Server.SendTextAsync(a, first, "one", "same-id");
        await Server.SendText(a, second, "two", "same-id").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        Assert.Empty(await Server.CatchUpAsync(c, second));
        Assert.Single(await Server.CatchUpAsync(b, first));
    }
}
