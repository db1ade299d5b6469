using System.Net;
using System.Text.Json.Nodes;
using Parley.Server.Events;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Groups;

public sealed class GroupsTestsSqlite(SqliteFixture fixture) : GroupsTests(fixture), IClassFixture<SqliteFixture>;

public sealed class GroupsTestsPostgres(PostgresFixture fixture) : GroupsTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>Every call of the contract's "Groups" section, every "who" rule, and the events they publish.</summary>
public abstract class GroupsTests(ServerFixture fixture) : BackendTests(fixture)
{
    private static readonly string[] GroupFields =
    [
        "id", "conversationId", "name", "description", "tags", "announcement", "ownerId", "joinPolicy", "visibility",
        "membersCanInvite", "memberCount", "temporary", "expiresAt", "createdAt",
    ];

    // ---- create

    [Fact]
    public async Task Create_with_only_a_name_uses_the_defaults_and_makes_the_creator_owner()
    {
        var owner = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = "Book club" });

        AssertGroupShape(group);
        Assert.IsType<string>((string?)group["id"]);
        Assert.False(string.IsNullOrEmpty((string?)group["conversationId"]));
        Assert.Equal("Book club", (string?)group["name"]);
        Assert.True(string.IsNullOrEmpty((string?)group["description"]));
        Assert.Empty(group["tags"]!.AsArray());
        Assert.True(string.IsNullOrEmpty((string?)group["announcement"]));
        Assert.Equal(owner.Id, (string?)group["ownerId"]);
        Assert.Equal("open", (string?)group["joinPolicy"]);
        Assert.Equal("public", (string?)group["visibility"]);
        Assert.False((bool)group["membersCanInvite"]!);
        Assert.Equal(1, (int)group["memberCount"]!);
        Assert.False((bool)group["temporary"]!);
        Assert.Null(group["expiresAt"]);
        Assert.True((long)group["createdAt"]! > 1_700_000_000_000);

        AssertSameGroup(group, await Server.GroupAsync(owner, group.Id()));
        var member = Assert.Single(await Server.MembersAsync(owner, group.Id()));
        Assert.Equal(owner.Id, member["user"]!.Id());
        Assert.Equal("owner", (string?)member["role"]);
        Assert.Equal([group.Id()], await Server.MineAsync(owner));
        // Nobody else was added, so nobody was invited.
        Assert.Empty(Notifications.For(owner.Id, "group.invited"));
    }

    [Fact]
    public async Task Create_with_members_and_options_adds_them_and_invites_exactly_them()
    {
        var owner = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var c = await Server.RegisterAsync();
        var options = new JsonObject
        {
            ["name"] = "Chess",
            ["description"] = "Blitz on Fridays",
            ["tags"] = SocialApi.Strings("Chess", "blitz", "chess"),
            ["joinPolicy"] = "approval",
            ["visibility"] = "private",
            ["membersCanInvite"] = true,
        };
        var group = await Server.CreateGroupAsync(owner, options, b, c);

        AssertGroupShape(group);
        Assert.Equal("Blitz on Fridays", (string?)group["description"]);
        Assert.Equal(["blitz", "chess"], group["tags"]!.AsArray().Select(t => (string)t!).Order());
        Assert.Equal("approval", (string?)group["joinPolicy"]);
        Assert.Equal("private", (string?)group["visibility"]);
        Assert.True((bool)group["membersCanInvite"]!);
        Assert.Equal(3, (int)group["memberCount"]!);

        var members = await Server.MembersAsync(b, group.Id());
        Assert.Equal([owner.Id, b.Id, c.Id], members.Select(m => m["user"]!.Id()).OrderBy(SocialApi.Wire));
        Assert.Equal("owner", members.Single(m => m["user"]!.Id() == owner.Id)["role"]!.GetValue<string>());
        Assert.All(members.Where(m => m["user"]!.Id() != owner.Id), m => Assert.Equal("member", (string?)m["role"]));
        Assert.Equal([group.Id()], await Server.MineAsync(b));
        Assert.Equal([group.Id()], await Server.MineAsync(c));

        foreach (var invited in new[] { b, c })
        {
            var invite = Assert.Single(Events(invited, "group.invited", group.Id()));
            Assert.Equal(group.Id(), invite.Str("group"));
            Assert.Equal(owner.Id, invite.Str("by"));
            Assert.Equal("Blitz on Fridays", (string?)invite.DataNode()["group"]!["description"]);
            Assert.DoesNotContain(owner.Wire(), invite.UserIds);
            Assert.All(invite.UserIds, id => Assert.Contains(id, new[] { b.Wire(), c.Wire() }));
        }

        Assert.Empty(Events(owner, "group.invited", group.Id()));
    }

    [Fact]
    public async Task Create_skips_members_who_have_blocked_the_creator()
    {
        var owner = await Server.RegisterAsync();
        var willing = await Server.RegisterAsync();
        var blocker = await Server.RegisterAsync();
        await Server.Put(blocker, $"/api/blocks/{owner.Id}").Expect(HttpStatusCode.NoContent);

        var group = await Server.CreateGroupAsync(owner, null, willing, blocker);

        Assert.Equal(2, (int)group["memberCount"]!);
        Assert.Equal([owner.Id, willing.Id], (await Server.MembersAsync(owner, group.Id())).Select(m => m["user"]!.Id()).OrderBy(SocialApi.Wire));
        Assert.Empty(await Server.MineAsync(blocker));
        Assert.Empty(Events(blocker, "group.invited", group.Id()));
        Assert.Single(Events(willing, "group.invited", group.Id()));
    }

    [Fact]
    public async Task Create_rejects_invalid_fields_with_400_invalid()
    {
        var owner = await Server.RegisterAsync();
        var friend = await Server.RegisterAsync();

        async Task Invalid(JsonObject body, string? field = null)
        {
            var problem = await Server.Post(owner, "/api/groups", body).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
            if (field is not null)
            {
                var keys = problem["errors"]!.AsObject().Select(e => e.Key).ToList();
                Assert.True(keys.Exists(k => k.StartsWith(field, StringComparison.OrdinalIgnoreCase)), $"errors name {string.Join(", ", keys)}, not {field}");
            }
        }

        await Invalid(new JsonObject(), "name");
        await Invalid(new JsonObject { ["name"] = "" }, "name");
        await Invalid(new JsonObject { ["name"] = new string('n', 65) }, "name");
        await Invalid(new JsonObject { ["name"] = "ok", ["description"] = new string('d', 501) }, "description");
        await Invalid(new JsonObject { ["name"] = "ok", ["joinPolicy"] = "whoever" }, "joinPolicy");
        await Invalid(new JsonObject { ["name"] = "ok", ["visibility"] = "secret" }, "visibility");
        await Invalid(new JsonObject { ["name"] = "ok", ["tags"] = SocialApi.Strings("two words") }, "tags");
        await Invalid(new JsonObject { ["name"] = "ok", ["tags"] = SocialApi.Strings("a,b") }, "tags");
        await Invalid(new JsonObject { ["name"] = "ok", ["tags"] = SocialApi.Strings(Enumerable.Range(0, 21).Select(i => "t" + i).ToArray()) }, "tags");
        await Invalid(new JsonObject { ["name"] = "ok", ["memberIds"] = SocialApi.Strings("1") }, "memberIds");
        await Invalid(new JsonObject { ["name"] = "ok", ["memberIds"] = SocialApi.Strings(friend.Id, "not-an-id") }, "memberIds");
        await Invalid(new JsonObject { ["name"] = "ok", ["temporary"] = true, ["idleTtlSeconds"] = 59 }, "idleTtlSeconds");
        await Invalid(new JsonObject { ["name"] = "ok", ["temporary"] = true, ["idleTtlSeconds"] = 31_536_001 }, "idleTtlSeconds");
        await Server.PostRaw("/api/groups", """{"name": 5}""").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        // Nothing was created along the way.
        Assert.Empty(await Server.MineAsync(owner));
        Assert.Empty(await Server.MineAsync(friend));

        var longest = await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = new string('n', 64), ["description"] = new string('d', 500) });
        Assert.Equal(64, ((string?)longest["name"])!.Length);
    }

    [Fact]
    public async Task A_temporary_group_expires_idle_ttl_after_creation()
    {
        var owner = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, new JsonObject { ["temporary"] = true, ["idleTtlSeconds"] = 120 });
        Assert.True((bool)group["temporary"]!);
        var createdAt = (long)group["createdAt"]!;
        Assert.InRange((long)group["expiresAt"]!, createdAt + 120_000, createdAt + 121_000);

        var byDefault = await Server.CreateGroupAsync(owner, new JsonObject { ["temporary"] = true });
        var defaultCreatedAt = (long)byDefault["createdAt"]!;
        Assert.InRange((long)byDefault["expiresAt"]!, defaultCreatedAt + 86_400_000, defaultCreatedAt + 86_401_000);

        var longest = await Server.CreateGroupAsync(owner, new JsonObject { ["temporary"] = true, ["idleTtlSeconds"] = 31_536_000 });
        Assert.InRange((long)longest["expiresAt"]! - (long)longest["createdAt"]!, 31_536_000_000L, 31_536_001_000L);
    }

    // ---- read, update, dissolve

    [Fact]
    public async Task Members_read_the_group_non_members_get_403_for_public_and_404_for_private()
    {
        var owner = await Server.RegisterAsync();
        var member = await Server.RegisterAsync();
        var outsider = await Server.RegisterAsync();
        var open = await Server.CreateGroupAsync(owner, null, member);
        var hidden = await Server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private" }, member);

        foreach (var group in new[] { open, hidden })
        {
            Assert.Equal(group.Id(), (await Server.GroupAsync(member, group.Id())).Id());
            Assert.Equal(2, (await Server.MembersAsync(member, group.Id())).Count);
        }

        await Server.Get(outsider, $"/api/groups/{open.Id()}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Get(outsider, $"/api/groups/{open.Id()}/members").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Get(outsider, $"/api/groups/{hidden.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Get(outsider, $"/api/groups/{hidden.Id()}/members").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Send(HttpMethod.Get, $"/api/groups/{open.Id()}").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Owner_and_admins_update_the_group_and_every_member_is_told()
    {
        var (owner, admin, member, groupId) = await GroupWithRolesAsync();
        var patch = new JsonObject
        {
            ["name"] = "Renamed",
            ["description"] = "new description",
            ["tags"] = SocialApi.Strings("Go", "baduk"),
            ["announcement"] = "Read the rules",
            ["joinPolicy"] = "approval",
            ["visibility"] = "private",
            ["membersCanInvite"] = true,
        };
        var updated = await Server.Patch(owner, $"/api/groups/{groupId}", patch).Expect(HttpStatusCode.OK);
        AssertGroupShape(updated);
        Assert.Equal("Renamed", (string?)updated["name"]);
        Assert.Equal("new description", (string?)updated["description"]);
        Assert.Equal(["baduk", "go"], updated["tags"]!.AsArray().Select(t => (string)t!).Order());
        Assert.Equal("Read the rules", (string?)updated["announcement"]);
        Assert.Equal("approval", (string?)updated["joinPolicy"]);
        Assert.Equal("private", (string?)updated["visibility"]);
        Assert.True((bool)updated["membersCanInvite"]!);
        Assert.Equal(3, (int)updated["memberCount"]!);
        AssertSameGroup(updated, await Server.GroupAsync(member, groupId));

        var update = Assert.Single(Events(member, "group.updated", groupId));
        update.AssertRecipients(owner, admin, member);
        Assert.Equal("Renamed", (string?)update.DataNode()["group"]!["name"]);

        // An admin may too; absent members stay as they are.
        var byAdmin = await Server.Patch(admin, $"/api/groups/{groupId}", new JsonObject { ["name"] = "By admin" }).Expect(HttpStatusCode.OK);
        Assert.Equal("By admin", (string?)byAdmin["name"]);
        Assert.Equal("new description", (string?)byAdmin["description"]);
        Assert.Equal("private", (string?)byAdmin["visibility"]);
        Assert.Equal(2, Events(owner, "group.updated", groupId).Count);
        Assert.Equal("By admin", (string?)Events(admin, "group.updated", groupId)[^1].DataNode()["group"]!["name"]);
    }

    [Fact]
    public async Task A_member_renaming_is_403_and_patch_validates_fields()
    {
        var (owner, _, member, groupId) = await GroupWithRolesAsync();
        var outsider = await Server.RegisterAsync();

        await Server.Patch(member, $"/api/groups/{groupId}", new JsonObject { ["name"] = "Mine now" }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(member, $"/api/groups/{groupId}", new JsonObject { ["announcement"] = "hi all" }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(outsider, $"/api/groups/{groupId}", new JsonObject { ["name"] = "Mine now" }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");

        await Server.Patch(owner, $"/api/groups/{groupId}", new JsonObject { ["name"] = "" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Patch(owner, $"/api/groups/{groupId}", new JsonObject { ["name"] = new string('n', 65) }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Patch(owner, $"/api/groups/{groupId}", new JsonObject { ["description"] = new string('d', 501) }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Patch(owner, $"/api/groups/{groupId}", new JsonObject { ["announcement"] = new string('a', 2001) }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Patch(owner, $"/api/groups/{groupId}", new JsonObject { ["joinPolicy"] = "maybe" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Patch(owner, $"/api/groups/{groupId}", new JsonObject { ["visibility"] = "hidden" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Patch(owner, $"/api/groups/{groupId}", new JsonObject { ["tags"] = SocialApi.Strings("has space") }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        var group = await Server.GroupAsync(member, groupId);
        Assert.StartsWith("group ", (string?)group["name"], StringComparison.Ordinal);
        Assert.True(string.IsNullOrEmpty((string?)group["announcement"]));
        Assert.Empty(Events(owner, "group.updated", groupId));
    }

    [Fact]
    public async Task The_announcement_is_set_by_admins_and_read_by_members()
    {
        var (owner, admin, member, groupId) = await GroupWithRolesAsync();
        var text = new string('a', 1990) + " the end";
        var updated = await Server.Patch(admin, $"/api/groups/{groupId}", new JsonObject { ["announcement"] = text }).Expect(HttpStatusCode.OK);
        Assert.Equal(text, (string?)updated["announcement"]);
        Assert.Equal(text, (string?)(await Server.GroupAsync(member, groupId))["announcement"]);
        var update = Assert.Single(Events(member, "group.updated", groupId));
        update.AssertRecipients(owner, admin, member);
        Assert.Equal(text, (string?)update.DataNode()["group"]!["announcement"]);
    }

    [Fact]
    public async Task Only_the_owner_dissolves_and_every_member_is_told()
    {
        var (owner, admin, member, groupId) = await GroupWithRolesAsync();

        await Server.Delete(admin, $"/api/groups/{groupId}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Delete(member, $"/api/groups/{groupId}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        Assert.Empty(Events(member, "group.dissolved", groupId));
        await Server.GroupAsync(member, groupId);

        await Server.Delete(owner, $"/api/groups/{groupId}").Expect(HttpStatusCode.NoContent);

        foreach (var user in new[] { owner, admin, member })
        {
            await Server.Get(user, $"/api/groups/{groupId}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
            await Server.Get(user, $"/api/groups/{groupId}/members").ExpectProblem(HttpStatusCode.NotFound, "not_found");
            Assert.DoesNotContain(groupId, await Server.MineAsync(user));
        }

        var dissolved = Assert.Single(Events(member, "group.dissolved", groupId));
        dissolved.AssertRecipients(owner, admin, member);
        Assert.Equal(groupId, dissolved.Str("groupId"));
        await Server.Delete(owner, $"/api/groups/{groupId}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(member, $"/api/groups/{groupId}/join", new JsonObject()).ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    // ---- join and leave

    [Fact]
    public async Task Joining_an_open_group_joins_at_once_and_tells_the_joiner_and_the_managers()
    {
        var (owner, admin, member, groupId) = await GroupWithRolesAsync();
        var joiner = await Server.RegisterAsync();

        var joined = await Server.JoinAsync(joiner, groupId, "hello");
        Assert.Equal("joined", (string?)joined["status"]);

        var group = await Server.GroupAsync(joiner, groupId);
        Assert.Equal(4, (int)group["memberCount"]!);
        Assert.Equal("member", await Server.RoleAsync(joiner, groupId, joiner));
        Assert.Contains(groupId, await Server.MineAsync(joiner));

        var evt = Assert.Single(Events(joiner, "group.joined", groupId));
        evt.AssertRecipients(joiner, owner, admin);
        Assert.Equal(joiner.Id, evt.Str("userId"));
        Assert.Empty(Events(member, "group.joined", groupId));

        // A member joining again is told it is joined, and nothing changes.
        Assert.Equal("joined", (string?)(await Server.JoinAsync(joiner, groupId))["status"]);
        Assert.Equal(4, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
        Assert.Equal(4, (await Server.MembersAsync(owner, groupId)).Count);
    }

    [Fact]
    public async Task Joining_an_approval_group_keeps_one_pending_request_and_tells_the_managers()
    {
        var (owner, admin, member, groupId) = await GroupWithRolesAsync(new JsonObject { ["joinPolicy"] = "approval" });
        var applicant = await Server.RegisterAsync();

        Assert.Equal("pending", (string?)(await Server.JoinAsync(applicant, groupId, "let me in"))["status"]);
        Assert.Equal("pending", (string?)(await Server.JoinAsync(applicant, groupId, "please"))["status"]);

        // Not a member yet.
        await Server.Get(applicant, $"/api/groups/{groupId}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal(3, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);

        var requests = await Server.AllItemsAsync(admin, $"/api/groups/{groupId}/requests");
        var request = Assert.Single(requests);
        Assert.Equal(groupId, (string?)request["groupId"]);
        Assert.Equal(applicant.Id, request["user"]!.Id());
        Assert.Equal("let me in", (string?)request["message"]);
        Assert.Equal("pending", (string?)request["status"]);
        Assert.True((long)request["createdAt"]! > 1_700_000_000_000);

        var told = Events(owner, "group.request", groupId);
        Assert.NotEmpty(told);
        told[0].AssertRecipients(owner, admin);
        Assert.Equal(request.Id(), told[0].Str("id"));
        Assert.Equal(applicant.Id, told[0].Str("user"));
        Assert.Empty(Events(member, "group.request", groupId));
        Assert.Empty(Events(applicant, "group.request", groupId));
    }

    [Fact]
    public async Task Managers_approve_or_decline_join_requests_once_and_members_may_not()
    {
        var (owner, admin, member, groupId) = await GroupWithRolesAsync(new JsonObject { ["joinPolicy"] = "approval" });
        var approved = await Server.RegisterAsync();
        var declined = await Server.RegisterAsync();
        var other = await Server.RegisterAsync();
        await Server.JoinAsync(approved, groupId);
        await Server.JoinAsync(declined, groupId);
        await Server.JoinAsync(other, groupId);

        var requests = await Server.AllItemsAsync(owner, $"/api/groups/{groupId}/requests");
        Assert.Equal([approved.Id, declined.Id, other.Id], requests.Select(r => r["user"]!.Id()));
        string RequestOf(TestUser user) => requests.Single(r => r["user"]!.Id() == user.Id).Id();

        // A plain member (and an outsider) may not see or decide them.
        await Server.Get(member, $"/api/groups/{groupId}/requests").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(member, $"/api/groups/{groupId}/requests/{RequestOf(approved)}/approve").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(member, $"/api/groups/{groupId}/requests/{RequestOf(declined)}/decline").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(approved, $"/api/groups/{groupId}/requests/{RequestOf(approved)}/approve").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Get(other, $"/api/groups/{groupId}/requests").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");

        var approval = await Server.Post(admin, $"/api/groups/{groupId}/requests/{RequestOf(approved)}/approve").Expect(HttpStatusCode.OK);
        Assert.Equal(RequestOf(approved), approval.Id());
        Assert.Equal("approved", (string?)approval["status"]);
        Assert.Equal("member", await Server.RoleAsync(approved, groupId, approved));
        Assert.Equal(4, (int)(await Server.GroupAsync(approved, groupId))["memberCount"]!);
        var joinedEvent = Assert.Single(Events(approved, "group.joined", groupId));
        joinedEvent.AssertRecipients(approved, owner, admin);

        var refusal = await Server.Post(owner, $"/api/groups/{groupId}/requests/{RequestOf(declined)}/decline").Expect(HttpStatusCode.OK);
        Assert.Equal("declined", (string?)refusal["status"]);
        await Server.Get(declined, $"/api/groups/{groupId}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        Assert.Empty(Events(declined, "group.joined", groupId));

        // Decided requests are decided.
        await Server.Post(owner, $"/api/groups/{groupId}/requests/{RequestOf(approved)}/approve").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        await Server.Post(owner, $"/api/groups/{groupId}/requests/{RequestOf(approved)}/decline").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        await Server.Post(admin, $"/api/groups/{groupId}/requests/{RequestOf(declined)}/approve").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        Assert.Equal([other.Id], (await Server.AllItemsAsync(owner, $"/api/groups/{groupId}/requests")).Select(r => r["user"]!.Id()));

        // The declined user may ask again.
        Assert.Equal("pending", (string?)(await Server.JoinAsync(declined, groupId))["status"]);
        Assert.Equal([other.Id, declined.Id], (await Server.AllItemsAsync(owner, $"/api/groups/{groupId}/requests")).Select(r => r["user"]!.Id()));
        await Server.Post(owner, $"/api/groups/{groupId}/requests/1/approve").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Joining_an_invite_only_group_is_403_but_adding_works()
    {
        var owner = await Server.RegisterAsync();
        var hopeful = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, new JsonObject { ["joinPolicy"] = "invite" });

        await Server.Post(hopeful, $"/api/groups/{group.Id()}/join", new JsonObject { ["message"] = "hi" }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Get(hopeful, $"/api/groups/{group.Id()}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        Assert.Empty(await Server.AllItemsAsync(owner, $"/api/groups/{group.Id()}/requests"));
        Assert.Empty(Events(owner, "group.request", group.Id()));
        Assert.Empty(Events(owner, "group.joined", group.Id()));

        var added = await Server.Post(owner, $"/api/groups/{group.Id()}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(hopeful) }).Expect(HttpStatusCode.OK);
        Assert.Equal([hopeful.Id], added["items"]!.AsArray().Select(m => m!["user"]!.Id()));
        Assert.Equal(2, (int)(await Server.GroupAsync(hopeful, group.Id()))["memberCount"]!);
    }

    [Fact]
    public async Task Members_leave_the_owner_must_hand_over_first_and_leaving_is_told()
    {
        var (owner, admin, member, groupId) = await GroupWithRolesAsync();

        await Server.Post(member, $"/api/groups/{groupId}/leave").Expect(HttpStatusCode.NoContent);
        Assert.Equal(2, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
        Assert.Null(await Server.RoleAsync(owner, groupId, member));
        await Server.Get(member, $"/api/groups/{groupId}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        Assert.DoesNotContain(groupId, await Server.MineAsync(member));
        var left = Assert.Single(Events(member, "group.left", groupId));
        left.AssertRecipients(member, owner, admin);
        Assert.Equal(member.Id, left.Str("userId"));

        await Server.Post(owner, $"/api/groups/{groupId}/leave").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        Assert.Equal("owner", await Server.RoleAsync(owner, groupId, owner));

        await Server.Post(admin, $"/api/groups/{groupId}/leave").Expect(HttpStatusCode.NoContent);
        Assert.Equal(1, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
        Assert.Single(Events(owner, "group.left", groupId), e => e.Str("userId") == admin.Id);

        // Alone now: the owner's leaving dissolves the group.
        await Server.Post(owner, $"/api/groups/{groupId}/leave").Expect(HttpStatusCode.NoContent);
        await Server.Get(owner, $"/api/groups/{groupId}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        Assert.DoesNotContain(groupId, await Server.MineAsync(owner));

        // A member may come back to an open group, which is a fresh join.
        var again = await Server.CreateGroupAsync(owner);
        var visitor = await Server.RegisterAsync();
        await Server.JoinAsync(visitor, again.Id());
        await Server.Post(visitor, $"/api/groups/{again.Id()}/leave").Expect(HttpStatusCode.NoContent);
        await Server.JoinAsync(visitor, again.Id());
        Assert.Equal(2, (int)(await Server.GroupAsync(owner, again.Id()))["memberCount"]!);
        Assert.Equal(2, Events(visitor, "group.joined", again.Id()).Count);
    }

    // ---- members

    [Fact]
    public async Task Admins_add_members_and_plain_members_only_when_members_can_invite()
    {
        var (owner, admin, member, groupId) = await GroupWithRolesAsync();
        var c = await Server.RegisterAsync();
        var d = await Server.RegisterAsync();
        var e = await Server.RegisterAsync();
        var f = await Server.RegisterAsync();
        var outsider = await Server.RegisterAsync();

        var added = await Server.Post(owner, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(c, d) }).Expect(HttpStatusCode.OK);
        var items = added["items"]!.AsArray();
        Assert.Equal([c.Id, d.Id], items.Select(m => m!["user"]!.Id()).OrderBy(SocialApi.Wire));
        Assert.All(items, m => Assert.Equal("member", (string?)m!["role"]));
        Assert.All(items, m => Assert.True((long)m!["joinedAt"]! > 1_700_000_000_000));
        Assert.Null((string?)added["nextCursor"]);
        Assert.Equal(5, (int)(await Server.GroupAsync(c, groupId))["memberCount"]!);
        foreach (var invited in new[] { c, d })
        {
            var invite = Assert.Single(Events(invited, "group.invited", groupId));
            Assert.Equal(owner.Id, invite.Str("by"));
            Assert.All(invite.UserIds, id => Assert.Contains(id, new[] { c.Wire(), d.Wire() }));
        }

        // The member already there (invited at creation) is not invited again.
        Assert.Single(Events(member, "group.invited", groupId));

        var byAdmin = await Server.Post(admin, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(e) }).Expect(HttpStatusCode.OK);
        Assert.Equal([e.Id], byAdmin["items"]!.AsArray().Select(m => m!["user"]!.Id()));
        Assert.Equal(admin.Id, Assert.Single(Events(e, "group.invited", groupId)).Str("by"));

        await Server.Post(member, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(f) }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(outsider, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(outsider) }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        Assert.Null(await Server.RoleAsync(owner, groupId, f));

        await Server.Patch(owner, $"/api/groups/{groupId}", new JsonObject { ["membersCanInvite"] = true }).Expect(HttpStatusCode.OK);
        var byMember = await Server.Post(member, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(f) }).Expect(HttpStatusCode.OK);
        Assert.Equal([f.Id], byMember["items"]!.AsArray().Select(m => m!["user"]!.Id()));
        Assert.Equal(7, (int)(await Server.GroupAsync(f, groupId))["memberCount"]!);
        Assert.Equal(7, (await Server.MembersAsync(f, groupId)).Count);

        await Server.Post(owner, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = new JsonArray() }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(owner, $"/api/groups/{groupId}/members", new JsonObject()).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Adding_skips_existing_members_and_users_who_blocked_the_actor_and_approves_their_requests()
    {
        var owner = await Server.RegisterAsync();
        var existing = await Server.RegisterAsync();
        var blocker = await Server.RegisterAsync();
        var applicant = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, new JsonObject { ["joinPolicy"] = "approval" }, existing);
        var groupId = group.Id();
        await Server.Put(blocker, $"/api/blocks/{owner.Id}").Expect(HttpStatusCode.NoContent);
        Assert.Equal("pending", (string?)(await Server.JoinAsync(applicant, groupId))["status"]);

        var added = await Server.Post(owner, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(existing, blocker, applicant) })
            .Expect(HttpStatusCode.OK);
        Assert.Equal([applicant.Id], added["items"]!.AsArray().Select(m => m!["user"]!.Id()));
        Assert.Equal(3, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
        Assert.Equal([owner.Id, existing.Id, applicant.Id], (await Server.MembersAsync(owner, groupId)).Select(m => m["user"]!.Id()).OrderBy(SocialApi.Wire));
        Assert.Empty(await Server.AllItemsAsync(owner, $"/api/groups/{groupId}/requests"));
        Assert.Empty(Events(blocker, "group.invited", groupId));
        Assert.Single(Events(existing, "group.invited", groupId));

        var again = await Server.Post(owner, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(existing, applicant) }).Expect(HttpStatusCode.OK);
        Assert.Empty(again["items"]!.AsArray());
        Assert.Equal(3, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
    }

    [Fact]
    public async Task Removing_members_admins_remove_members_the_owner_anyone_but_themself()
    {
        var owner = await Server.RegisterAsync();
        var admin = await Server.RegisterAsync();
        var admin2 = await Server.RegisterAsync();
        var m1 = await Server.RegisterAsync();
        var m2 = await Server.RegisterAsync();
        var m3 = await Server.RegisterAsync();
        var stranger = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner, null, admin, admin2, m1, m2, m3)).Id();
        await Server.PromoteAsync(owner, groupId, admin);
        await Server.PromoteAsync(owner, groupId, admin2);

        await Server.Delete(admin, $"/api/groups/{groupId}/members/{m1.Id}").Expect(HttpStatusCode.NoContent);
        Assert.Null(await Server.RoleAsync(owner, groupId, m1));
        await Server.Get(m1, $"/api/groups/{groupId}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        Assert.DoesNotContain(groupId, await Server.MineAsync(m1));
        var removed = Assert.Single(Events(m1, "group.removed", groupId));
        removed.AssertRecipients(m1, owner, admin, admin2);
        Assert.Equal(m1.Id, removed.Str("userId"));
        Assert.Equal(admin.Id, removed.Str("by"));
        Assert.Empty(Events(m2, "group.removed", groupId));

        // The forbidden ones.
        await Server.Delete(admin, $"/api/groups/{groupId}/members/{owner.Id}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Delete(admin, $"/api/groups/{groupId}/members/{admin2.Id}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Delete(m2, $"/api/groups/{groupId}/members/{m3.Id}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Delete(m2, $"/api/groups/{groupId}/members/{owner.Id}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Delete(owner, $"/api/groups/{groupId}/members/{owner.Id}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Delete(stranger, $"/api/groups/{groupId}/members/{m2.Id}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal("owner", await Server.RoleAsync(owner, groupId, owner));
        Assert.Equal("admin", await Server.RoleAsync(owner, groupId, admin2));
        Assert.Equal("member", await Server.RoleAsync(owner, groupId, m3));

        // The owner removes an admin; nobody removes a non-member.
        await Server.Delete(owner, $"/api/groups/{groupId}/members/{admin2.Id}").Expect(HttpStatusCode.NoContent);
        Assert.Equal(owner.Id, Assert.Single(Events(admin2, "group.removed", groupId), n => n.Str("userId") == admin2.Id).Str("by"));
        await Server.Delete(owner, $"/api/groups/{groupId}/members/{stranger.Id}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Delete(owner, $"/api/groups/{groupId}/members/{m1.Id}").ExpectProblem(HttpStatusCode.NotFound, "not_found");

        var members = await Server.MembersAsync(owner, groupId);
        Assert.Equal([owner.Id, admin.Id, m2.Id, m3.Id], members.Select(m => m["user"]!.Id()).OrderBy(SocialApi.Wire));
        Assert.Equal(4, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
    }

    [Fact]
    public async Task Only_the_owner_sets_roles_and_an_admin_promoting_is_403()
    {
        var owner = await Server.RegisterAsync();
        var admin = await Server.RegisterAsync();
        var m1 = await Server.RegisterAsync();
        var m2 = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner, null, admin, m1, m2)).Id();
        await Server.PromoteAsync(owner, groupId, admin);

        var promoted = await Server.Patch(owner, $"/api/groups/{groupId}/members/{m1.Id}", new JsonObject { ["role"] = "admin" }).Expect(HttpStatusCode.OK);
        Assert.Equal(m1.Id, promoted["user"]!.Id());
        Assert.Equal("admin", (string?)promoted["role"]);
        Assert.True((long)promoted["joinedAt"]! > 0);
        Assert.Equal("admin", await Server.RoleAsync(m2, groupId, m1));
        var roleEvent = Assert.Single(Events(m1, "group.role", groupId));
        roleEvent.AssertRecipients(m1, owner, admin);
        Assert.Equal(m1.Id, roleEvent.Str("userId"));
        Assert.Equal("admin", roleEvent.Str("role"));
        Assert.Empty(Events(m2, "group.role", groupId));

        // The forbidden ones: an admin promoting, a member promoting themself, the owner changing their own role.
        await Server.Patch(admin, $"/api/groups/{groupId}/members/{m2.Id}", new JsonObject { ["role"] = "admin" }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(admin, $"/api/groups/{groupId}/members/{m1.Id}", new JsonObject { ["role"] = "member" }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(m2, $"/api/groups/{groupId}/members/{m2.Id}", new JsonObject { ["role"] = "admin" }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(owner, $"/api/groups/{groupId}/members/{owner.Id}", new JsonObject { ["role"] = "member" }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(owner, $"/api/groups/{groupId}/members/{m2.Id}", new JsonObject { ["role"] = "wizard" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        // Ownership moves only through /owner.
        using (var response = await Server.Patch(owner, $"/api/groups/{groupId}/members/{m2.Id}", new JsonObject { ["role"] = "owner" }))
        {
            Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Forbidden, $"role owner by PATCH answered {(int)response.StatusCode}");
        }

        Assert.Equal("member", await Server.RoleAsync(owner, groupId, m2));
        Assert.Equal("owner", await Server.RoleAsync(owner, groupId, owner));
        Assert.Equal(owner.Id, (string?)(await Server.GroupAsync(m2, groupId))["ownerId"]);

        var demoted = await Server.Patch(owner, $"/api/groups/{groupId}/members/{m1.Id}", new JsonObject { ["role"] = "member" }).Expect(HttpStatusCode.OK);
        Assert.Equal("member", (string?)demoted["role"]);
        Assert.Equal("member", Events(m1, "group.role", groupId)[^1].Str("role"));
        await Server.Patch(owner, $"/api/groups/{groupId}/members/{(await Server.RegisterAsync()).Id}", new JsonObject { ["role"] = "admin" })
            .ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Admins_mute_members_the_owner_mutes_anyone_but_themself()
    {
        var owner = await Server.RegisterAsync();
        var admin = await Server.RegisterAsync();
        var admin2 = await Server.RegisterAsync();
        var m1 = await Server.RegisterAsync();
        var m2 = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner, null, admin, admin2, m1, m2)).Id();
        await Server.PromoteAsync(owner, groupId, admin);
        await Server.PromoteAsync(owner, groupId, admin2);
        var until = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();

        var muted = await Server.Patch(admin, $"/api/groups/{groupId}/members/{m1.Id}", new JsonObject { ["mutedUntil"] = until }).Expect(HttpStatusCode.OK);
        Assert.Equal(m1.Id, muted["user"]!.Id());
        Assert.Equal(until, (long)muted["mutedUntil"]!);
        Assert.Equal("member", (string?)muted["role"]);
        var listed = (await Server.MembersAsync(m2, groupId)).Single(m => m["user"]!.Id() == m1.Id);
        Assert.Equal(until, (long)listed["mutedUntil"]!);
        var muteEvent = Assert.Single(Events(m1, "group.role", groupId));
        muteEvent.AssertRecipients(m1, owner, admin, admin2);
        Assert.Equal(until, muteEvent.DataNode()["mutedUntil"]!.GetValue<long>());
        Assert.Equal("member", muteEvent.Str("role"));

        var unmuted = await Server.Patch(admin, $"/api/groups/{groupId}/members/{m1.Id}", new JsonObject { ["mutedUntil"] = null }).Expect(HttpStatusCode.OK);
        Assert.Null(unmuted["mutedUntil"]);
        Assert.Null((await Server.MembersAsync(m1, groupId)).Single(m => m["user"]!.Id() == m1.Id)["mutedUntil"]);

        // The forbidden ones.
        await Server.Patch(admin, $"/api/groups/{groupId}/members/{admin2.Id}", new JsonObject { ["mutedUntil"] = until }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(admin, $"/api/groups/{groupId}/members/{owner.Id}", new JsonObject { ["mutedUntil"] = until }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(m2, $"/api/groups/{groupId}/members/{m1.Id}", new JsonObject { ["mutedUntil"] = until }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(owner, $"/api/groups/{groupId}/members/{owner.Id}", new JsonObject { ["mutedUntil"] = until }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(admin, $"/api/groups/{groupId}/members/{m1.Id}", new JsonObject { ["mutedUntil"] = "tomorrow" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.All(await Server.MembersAsync(owner, groupId), m => Assert.Null(m["mutedUntil"]));

        // The owner mutes an admin.
        var adminMuted = await Server.Patch(owner, $"/api/groups/{groupId}/members/{admin2.Id}", new JsonObject { ["mutedUntil"] = until }).Expect(HttpStatusCode.OK);
        Assert.Equal(until, (long)adminMuted["mutedUntil"]!);
        Assert.Equal("admin", (string?)adminMuted["role"]);
    }

    [Fact]
    public async Task Ownership_transfer_is_the_owners_the_old_owner_becomes_admin()
    {
        var (owner, admin, member, groupId) = await GroupWithRolesAsync();
        var outsider = await Server.RegisterAsync();

        await Server.Post(admin, $"/api/groups/{groupId}/owner", new JsonObject { ["userId"] = admin.Id }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(member, $"/api/groups/{groupId}/owner", new JsonObject { ["userId"] = member.Id }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        using (var response = await Server.Post(owner, $"/api/groups/{groupId}/owner", new JsonObject { ["userId"] = outsider.Id }))
        {
            Assert.True((int)response.StatusCode is >= 400 and < 500, $"handing over to a non-member answered {(int)response.StatusCode}");
        }

        Assert.Equal(owner.Id, (string?)(await Server.GroupAsync(owner, groupId))["ownerId"]);

        var group = await Server.Post(owner, $"/api/groups/{groupId}/owner", new JsonObject { ["userId"] = member.Id }).Expect(HttpStatusCode.OK);
        AssertGroupShape(group);
        Assert.Equal(member.Id, (string?)group["ownerId"]);
        Assert.Equal(3, (int)group["memberCount"]!);
        Assert.Equal("owner", await Server.RoleAsync(admin, groupId, member));
        Assert.Equal("admin", await Server.RoleAsync(admin, groupId, owner));
        Assert.Equal("admin", await Server.RoleAsync(admin, groupId, admin));
        Assert.Equal(1, (await Server.MembersAsync(owner, groupId)).Count(m => (string?)m["role"] == "owner"));

        // The powers moved with it.
        await Server.Delete(owner, $"/api/groups/{groupId}").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(owner, $"/api/groups/{groupId}/owner", new JsonObject { ["userId"] = owner.Id }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(member, $"/api/groups/{groupId}/leave").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        await Server.Post(owner, $"/api/groups/{groupId}/leave").Expect(HttpStatusCode.NoContent);
        await Server.Patch(member, $"/api/groups/{groupId}/members/{admin.Id}", new JsonObject { ["role"] = "member" }).Expect(HttpStatusCode.OK);
        await Server.Delete(member, $"/api/groups/{groupId}").Expect(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task The_member_list_pages_in_join_order()
    {
        var owner = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner)).Id();
        var joiners = new List<TestUser>();
        for (var i = 0; i < 4; i++)
        {
            var user = await Server.RegisterAsync();
            await Server.JoinAsync(user, groupId);
            joiners.Add(user);
        }

        var firstPage = await Server.Get(joiners[0], $"/api/groups/{groupId}/members?limit=2").Expect(HttpStatusCode.OK);
        var first = firstPage["items"]!.AsArray();
        Assert.Equal([owner.Id, joiners[0].Id], first.Select(m => m!["user"]!.Id()));
        Assert.Equal(["joinedAt", "mutedUntil", "role", "user"], first[0]!.AsObject().Select(p => p.Key).Order());
        Assert.NotNull((string?)firstPage["nextCursor"]);

        var all = await Server.MembersAsync(joiners[3], groupId, limit: 2);
        Assert.Equal(new[] { owner.Id }.Concat(joiners.Select(j => j.Id)), all.Select(m => m["user"]!.Id()));
        var joinedAt = all.Select(m => (long)m["joinedAt"]!).ToList();
        Assert.Equal(joinedAt.Order(), joinedAt);
        Assert.Equal(5, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);

        await Server.Get(owner, $"/api/groups/{groupId}/members?limit=0").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var clamped = await Server.Get(owner, $"/api/groups/{groupId}/members?limit=100000").Expect(HttpStatusCode.OK);
        Assert.Equal(5, clamped["items"]!.AsArray().Count);
    }

    // ---- search and mine

    [Fact]
    public async Task Search_by_text_matches_name_or_description_case_insensitively_and_never_private_groups()
    {
        var owner = await Server.RegisterAsync();
        var searcher = await Server.RegisterAsync();
        var word = "w" + Guid.NewGuid().ToString("N")[..10];
        var byName = await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = "Club " + word.ToUpperInvariant() });
        var byDescription = await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = "Other", ["description"] = $"we talk about {word} daily" });
        await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = "Secret " + word, ["visibility"] = "private" });
        await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = "Unrelated" });

        var found = await Server.AllItemsAsync(searcher, "/api/groups/search?q=" + word);
        Assert.Equal([byName.Id(), byDescription.Id()], found.Select(g => g.Id()));
        AssertGroupShape(found[0]);
        Assert.Equal("Club " + word.ToUpperInvariant(), (string?)found[0]["name"]);

        Assert.Equal([byName.Id(), byDescription.Id()], (await Server.AllItemsAsync(searcher, "/api/groups/search?q=" + word.ToUpperInvariant(), limit: 1)).Select(g => g.Id()));
        // Not even its own members find a private group.
        Assert.Equal([byName.Id(), byDescription.Id()], (await Server.AllItemsAsync(owner, "/api/groups/search?q=" + word)).Select(g => g.Id()));
        Assert.Empty(await Server.AllItemsAsync(searcher, "/api/groups/search?q=secret%20" + word));

        // Making a group private hides it.
        await Server.Patch(owner, $"/api/groups/{byName.Id()}", new JsonObject { ["visibility"] = "private" }).Expect(HttpStatusCode.OK);
        Assert.Equal([byDescription.Id()], (await Server.AllItemsAsync(searcher, "/api/groups/search?q=" + word)).Select(g => g.Id()));
    }

    [Fact]
    public async Task Search_by_tags_requires_every_tag()
    {
        var owner = await Server.RegisterAsync();
        var searcher = await Server.RegisterAsync();
        var t1 = "a" + Guid.NewGuid().ToString("N")[..10];
        var t2 = "b" + Guid.NewGuid().ToString("N")[..10];
        var both = await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = "Both", ["tags"] = SocialApi.Strings(t1, "extra", t2) });
        var onlyFirst = await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = "First", ["tags"] = SocialApi.Strings(t1) });
        var onlySecond = await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = "Second", ["tags"] = SocialApi.Strings(t2) });
        await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = "Hidden both", ["tags"] = SocialApi.Strings(t1, t2), ["visibility"] = "private" });

        Assert.Equal([both.Id()], (await Server.AllItemsAsync(searcher, $"/api/groups/search?tags={t1},{t2}")).Select(g => g.Id()));
        Assert.Equal([both.Id()], (await Server.AllItemsAsync(searcher, $"/api/groups/search?tags={t2},{t1}")).Select(g => g.Id()));
        Assert.Equal([both.Id(), onlyFirst.Id()], (await Server.AllItemsAsync(searcher, $"/api/groups/search?tags={t1}")).Select(g => g.Id()));
        Assert.Equal([both.Id(), onlySecond.Id()], (await Server.AllItemsAsync(searcher, $"/api/groups/search?tags={t2}", limit: 1)).Select(g => g.Id()));
        Assert.Empty(await Server.AllItemsAsync(searcher, $"/api/groups/search?tags={t1},{t2},nosuchtag{t1}"));
        // Text and tags together: both must hold.
        Assert.Equal([onlyFirst.Id()], (await Server.AllItemsAsync(searcher, $"/api/groups/search?q=first&tags={t1}")).Select(g => g.Id()));
        Assert.Empty(await Server.AllItemsAsync(searcher, $"/api/groups/search?q=second&tags={t1}"));
        // The private one stays hidden from its owner too.
        Assert.DoesNotContain("Hidden both", (await Server.AllItemsAsync(owner, $"/api/groups/search?tags={t1},{t2}")).Select(g => (string?)g["name"]));
    }

    [Fact]
    public async Task Mine_lists_every_group_i_am_in_private_ones_too_in_id_order()
    {
        var me = await Server.RegisterAsync();
        var other = await Server.RegisterAsync();
        var owned = await Server.CreateGroupAsync(me);
        var invitedPrivate = await Server.CreateGroupAsync(other, new JsonObject { ["visibility"] = "private" }, me);
        var joined = await Server.CreateGroupAsync(other);
        await Server.JoinAsync(me, joined.Id());
        await Server.CreateGroupAsync(other);

        var page = await Server.Get(me, "/api/groups/mine").Expect(HttpStatusCode.OK);
        Assert.Equal([owned.Id(), invitedPrivate.Id(), joined.Id()], page["items"]!.AsArray().Select(g => g!.Id()));
        Assert.Null((string?)page["nextCursor"]);
        AssertGroupShape(page["items"]![1]!);
        Assert.Equal("private", (string?)page["items"]![1]!["visibility"]);
        Assert.Equal([owned.Id(), invitedPrivate.Id(), joined.Id()], (await Server.AllItemsAsync(me, "/api/groups/mine", limit: 2)).Select(g => g.Id()));

        await Server.Post(me, $"/api/groups/{invitedPrivate.Id()}/leave").Expect(HttpStatusCode.NoContent);
        Assert.Equal([owned.Id(), joined.Id()], await Server.MineAsync(me));
        Assert.Empty(await Server.MineAsync(await Server.RegisterAsync()));
        await Server.Send(HttpMethod.Get, "/api/groups/mine").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
    }

    // ---- unknown ids

    [Fact]
    public async Task Unknown_groups_users_and_requests_are_404()
    {
        var owner = await Server.RegisterAsync();
        var stranger = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner)).Id();
        const string Missing = "/api/groups/1";

        await Server.Get(owner, Missing).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Patch(owner, Missing, new JsonObject { ["name"] = "x" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Delete(owner, Missing).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(owner, Missing + "/join", new JsonObject()).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(owner, Missing + "/leave").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Get(owner, Missing + "/members").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(owner, Missing + "/members", new JsonObject { ["userIds"] = SocialApi.IdArray(stranger) }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Delete(owner, Missing + "/members/" + stranger.Id).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Patch(owner, Missing + "/members/" + stranger.Id, new JsonObject { ["role"] = "admin" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(owner, Missing + "/owner", new JsonObject { ["userId"] = stranger.Id }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Get(owner, Missing + "/requests").ExpectProblem(HttpStatusCode.NotFound, "not_found");

        await Server.Patch(owner, $"/api/groups/{groupId}/members/{stranger.Id}", new JsonObject { ["mutedUntil"] = null }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Delete(owner, $"/api/groups/{groupId}/members/1").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(owner, $"/api/groups/{groupId}/requests/1/approve").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(owner, $"/api/groups/{groupId}/requests/1/decline").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    // ---- helpers

    /// <summary>A group (open, public unless <paramref name="options"/> say otherwise) with an owner, an admin and a member.</summary>
    private async Task<(TestUser Owner, TestUser Admin, TestUser Member, string GroupId)> GroupWithRolesAsync(JsonObject? options = null)
    {
        var owner = await Server.RegisterAsync();
        var admin = await Server.RegisterAsync();
        var member = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, options, admin, member);
        await Server.PromoteAsync(owner, group.Id(), admin);
        return (owner, admin, member, group.Id());
    }

    /// <summary>Events of <paramref name="kind"/> to <paramref name="user"/> about the group <paramref name="groupId"/>.</summary>
    private List<Notification> Events(TestUser user, string kind, string groupId) =>
        Notifications.For(user.Id, kind).Where(n => n.Str("groupId") == groupId || n.Str("group") == groupId).ToList();

    /// <summary>Two readings of one group agree (tags compared as a set).</summary>
    private static void AssertSameGroup(JsonNode expected, JsonNode actual)
    {
        foreach (var field in GroupFields.Where(f => f != "tags"))
        {
            Assert.True(expected[field]?.ToJsonString() == actual[field]?.ToJsonString(), $"{field}: {expected[field]?.ToJsonString()} vs {actual[field]?.ToJsonString()}");
        }

        Assert.Equal(expected["tags"]!.AsArray().Select(t => (string)t!).Order(), actual["tags"]!.AsArray().Select(t => (string)t!).Order());
    }

    private static void AssertGroupShape(JsonNode group)
    {
        var keys = group.AsObject().Select(p => p.Key).ToHashSet();
        foreach (var field in GroupFields)
        {
            Assert.True(keys.Contains(field), $"group has no '{field}': {group.ToJsonString()}");
        }

        Assert.IsType<string>((string?)group["ownerId"]);
        Assert.IsType<string>((string?)group["conversationId"]);
    }

    [Fact]
    public async Task Group_names_and_announcements_lose_format_characters()
    {
        var owner = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, new JsonObject { ["name"] = "\u202Eteam\u200B", ["announcement"] = "read \u2066this\u2069" });
        Assert.Equal("team", (string?)group["name"]);
        Assert.Equal("read this", (string?)group["announcement"]);
        await Server.Post(owner, "/api/groups", new JsonObject { ["name"] = "\u200B\u202E" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }
}
