using System.Net;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// Live traffic across three real node processes over the Redis bus: every frame a client gets on one node for what
/// was done through another. Nodes A, B and C share one PostgreSQL database; each test makes its own users.
/// </summary>
public sealed class BusDeliveryTests(BusCluster cluster) : IClassFixture<BusCluster>, IAsyncLifetime
{
    public ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    internal static JsonObject Send(string conversationId, string clientMsgId, string text) => new()
    {
        ["type"] = "send",
        ["ref"] = clientMsgId,
        ["conversationId"] = conversationId,
        ["clientMsgId"] = clientMsgId,
        ["msgType"] = "text",
        ["content"] = new JsonObject { ["text"] = text },
    };

    internal static Func<JsonNode, bool> MessageIn(string conversationId, string? clientMsgId = null) =>
        f => (string?)f["message"]!["conversationId"] == conversationId && (clientMsgId is null || (string?)f["message"]!["clientMsgId"] == clientMsgId);

    /// <summary>Two friends (registered through A) and their direct conversation.</summary>
    private async Task<(TestUser X, TestUser Y, string Conversation)> FriendsAsync()
    {
        var (x, y, conversation) = await cluster.A.FriendsWithConversationAsync();
        return (x, y, conversation);
    }

    [Fact]
    public async Task A_direct_message_sent_on_A_reaches_the_recipient_on_B_and_the_senders_other_device_on_C()
    {
        var (x, y, conversation) = await FriendsAsync();
        var xOther = await cluster.C.LoginAsync(x.Username, x.Password, "second");
        await using var xOnA = await WsClient.ConnectAsync(cluster.A, x.AccessToken);
        await using var xOnC = await WsClient.ConnectAsync(cluster.C, xOther.AccessToken);
        await using var yOnB = await WsClient.ConnectAsync(cluster.B, y.AccessToken);

        await xOnA.SendAsync(Send(conversation, "d1", "hello across nodes"));
        var sent = await xOnA.NextAsync("sent");
        var seq = (long)sent["message"]!["seq"]!;

        var received = await yOnB.NextAsync("message", where: MessageIn(conversation, "d1"));
        Assert.Equal(seq, (long)received["message"]!["seq"]!);
        Assert.Equal("hello across nodes", (string?)received["message"]!["content"]!["text"]);
        var other = await xOnC.NextAsync("message", where: MessageIn(conversation, "d1"));
        Assert.Equal(seq, (long)other["message"]!["seq"]!);

        // The sending socket got `sent`, never its own message: a second message is the barrier.
        await xOnA.SendAsync(Send(conversation, "d2", "second"));
        await xOnA.NextAsync("sent");
        Assert.True(await yOnB.NoneBeforeAsync("message", "message", sentinel: MessageIn(conversation, "d2"), where: f => false));
        Assert.False(xOnA.Has("message"));
    }

    [Fact]
    public async Task A_group_message_sent_on_A_reaches_members_on_B_and_C_and_recall_read_and_typing_follow()
    {
        var owner = await cluster.A.RegisterAsync();
        var member = await cluster.B.RegisterAsync();
        var third = await cluster.C.RegisterAsync();
        var group = await cluster.A.CreateGroupAsync(owner, null, member, third);
        var conversation = (string)group["conversationId"]!;
        await using var ownerOnA = await WsClient.ConnectAsync(cluster.A, owner.AccessToken);
        await using var memberOnB = await WsClient.ConnectAsync(cluster.B, member.AccessToken);
        await using var thirdOnC = await WsClient.ConnectAsync(cluster.C, third.AccessToken);

        await ownerOnA.SendAsync(Send(conversation, "g1", "to the group"));
        var seq = (long)(await ownerOnA.NextAsync("sent"))["message"]!["seq"]!;
        Assert.Equal(seq, (long)(await memberOnB.NextAsync("message", where: MessageIn(conversation, "g1")))["message"]!["seq"]!);
        Assert.Equal(seq, (long)(await thirdOnC.NextAsync("message", where: MessageIn(conversation, "g1")))["message"]!["seq"]!);

        // Recall through A's HTTP: every member's device hears it, on every node.
        await cluster.A.Post(owner, $"/api/conversations/{conversation}/messages/{seq}/recall").Expect(HttpStatusCode.OK);
        var recalled = await thirdOnC.NextAsync("recalled");
        Assert.Equal(conversation, (string?)recalled["conversationId"]);
        Assert.Equal(seq, (long)recalled["seq"]!);
        await memberOnB.NextAsync("recalled");

        // Typing on C reaches the others on A and B.
        await thirdOnC.SendAsync(new JsonObject { ["type"] = "typing", ["conversationId"] = conversation });
        var typing = await ownerOnA.NextAsync("typing");
        Assert.Equal(third.Id, (string?)typing["userId"]);
        await memberOnB.NextAsync("typing", where: f => (string?)f["userId"] == third.Id);
    }

    [Fact]
    public async Task Read_on_B_reaches_the_peer_on_A_and_the_readers_other_device_on_C()
    {
        var (x, y, conversation) = await FriendsAsync();
        var yOther = await cluster.C.LoginAsync(y.Username, y.Password, "second");
        await using var xOnA = await WsClient.ConnectAsync(cluster.A, x.AccessToken);
        await using var yOnB = await WsClient.ConnectAsync(cluster.B, y.AccessToken);
        await using var yOnC = await WsClient.ConnectAsync(cluster.C, yOther.AccessToken);
        var seq = (await cluster.A.SendTextAsync(x, conversation, "read me")).Seq();
        await yOnB.NextAsync("message", where: MessageIn(conversation));

        await yOnB.SendAsync(new JsonObject { ["type"] = "read", ["conversationId"] = conversation, ["seq"] = seq });
        var read = await xOnA.NextAsync("read");
        Assert.Equal(y.Id, (string?)read["userId"]);
        Assert.Equal(seq, (long)read["seq"]!);
        var mine = await yOnC.NextAsync("read");
        Assert.Equal(seq, (long)mine["seq"]!);
    }

    [Fact]
    public async Task A_friend_request_accepted_on_B_notifies_the_requester_on_C()
    {
        var x = await cluster.A.RegisterAsync();
        var y = await cluster.B.RegisterAsync();
        await using var xOnC = await WsClient.ConnectAsync(cluster.C, x.AccessToken);
        await using var yOnA = await WsClient.ConnectAsync(cluster.A, y.AccessToken);
        var request = await cluster.A.SendFriendRequestAsync(x, y);
        var asked = await yOnA.NextAsync("notify", where: f => (string?)f["kind"] == "friend.request");
        Assert.NotNull(asked["data"]);

        await cluster.B.Post(y, $"/api/friends/requests/{request.Id()}/accept").Expect(HttpStatusCode.OK);
        var accepted = await xOnC.NextAsync("notify", where: f => (string?)f["kind"] == "friend.accepted");
        Assert.NotNull(accepted["data"]);
    }

    [Fact]
    public async Task Logout_through_A_closes_the_session_socket_on_C_with_4001()
    {
        var user = await cluster.A.RegisterAsync();
        var other = await cluster.B.LoginAsync(user.Username, user.Password, "kept");
        await using var onC = await WsClient.ConnectAsync(cluster.C, user.AccessToken);
        await using var keptOnB = await WsClient.ConnectAsync(cluster.B, other.AccessToken);

        await cluster.A.Send(HttpMethod.Post, "/api/auth/logout", user.AccessToken, new { refreshToken = user.RefreshToken })
            .Expect(HttpStatusCode.NoContent);

        Assert.Equal((WebSocketCloseStatus)4001, await onC.ClosedAsync());
        // The user's other session is not revoked: its socket on B still works.
        await keptOnB.SendAsync(new JsonObject { ["type"] = "ping" });
        await keptOnB.NextAsync("pong");
    }

    [Fact]
    public async Task A_member_removed_through_B_gets_nothing_committed_after_the_removal_on_C()
    {
        var owner = await cluster.A.RegisterAsync();
        var member = await cluster.C.RegisterAsync();
        await cluster.A.MakeFriendsAsync(owner, member);
        var direct = await cluster.A.DirectAsync(owner, member);
        var group = await cluster.A.CreateGroupAsync(owner, null, member);
        var conversation = (string)group["conversationId"]!;
        await using var memberOnC = await WsClient.ConnectAsync(cluster.C, member.AccessToken);

        // A holds the group's view (it just sent there), and the member gets it on C.
        await cluster.A.SendTextAsync(owner, conversation, "before");
        await memberOnC.NextAsync("message", where: MessageIn(conversation));

        await cluster.B.Delete(owner, $"/api/groups/{group.Id()}/members/{member.Id}").Expect(HttpStatusCode.NoContent);
        // Right away through A, whose view may not have heard of the removal yet: the commit decides.
        await cluster.A.SendTextAsync(owner, conversation, "after");

        // Barrier: a direct message sent through A after it, to the same user channel, in the same order.
        await cluster.A.SendTextAsync(owner, direct, "barrier");
        Assert.True(await memberOnC.NoneBeforeAsync("message", "message", sentinel: MessageIn(direct), where: MessageIn(conversation)));
    }

    [Fact]
    public async Task A_block_made_through_B_refuses_a_send_through_A()
    {
        var (x, y, conversation) = await FriendsAsync();
        await cluster.A.SendTextAsync(x, conversation, "while friends"); // A holds the view that allows it

        await cluster.B.Put(y, $"/api/blocks/{x.Id}").Expect(HttpStatusCode.NoContent);
        await cluster.A.SendText(x, conversation, "blocked now").ExpectProblem(HttpStatusCode.Forbidden, "blocked");
        await using var xOnC = await WsClient.ConnectAsync(cluster.C, x.AccessToken);
        await xOnC.SendAsync(Send(conversation, "b-ws", "blocked on C too"));
        var error = await xOnC.NextAsync("error");
        Assert.Equal("blocked", (string?)error["code"]);
    }

    [Fact]
    public async Task A_rename_on_A_reaches_a_friend_on_B_and_a_co_member_and_own_device_on_C()
    {
        var alice = await cluster.A.RegisterAsync();
        var friend = await cluster.B.RegisterAsync();
        var coMember = await cluster.C.RegisterAsync();
        await cluster.A.MakeFriendsAsync(alice, friend);
        await cluster.C.CreateGroupAsync(coMember, null, alice);
        var aliceOther = await cluster.C.LoginAsync(alice.Username, alice.Password, "second");
        await using var friendOnB = await WsClient.ConnectAsync(cluster.B, friend.AccessToken);
        await using var coMemberOnC = await WsClient.ConnectAsync(cluster.C, coMember.AccessToken);
        await using var aliceOnC = await WsClient.ConnectAsync(cluster.C, aliceOther.AccessToken);

        await cluster.A.Patch(alice, "/api/users/me", new JsonObject { ["nickname"] = "Alice on A" }).Expect(HttpStatusCode.OK);
        foreach (var ws in new[] { friendOnB, coMemberOnC, aliceOnC })
        {
            var frame = await ws.NextAsync("notify", where: f => (string?)f["kind"] == "user.updated");
            Assert.Equal(alice.Id, (string?)frame["data"]!["user"]!["id"]);
            Assert.Equal("Alice on A", (string?)frame["data"]!["user"]!["nickname"]);
        }
    }
}
