using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Groups;

public sealed class PrivateGroupTestsSqlite(SqliteFixture fixture) : PrivateGroupTests(fixture), IClassFixture<SqliteFixture>;

public sealed class PrivateGroupTestsPostgres(PostgresFixture fixture) : PrivateGroupTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>
/// A private group (and its conversation) does not exist for outsiders: every path answers them exactly as for
/// a missing id, and they join only when added or with an invite code.
/// </summary>
public abstract partial class PrivateGroupTests(ServerFixture fixture) : BackendTests(fixture)
{
    private const string MissingId = "123456789";

    [Fact]
    public async Task A_stranger_gets_the_404_of_a_missing_id_on_every_path_of_a_private_group_and_its_conversation()
    {
        var owner = await Server.RegisterAsync();
        var member = await Server.RegisterAsync();
        var open = await Server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private", ["joinPolicy"] = "open" }, member);
        var approval = await Server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private", ["joinPolicy"] = "approval" });
        var invite = await Server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private", ["joinPolicy"] = "invite" });
        var conversationId = (string)open["conversationId"]!;
        await Server.SendTextAsync(owner, conversationId, "members only");

        // The same calls on the private group (by a stranger) and on ids that exist nowhere (by another user):
        // each answer must be the same 404, so a stranger learns nothing from it. (Two users, as each has a
        // budget of misses.)
        var stranger = await Server.RegisterAsync();
        var prober = await Server.RegisterAsync();
        var onPrivate = await AnswersAsync(stranger, open.Id(), conversationId, approval.Id(), invite.Id(), member.Id);
        var onMissing = await AnswersAsync(prober, MissingId, MissingId, MissingId, MissingId, member.Id);
        Assert.Equal(onMissing.Count, onPrivate.Count);
        for (var i = 0; i < onPrivate.Count; i++)
        {
            Assert.True(onPrivate[i].Status == HttpStatusCode.NotFound, $"{onPrivate[i].Call} answered {(int)onPrivate[i].Status} on a private group: {onPrivate[i].Body}");
            Assert.Equal(onMissing[i], onPrivate[i] with { Call = onMissing[i].Call });
        }

        // Nothing changed: the stranger did not join, request, leave, rename or dissolve anything.
        foreach (var group in new[] { open, approval, invite })
        {
            var seen = await Server.GroupAsync(owner, group.Id());
            Assert.Equal((string?)group["name"], (string?)seen["name"]);
            Assert.Equal((int)group["memberCount"]!, (int)seen["memberCount"]!);
        }

        Assert.Empty(await Server.AllItemsAsync(owner, $"/api/groups/{approval.Id()}/requests"));
        Assert.Empty(await Server.MineAsync(stranger));
        Assert.Equal(["members only"], (await Server.CatchUpAsync(member, conversationId)).Select(m => (string)m["content"]!["text"]!));

        // A member lacking a role is told so: that is no secret to them.
        await Server.Patch(member, $"/api/groups/{open.Id()}", new JsonObject { ["name"] = "mine" }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(member, $"/api/groups/{open.Id()}/invite-codes", new JsonObject()).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");

        // A member who left is an outsider again.
        await Server.Post(member, $"/api/groups/{open.Id()}/leave").Expect(HttpStatusCode.NoContent);
        await Server.Get(member, $"/api/groups/{open.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Get(member, $"/api/conversations/{conversationId}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Get(member, $"/api/conversations/{conversationId}/messages?after=0").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Every_websocket_frame_on_a_private_groups_conversation_is_404_to_a_stranger()
    {
        var owner = await Server.RegisterAsync();
        var conversationId = (string)(await Server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private" }))["conversationId"]!;
        await Server.SendTextAsync(owner, conversationId, "members only");
        var stranger = await Server.RegisterAsync();
        await using var ws = await WsClient.ConnectAsync(Server, stranger.AccessToken);

        var frames = new[]
        {
            new JsonObject { ["type"] = "send", ["ref"] = "f1", ["conversationId"] = conversationId, ["clientMsgId"] = "c1", ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = "let me in" } },
            new JsonObject { ["type"] = "sync", ["ref"] = "f2", ["conversationId"] = conversationId, ["afterSeq"] = 0 },
            new JsonObject { ["type"] = "read", ["ref"] = "f3", ["conversationId"] = conversationId, ["seq"] = 1 },
            new JsonObject { ["type"] = "ack", ["ref"] = "f4", ["conversationId"] = conversationId, ["seq"] = 1 },
            new JsonObject { ["type"] = "typing", ["ref"] = "f5", ["conversationId"] = conversationId },
        };
        foreach (var frame in frames)
        {
            // One frame at a time, so the next error is this frame's (read, ack and typing carry no ref back).
            await ws.SendAsync(frame);
            var error = await ws.NextAsync("error");
            Assert.True((string?)error["code"] == "not_found", $"{frame["type"]} answered {error.ToJsonString()}");
        }
    }

    [Fact]
    public async Task A_public_groups_conversation_stays_403_to_outsiders()
    {
        var owner = await Server.RegisterAsync();
        var outsider = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner);
        var conversationId = (string)group["conversationId"]!;
        await Server.Get(outsider, $"/api/conversations/{conversationId}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Get(outsider, $"/api/conversations/{conversationId}/messages?after=0").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.SendText(outsider, conversationId, "hi").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task Joining_a_private_group_takes_an_invite_code_from_an_admin()
    {
        var owner = await Server.RegisterAsync();
        var admin = await Server.RegisterAsync();
        var guest = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private", ["joinPolicy"] = "approval" }, admin);
        var groupId = group.Id();
        await Server.PromoteAsync(owner, groupId, admin);
        await Server.Post(guest, $"/api/groups/{groupId}/join", new JsonObject()).ExpectProblem(HttpStatusCode.NotFound, "not_found");

        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var invitation = await Server.Post(admin, $"/api/groups/{groupId}/invite-codes", new JsonObject { ["expiresInSeconds"] = 3600, ["maxUses"] = 5 }).Expect(HttpStatusCode.Created);
        Assert.Equal(["code", "expiresAt", "maxUses", "uses"], invitation.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        var code = (string)invitation["code"]!;
        AssertCodeShape(code);
        Assert.InRange((long)invitation["expiresAt"]!, before + 3_600_000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 3_600_000);
        Assert.Equal(5, (int)invitation["maxUses"]!);
        Assert.Equal(0, (int)invitation["uses"]!);

        // Without a body: the default lifetime (a week) and any number of uses.
        var defaults = await Server.Post(owner, $"/api/groups/{groupId}/invite-codes").Expect(HttpStatusCode.Created);
        AssertCodeShape((string)defaults["code"]!);
        Assert.NotEqual(code, (string)defaults["code"]!);
        Assert.Null(defaults["maxUses"]);
        Assert.InRange((long)defaults["expiresAt"]! - before, 604_800_000L, 604_800_000L + 600_000);

        var joined = await Server.Post(guest, "/api/groups/join-by-code", new JsonObject { ["code"] = code }).Expect(HttpStatusCode.OK);
        Assert.Equal("joined", (string?)joined["status"]);
        Assert.Equal([groupId], await Server.MineAsync(guest));
        Assert.Equal(3, (int)(await Server.GroupAsync(guest, groupId))["memberCount"]!);
        Assert.Equal("member", await Server.RoleAsync(owner, groupId, guest));
        await Server.ConversationAsync(guest, (string)group["conversationId"]!);
        Assert.Contains(Notifications.For(owner.Id, "group.joined"), n => n.Str("groupId") == groupId && n.Str("userId") == guest.Id);
        // Again as a member: joined, and no use is spent.
        Assert.Equal("joined", (string?)(await Server.Post(guest, "/api/groups/join-by-code", new JsonObject { ["code"] = code }).Expect(HttpStatusCode.OK))["status"]);

        // Field rules.
        await Server.Post(owner, $"/api/groups/{groupId}/invite-codes", new JsonObject { ["expiresInSeconds"] = 10 }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(owner, $"/api/groups/{groupId}/invite-codes", new JsonObject { ["maxUses"] = 0 }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(guest, "/api/groups/join-by-code", new JsonObject()).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(guest, $"/api/groups/{groupId}/invite-codes", new JsonObject()).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task Revoked_used_up_and_wrong_codes_are_404()
    {
        var owner = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private", ["joinPolicy"] = "invite" })).Id();
        var users = await Server.RegisterManyAsync(4, "code");

        var revoked = await CodeAsync(owner, groupId, new JsonObject());
        await Server.Delete(owner, $"/api/groups/{groupId}/invite-codes/{revoked}").Expect(HttpStatusCode.NoContent);
        await Server.Delete(owner, $"/api/groups/{groupId}/invite-codes/{revoked}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await JoinByCode(users[0], revoked).ExpectProblem(HttpStatusCode.NotFound, "not_found");

        var twice = await CodeAsync(owner, groupId, new JsonObject { ["maxUses"] = 2 });
        await JoinByCode(users[0], twice).Expect(HttpStatusCode.OK);
        await JoinByCode(users[1], twice).Expect(HttpStatusCode.OK);
        await JoinByCode(users[2], twice).ExpectProblem(HttpStatusCode.NotFound, "not_found");

        // A code of another shape, one of the right shape that was never made, and one letter changed.
        var live = await CodeAsync(owner, groupId, new JsonObject());
        await JoinByCode(users[3], "not-a-code").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await JoinByCode(users[3], new string('A', live.Length)).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await JoinByCode(users[3], (live[0] == 'A' ? "B" : "A") + live[1..]).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        // A code revoked through another group is not found there.
        var otherGroup = (await Server.CreateGroupAsync(owner)).Id();
        await Server.Delete(owner, $"/api/groups/{otherGroup}/invite-codes/{live}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await JoinByCode(users[3], live).Expect(HttpStatusCode.OK);

        Assert.Equal(
            new[] { owner.Id, users[0].Id, users[1].Id, users[3].Id }.Order(StringComparer.Ordinal),
            (await Server.MembersAsync(owner, groupId)).Select(m => m["user"]!.Id()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Joins_racing_for_the_last_use_of_a_code_let_exactly_one_in()
    {
        const int racers = 8;
        const int rounds = 3;
        var owner = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private" })).Id();
        var expectedMembers = 1;
        for (var round = 0; round < rounds; round++)
        {
            var code = await CodeAsync(owner, groupId, new JsonObject { ["maxUses"] = 1 });
            var crowd = await Server.RegisterManyAsync(racers, "racer");
            var statuses = await Task.WhenAll(crowd.Select(async user =>
            {
                using var response = await Server.Post(user, "/api/groups/join-by-code", new JsonObject { ["code"] = code });
                return response.StatusCode;
            }));
            Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(racers - 1, statuses.Count(s => s == HttpStatusCode.NotFound));
            expectedMembers++;
        }

        Assert.Equal(expectedMembers, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
        Assert.Equal(expectedMembers, (await Server.MembersAsync(owner, groupId)).Count);
    }

    private async Task<string> CodeAsync(TestUser admin, string groupId, JsonObject body) =>
        (string)(await Server.Post(admin, $"/api/groups/{groupId}/invite-codes", body).Expect(HttpStatusCode.Created))["code"]!;

    private Task<HttpResponseMessage> JoinByCode(TestUser user, string code) =>
        Server.Post(user, "/api/groups/join-by-code", new JsonObject { ["code"] = code });

    /// <summary>At least 128 random bits, written URL-safe.</summary>
    private static void AssertCodeShape(string code)
    {
        Assert.Matches(UrlSafe(), code);
        Assert.True(code.Length * 6 >= 128, $"code {code} carries fewer than 128 bits");
    }

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex UrlSafe();

    private sealed record Answer(string Call, HttpStatusCode Status, string? Code, string? Detail, string Body);

    /// <summary>Every call of the groups and conversations contract on the given ids, as <paramref name="user"/>.</summary>
    private async Task<List<Answer>> AnswersAsync(TestUser user, string groupId, string conversationId, string approvalGroupId, string inviteGroupId, string someUserId)
    {
        var calls = new (string Name, Func<Task<HttpResponseMessage>> Call)[]
        {
            ("GET group", () => Server.Get(user, $"/api/groups/{groupId}")),
            ("PATCH group", () => Server.Patch(user, $"/api/groups/{groupId}", new JsonObject { ["name"] = "taken" })),
            ("DELETE group", () => Server.Delete(user, $"/api/groups/{groupId}")),
            ("join open", () => Server.Post(user, $"/api/groups/{groupId}/join", new JsonObject())),
            ("join approval", () => Server.Post(user, $"/api/groups/{approvalGroupId}/join", new JsonObject { ["message"] = "let me in" })),
            ("join invite", () => Server.Post(user, $"/api/groups/{inviteGroupId}/join", new JsonObject())),
            ("leave", () => Server.Post(user, $"/api/groups/{groupId}/leave")),
            ("GET members", () => Server.Get(user, $"/api/groups/{groupId}/members")),
            ("POST members", () => Server.Post(user, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(user) })),
            ("DELETE member", () => Server.Delete(user, $"/api/groups/{groupId}/members/{someUserId}")),
            ("PATCH member", () => Server.Patch(user, $"/api/groups/{groupId}/members/{someUserId}", new JsonObject { ["role"] = "admin" })),
            ("POST owner", () => Server.Post(user, $"/api/groups/{groupId}/owner", new JsonObject { ["userId"] = someUserId })),
            ("GET requests", () => Server.Get(user, $"/api/groups/{approvalGroupId}/requests")),
            ("approve", () => Server.Post(user, $"/api/groups/{approvalGroupId}/requests/{MissingId}/approve")),
            ("decline", () => Server.Post(user, $"/api/groups/{approvalGroupId}/requests/{MissingId}/decline")),
            ("POST invite-codes", () => Server.Post(user, $"/api/groups/{groupId}/invite-codes", new JsonObject())),
            ("DELETE invite-code", () => Server.Delete(user, $"/api/groups/{groupId}/invite-codes/AAAAAAAAAAAAAAAAAAAAAAAA")),
            ("GET conversation", () => Server.Get(user, $"/api/conversations/{conversationId}")),
            ("GET messages after", () => Server.Get(user, $"/api/conversations/{conversationId}/messages?after=0")),
            ("GET messages before", () => Server.Get(user, $"/api/conversations/{conversationId}/messages?before=2")),
            ("POST message", () => Server.SendText(user, conversationId, "let me in")),
            ("read", () => Server.Post(user, $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 1 })),
            ("recall", () => Server.Post(user, $"/api/conversations/{conversationId}/messages/1/recall")),
            ("DELETE message", () => Server.Delete(user, $"/api/conversations/{conversationId}/messages/1")),
            ("receipts", () => Server.Get(user, $"/api/conversations/{conversationId}/messages/1/receipts")),
        };
        var answers = new List<Answer>();
        foreach (var (name, call) in calls)
        {
            using var response = await call();
            var text = await response.Content.ReadAsStringAsync();
            var body = text.Length > 0 ? JsonNode.Parse(text) : null;
            answers.Add(new Answer(name, response.StatusCode, (string?)body?["code"], (string?)body?["detail"], text.Replace(groupId, "ID").Replace(conversationId, "ID")));
        }

        return answers;
    }
}
