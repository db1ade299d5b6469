using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Groups;

public sealed class GroupLimitsTestsSqlite() : GroupLimitsTests(Backend.Sqlite);

public sealed class GroupLimitsTestsPostgres() : GroupLimitsTests(Backend.Postgres);

/// <summary>Servers of their own: small hourly limits and a clock the tests move.</summary>
public abstract class GroupLimitsTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Group_creations_are_limited_per_user_per_sliding_hour()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, "--Groups:CreationsPerHour=3", "--Auth:AccessTokenMinutes=10000000");
        var spammer = await server.RegisterAsync();
        var other = await server.RegisterAsync();

        // A refused body does not count.
        await server.Post(spammer, "/api/groups", new JsonObject { ["name"] = "" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var first = await server.CreateGroupAsync(spammer);
        time.Advance(TimeSpan.FromMinutes(20));
        await server.CreateGroupAsync(spammer);
        await server.CreateGroupAsync(spammer);

        // The fourth within the hour is refused until the first leaves the window, 40 minutes on.
        var retry = await server.Post(spammer, "/api/groups", new JsonObject { ["name"] = "one too many" }).ExpectRateLimited();
        Assert.InRange(retry, 40 * 60 - 1, 40 * 60);
        Assert.Equal(3, (await server.MineAsync(spammer)).Count);
        // Another user has a budget of their own.
        await server.CreateGroupAsync(other);

        time.Advance(TimeSpan.FromMinutes(39));
        await server.Post(spammer, "/api/groups", new JsonObject { ["name"] = "still too many" }).ExpectRateLimited();
        time.Advance(TimeSpan.FromMinutes(1));
        await server.CreateGroupAsync(spammer);
        await server.Post(spammer, "/api/groups", new JsonObject { ["name"] = "and again" }).ExpectRateLimited();
        Assert.Equal(4, (await server.MineAsync(spammer)).Count);
        Assert.Contains(first.Id(), await server.MineAsync(spammer));
    }

    [Fact]
    public async Task Join_requests_are_limited_per_user_per_sliding_hour()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, "--Groups:JoinRequestsPerHour=2", "--Auth:AccessTokenMinutes=10000000");
        var owner = await server.RegisterAsync();
        var joiner = await server.RegisterAsync();
        var other = await server.RegisterAsync();
        var approval = new JsonObject { ["joinPolicy"] = "approval" };
        var groups = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            groups.Add((await server.CreateGroupAsync(owner, approval)).Id());
        }

        var open = (await server.CreateGroupAsync(owner)).Id();
        var laterOpen = (await server.CreateGroupAsync(owner)).Id();

        // Joining an open group and asking again do not count.
        Assert.Equal("joined", (string?)(await server.JoinAsync(joiner, open))["status"]);
        Assert.Equal("pending", (string?)(await server.JoinAsync(joiner, groups[0]))["status"]);
        Assert.Equal("pending", (string?)(await server.JoinAsync(joiner, groups[0]))["status"]);
        time.Advance(TimeSpan.FromMinutes(45));
        Assert.Equal("pending", (string?)(await server.JoinAsync(joiner, groups[1]))["status"]);

        var retry = await server.Post(joiner, $"/api/groups/{groups[2]}/join", new JsonObject { ["message"] = "let me in" }).ExpectRateLimited();
        Assert.InRange(retry, (15 * 60) - 1, 15 * 60);
        Assert.Empty(await server.AllItemsAsync(owner, $"/api/groups/{groups[2]}/requests"));
        // Open groups still let them in, and another user has a budget of their own.
        Assert.Equal("joined", (string?)(await server.JoinAsync(joiner, laterOpen))["status"]);
        Assert.Equal("pending", (string?)(await server.JoinAsync(other, groups[2]))["status"]);

        time.Advance(TimeSpan.FromMinutes(15));
        Assert.Equal("pending", (string?)(await server.JoinAsync(joiner, groups[2], "let me in"))["status"]);
        var requesters = (await server.AllItemsAsync(owner, $"/api/groups/{groups[2]}/requests")).Select(r => (string)r["user"]!["id"]!).ToList();
        Assert.Equal(2, requesters.Count);
        Assert.Contains(joiner.Id, requesters);
        Assert.Contains(other.Id, requesters);
    }
}
