using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Groups;

public sealed class GroupConcurrencyTestsSqlite(SqliteFixture fixture) : GroupConcurrencyTests(fixture), IClassFixture<SqliteFixture>;

public sealed class GroupConcurrencyTestsPostgres(PostgresFixture fixture) : GroupConcurrencyTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>Concurrent membership changes on one group lose no update: <c>memberCount</c> always equals the member rows.</summary>
public abstract class GroupConcurrencyTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task Racing_joins_and_leaves_leave_member_count_equal_to_the_member_rows()
    {
        const int users = 30;
        const int rounds = 4;
        var owner = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner)).Id();
        var crowd = await Server.RegisterManyAsync(users, "race");
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();

        // Everyone joins and leaves several times at once; the even-numbered stay in at the end.
        await Task.WhenAll(crowd.Select(async (user, index) =>
        {
            for (var round = 0; round < rounds; round++)
            {
                await Step(user, "join", HttpStatusCode.OK);
                await Step(user, "leave", HttpStatusCode.NoContent);
            }

            if (index % 2 == 0)
            {
                await Step(user, "join", HttpStatusCode.OK);
            }
        }));
        Assert.Empty(failures);

        var group = await Server.GroupAsync(owner, groupId);
        var members = await Server.MembersAsync(owner, groupId, limit: 7);
        var memberIds = members.Select(m => m["user"]!.Id()).ToList();
        Assert.Equal(memberIds.Count, memberIds.Distinct().Count());
        Assert.Equal(memberIds.Count, (int)group["memberCount"]!);
        var expected = crowd.Where((_, index) => index % 2 == 0).Select(u => u.Id).Append(owner.Id).OrderBy(SocialApi.Wire);
        Assert.Equal(expected, memberIds.OrderBy(SocialApi.Wire));
        Assert.Equal(1 + (users / 2), (int)group["memberCount"]!);

        // Every join and every leave was told to the owner, once each.
        Assert.Equal((users * rounds) + (users / 2), Notifications.For(owner.Id, "group.joined").Count(n => n.Str("groupId") == groupId));
        Assert.Equal(users * rounds, Notifications.For(owner.Id, "group.left").Count(n => n.Str("groupId") == groupId));

        async Task Step(TestUser user, string action, HttpStatusCode expectedStatus)
        {
            var body = action == "join" ? new JsonObject() : null;
            using var response = await Server.Post(user, $"/api/groups/{groupId}/{action}", body);
            if (response.StatusCode != expectedStatus)
            {
                failures.Enqueue($"{user.Username} {action}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }
    }

    [Fact]
    public async Task One_user_joining_many_times_at_once_is_counted_once()
    {
        var owner = await Server.RegisterAsync();
        var eager = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner)).Id();

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Server.Post(eager, $"/api/groups/{groupId}/join", new JsonObject())));
        foreach (var response in responses)
        {
            using (response)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("joined", (string?)(await response.Json())["status"]);
            }
        }

        Assert.Equal(2, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
        Assert.Equal(2, (await Server.MembersAsync(owner, groupId)).Count);
        Assert.Single(Notifications.For(eager.Id, "group.joined"));

        // And leaving many times at once leaves once.
        var leaves = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Server.Post(eager, $"/api/groups/{groupId}/leave")));
        var statuses = leaves.Select(r => r.StatusCode).ToList();
        foreach (var response in leaves)
        {
            response.Dispose();
        }

        Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.NoContent));
        Assert.All(statuses, s => Assert.True(s is HttpStatusCode.NoContent or HttpStatusCode.Forbidden or HttpStatusCode.NotFound or HttpStatusCode.Conflict, $"leave answered {(int)s}"));
        Assert.Equal(1, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
        Assert.Single(await Server.MembersAsync(owner, groupId));
        Assert.Single(Notifications.For(eager.Id, "group.left"));
    }

    [Fact]
    public async Task Concurrent_adds_of_the_same_users_add_each_once()
    {
        var owner = await Server.RegisterAsync();
        var admin = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner, null, admin)).Id();
        await Server.PromoteAsync(owner, groupId, admin);
        var newcomers = await Server.RegisterManyAsync(10, "add");
        var body = new JsonObject { ["userIds"] = SocialApi.IdArray(newcomers) };

        var results = await Task.WhenAll(
            Enumerable.Range(0, 6).Select(i => Server.Post(i % 2 == 0 ? owner : admin, $"/api/groups/{groupId}/members", body.DeepClone()).Expect(HttpStatusCode.OK)));

        var added = results.SelectMany(r => r["items"]!.AsArray().Select(m => m!["user"]!.Id())).ToList();
        Assert.Equal(newcomers.Select(n => n.Id).Order(), added.Order());
        Assert.Equal(12, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
        Assert.Equal(12, (await Server.MembersAsync(owner, groupId, limit: 5)).Count);
        Assert.All(newcomers, n => Assert.Single(Notifications.For(n.Id, "group.invited")));
    }

    [Fact]
    public async Task Racing_approve_and_decline_decide_a_join_request_once()
    {
        var owner = await Server.RegisterAsync();
        var admin = await Server.RegisterAsync();
        var groupId = (await Server.CreateGroupAsync(owner, new JsonObject { ["joinPolicy"] = "approval" }, admin)).Id();
        await Server.PromoteAsync(owner, groupId, admin);
        var applicants = await Server.RegisterManyAsync(6, "apply");
        foreach (var applicant in applicants)
        {
            Assert.Equal("pending", (string?)(await Server.JoinAsync(applicant, groupId))["status"]);
        }

        var requests = await Server.AllItemsAsync(owner, $"/api/groups/{groupId}/requests");
        Assert.Equal(applicants.Length, requests.Count);

        var joined = 0;
        await Task.WhenAll(requests.Select(async request =>
        {
            var responses = await Task.WhenAll(
                Server.Post(owner, $"/api/groups/{groupId}/requests/{request.Id()}/approve"),
                Server.Post(admin, $"/api/groups/{groupId}/requests/{request.Id()}/decline"),
                Server.Post(admin, $"/api/groups/{groupId}/requests/{request.Id()}/approve"));
            var statuses = responses.Select(r => r.StatusCode).ToList();
            foreach (var response in responses)
            {
                response.Dispose();
            }

            Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.Conflict));
            if (statuses[1] != HttpStatusCode.OK)
            {
                Interlocked.Increment(ref joined);
            }
        }));

        Assert.Empty(await Server.AllItemsAsync(owner, $"/api/groups/{groupId}/requests"));
        Assert.Equal(2 + joined, (int)(await Server.GroupAsync(owner, groupId))["memberCount"]!);
        Assert.Equal(2 + joined, (await Server.MembersAsync(owner, groupId)).Count);
    }
}
