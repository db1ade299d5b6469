using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

public sealed class PeerReadSeqTestsSqlite(SqliteFixture fixture) : PeerReadSeqTests(fixture), IClassFixture<SqliteFixture>;

public sealed class PeerReadSeqTestsPostgres(PostgresFixture fixture) : PeerReadSeqTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>The conversation's <c>peerReadSeq</c>: direct only, how far the peer has read, fresh on every load.</summary>
public abstract class PeerReadSeqTests(ServerFixture fixture) : BackendTests(fixture)
{
    private static JsonNode InList(List<JsonNode> conversations, string id) =>
        conversations.Single(c => (string?)c["id"] == id);

    [Fact]
    public async Task A_fresh_list_and_get_show_how_far_the_peer_has_read()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        Assert.Equal(0, (long)(await Server.ConversationAsync(a, conversationId))["peerReadSeq"]!);

        await Server.SendTextAsync(a, conversationId, "one");
        await Server.SendTextAsync(a, conversationId, "two");
        await Server.SendTextAsync(a, conversationId, "three");
        Assert.Equal(0, (long)InList(await Server.AllItemsAsync(a, "/api/conversations"), conversationId)["peerReadSeq"]!);

        await Server.Post(b, $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 2 }).Expect(HttpStatusCode.NoContent);
        Assert.Equal(2, (long)InList(await Server.AllItemsAsync(a, "/api/conversations"), conversationId)["peerReadSeq"]!);
        Assert.Equal(2, (long)(await Server.ConversationAsync(a, conversationId))["peerReadSeq"]!);
        // Each side sees the other's marker, not its own: the sender's own readSeq is at its last message.
        var mine = await Server.ConversationAsync(a, conversationId);
        Assert.Equal(3, (long)mine["readSeq"]!);
        Assert.Equal(3, (long)(await Server.ConversationAsync(b, conversationId))["peerReadSeq"]!);

        // Over the socket too, and the PATCH and get-or-create answers carry it.
        await using (var ws = await WsClient.ConnectAsync(Server, b.AccessToken))
        {
            await ws.SendAsync(new JsonObject { ["type"] = "read", ["conversationId"] = conversationId, ["seq"] = 3 });
            await ws.SendAsync(new JsonObject { ["type"] = "ping" });
            await ws.NextAsync("pong");
        }

        Assert.Equal(3, (long)(await Server.Patch(a, $"/api/conversations/{conversationId}", new JsonObject { ["muted"] = true }).Expect(HttpStatusCode.OK))["peerReadSeq"]!);
        Assert.Equal(3, (long)(await Server.Post(a, "/api/conversations/direct", new JsonObject { ["userId"] = b.Id }).Expect(HttpStatusCode.OK))["peerReadSeq"]!);
    }

    [Fact]
    public async Task Groups_do_not_carry_it_and_strangers_get_nothing()
    {
        var owner = await Server.RegisterAsync();
        var member = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, null, member);
        var conversationId = (string)group["conversationId"]!;
        await Server.SendTextAsync(owner, conversationId, "hi");
        await Server.Post(member, $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 1 }).Expect(HttpStatusCode.NoContent);

        var listed = InList(await Server.AllItemsAsync(owner, "/api/conversations"), conversationId).AsObject();
        Assert.False(listed.ContainsKey("peerReadSeq"));
        Assert.False((await Server.ConversationAsync(owner, conversationId)).AsObject().ContainsKey("peerReadSeq"));
        Assert.Equal(group.Id(), (string?)listed["group"]!["id"]);
        Assert.True(listed["group"]!.AsObject().ContainsKey("avatarFileId"));

        var (a, _, direct) = await Server.FriendsWithConversationAsync();
        var stranger = await Server.RegisterAsync();
        // docs/api.md, Access: a conversation one is not a member of is 403 (404 only when it does not exist or is a
        // private group's); either way the answer is a problem, with nothing of the conversation in it.
        await Server.Get(stranger, $"/api/conversations/{direct}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Get(stranger, "/api/conversations/123456789").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        Assert.DoesNotContain(await Server.AllItemsAsync(stranger, "/api/conversations"), c => (string?)c["id"] == direct);
        Assert.NotNull((await Server.ConversationAsync(a, direct))["peerReadSeq"]);
    }
}
