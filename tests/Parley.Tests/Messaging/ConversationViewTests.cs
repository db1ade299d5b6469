using System.Net;
using System.Text.Json.Nodes;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

public sealed class ConversationViewTestsSqlite(SqliteFixture fixture) : ConversationViewTests(fixture), IClassFixture<SqliteFixture>;

public sealed class ConversationViewTestsPostgres(PostgresFixture fixture) : ConversationViewTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>
/// The sender checks sends against an in-memory view of each conversation: every kind of committed change (join,
/// leave, removal, role, mute, visibility, dissolution, friendship, block) must be seen by the very next send, and
/// a retry gets its original whatever changed since.
/// </summary>
public abstract class ConversationViewTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task Every_group_change_is_seen_by_the_next_send()
    {
        var owner = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var c = await Server.RegisterAsync();
        var d = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, null, b, c);
        var groupId = group.Id();
        var conversationId = (string)group["conversationId"]!;
        await Server.SendTextAsync(b, conversationId, "the view is loaded");

        // role: only managers mention everyone
        await SendMentionAll(b, conversationId).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.PromoteAsync(owner, groupId, b);
        await SendMentionAll(b, conversationId).Expect(HttpStatusCode.Created);

        // join: a stranger of a public group is told they are no member, then may send once they joined
        await Server.SendText(d, conversationId, "may I?").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.JoinAsync(d, groupId);
        await Server.SendTextAsync(d, conversationId, "I joined");

        // mute
        var until = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await Server.Patch(owner, $"/api/groups/{groupId}/members/{c.Id}", new JsonObject { ["mutedUntil"] = until }).Expect(HttpStatusCode.OK);
        await Server.SendText(c, conversationId, "let me talk").ExpectProblem(HttpStatusCode.Forbidden, "muted");
        await Server.Patch(owner, $"/api/groups/{groupId}/members/{c.Id}", new JsonObject { ["mutedUntil"] = null }).Expect(HttpStatusCode.OK);
        await Server.SendTextAsync(c, conversationId, "unmuted");

        // leave, removal
        await Server.Post(c, $"/api/groups/{groupId}/leave").Expect(HttpStatusCode.NoContent);
        await Server.SendText(c, conversationId, "still here?").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Delete(owner, $"/api/groups/{groupId}/members/{b.Id}").Expect(HttpStatusCode.NoContent);
        await Server.SendText(b, conversationId, "and me?").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");

        // visibility: outsiders of a private group cannot tell it exists
        await Server.Patch(owner, $"/api/groups/{groupId}", new JsonObject { ["visibility"] = "private" }).Expect(HttpStatusCode.OK);
        await Server.SendText(b, conversationId, "hello?").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.SendTextAsync(d, conversationId, "members still send");

        // dissolution
        await Server.Delete(owner, $"/api/groups/{groupId}").Expect(HttpStatusCode.NoContent);
        await Server.SendText(owner, conversationId, "anyone?").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.SendText(d, conversationId, "anyone?").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Every_friendship_and_block_change_is_seen_by_the_next_send()
    {
        var (a, b, direct) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, direct, "the view is loaded");
        await Server.SendTextAsync(b, direct, "and confirmed");

        await Server.Put(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        await Server.SendText(a, direct, "hello?").ExpectProblem(HttpStatusCode.Forbidden, "blocked");
        await Server.SendTextAsync(b, direct, "the blocker still may");
        await Server.Delete(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        await Server.SendTextAsync(a, direct, "unblocked");

        await Server.Delete(b, $"/api/friends/{a.Id}").Expect(HttpStatusCode.NoContent);
        await Server.SendText(a, direct, "friends?").ExpectProblem(HttpStatusCode.Forbidden, "not_friends");
        await Server.SendText(b, direct, "friends?").ExpectProblem(HttpStatusCode.Forbidden, "not_friends");
        await Server.MakeFriendsAsync(a, b);
        await Server.SendTextAsync(a, direct, "friends again");
        await Server.SendTextAsync(b, direct, "yes");
    }

    [Fact]
    public async Task A_retry_gets_its_original_whatever_changed_since()
    {
        var owner = await Server.RegisterAsync();
        var member = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, null, member);
        var conversationId = (string)group["conversationId"]!;
        var original = await Server.SendTextAsync(member, conversationId, "first", "group-retry");
        var until = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await Server.Patch(owner, $"/api/groups/{group.Id()}/members/{member.Id}", new JsonObject { ["mutedUntil"] = until }).Expect(HttpStatusCode.OK);
        var retried = await Server.SendText(member, conversationId, "first", "group-retry").Expect(HttpStatusCode.OK);
        Assert.Equal(original.Seq(), retried.Seq());
        await Server.SendText(member, conversationId, "new").ExpectProblem(HttpStatusCode.Forbidden, "muted");

        var (a, b, direct) = await Server.FriendsWithConversationAsync();
        var sent = await Server.SendTextAsync(a, direct, "hi", "direct-retry");
        await Server.Delete(b, $"/api/friends/{a.Id}").Expect(HttpStatusCode.NoContent);
        Assert.Equal(sent.Seq(), (await Server.SendText(a, direct, "hi", "direct-retry").Expect(HttpStatusCode.OK)).Seq());
        await Server.Put(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        Assert.Equal(sent.Seq(), (await Server.SendText(a, direct, "hi", "direct-retry").Expect(HttpStatusCode.OK)).Seq());

        // over the socket too: the original with its seq, as a sent frame
        await using var ws = await WsClient.ConnectAsync(Server, a.AccessToken);
        await ws.SendAsync(new JsonObject
        {
            ["type"] = "send",
            ["ref"] = "again",
            ["conversationId"] = direct,
            ["clientMsgId"] = "direct-retry",
            ["msgType"] = "text",
            ["content"] = new JsonObject { ["text"] = "hi" },
        });
        var frame = await ws.NextAsync("sent", where: f => (string?)f["ref"] == "again");
        Assert.Equal(sent.Seq(), (long)frame["message"]!["seq"]!);
    }

    [Fact]
    public async Task Steady_state_sends_reuse_the_view_and_a_committed_change_replaces_it()
    {
        var views = Server.Service<ConversationViews>();
        var owner = await Server.RegisterAsync();
        var member = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, null, member);
        var conversationId = (string)group["conversationId"]!;
        var id = SocialApi.Wire(conversationId);
        await Server.SendTextAsync(member, conversationId, "one");
        var loaded = await views.GetAsync(id, CancellationToken.None);
        await Server.SendTextAsync(owner, conversationId, "two");
        var reused = await views.GetAsync(id, CancellationToken.None);
        Assert.Same(loaded, reused);
        Assert.Equal(2, reused!.MaxSeq); // raised by the commit, not reloaded

        await Server.PromoteAsync(owner, group.Id(), member);
        var changed = await views.GetAsync(id, CancellationToken.None);
        Assert.NotSame(reused, changed);
        Assert.Equal(Parley.Server.Groups.GroupRole.Admin, changed!.Members[member.Wire()].Role);

        // A direct conversation's view is confirmed on its second load (its pair's version is read first), then kept.
        var (a, b, direct) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, direct, "one");
        await Server.SendTextAsync(b, direct, "two");
        var first = await views.GetAsync(SocialApi.Wire(direct), CancellationToken.None);
        await Server.SendTextAsync(a, direct, "three");
        Assert.Same(first, await views.GetAsync(SocialApi.Wire(direct), CancellationToken.None));
        await Server.Put(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        var blocked = await views.GetAsync(SocialApi.Wire(direct), CancellationToken.None);
        Assert.NotSame(first, blocked);
        Assert.True(blocked!.Blocks(b.Wire()));
    }

    [Fact]
    public async Task Read_ack_and_typing_are_checked_against_the_view()
    {
        var owner = await Server.RegisterAsync();
        var member = await Server.RegisterAsync();
        var outsider = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, null, member);
        var conversationId = (string)group["conversationId"]!;
        await Server.SendTextAsync(owner, conversationId, "one");
        await Server.SendTextAsync(owner, conversationId, "two");

        // A read beyond the latest seq stops at it.
        await Server.Post(member, $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 99 }).Expect(HttpStatusCode.NoContent);
        Assert.Equal(2, (long)(await Server.ConversationAsync(member, conversationId))["readSeq"]!);

        await using var ws = await WsClient.ConnectAsync(Server, outsider.AccessToken);
        foreach (var frame in new[] { "read", "ack", "typing" })
        {
            var body = new JsonObject { ["type"] = frame, ["conversationId"] = conversationId };
            if (frame != "typing")
            {
                body["seq"] = 1;
            }

            await ws.SendAsync(body);
            await ws.NextAsync("error", where: f => (string?)f["code"] == "forbidden");
        }

        // Once removed, a member's read is refused at once.
        await Server.Delete(owner, $"/api/groups/{group.Id()}/members/{member.Id}").Expect(HttpStatusCode.NoContent);
        await Server.Post(member, $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 2 }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    private Task<HttpResponseMessage> SendMentionAll(TestUser user, string conversationId) =>
        Server.Post(user, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["type"] = "text",
            ["content"] = new JsonObject { ["text"] = "@all" },
            ["mentions"] = new JsonArray("all"),
        });
}
