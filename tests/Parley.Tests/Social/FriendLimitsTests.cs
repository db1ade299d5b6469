using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Social;

public sealed class FriendLimitsTestsSqlite() : FriendLimitsTests(Backend.Sqlite);

public sealed class FriendLimitsTestsPostgres() : FriendLimitsTests(Backend.Postgres);

/// <summary>Servers of their own: a small hourly limit of friend requests, a short re-request cooldown, a clock the tests move.</summary>
public abstract class FriendLimitsTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task New_friend_requests_are_limited_per_user_per_sliding_hour()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, "--Social:FriendRequestsPerHour=3", "--Auth:AccessTokenMinutes=10000000");
        var spammer = await server.RegisterAsync();
        var asker = await server.RegisterAsync();
        var other = await server.RegisterAsync();
        var targets = await server.RegisterManyAsync(4);
        await server.SendFriendRequestAsync(asker, spammer);

        // Only requests that reach someone new count: not a refused one, not asking again, not accepting theirs.
        await server.RequestFriend(spammer, spammer).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await server.Post(spammer, "/api/friends/requests", new JsonObject { ["userId"] = "123456789" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.RequestFriend(spammer, targets[0]).Expect(HttpStatusCode.Created);
        await server.RequestFriend(spammer, targets[0]).Expect(HttpStatusCode.OK);
        await server.RequestFriend(spammer, asker).Expect(HttpStatusCode.OK);
        Assert.Equal([asker.Id], await server.FriendIdsAsync(spammer));
        await server.RequestFriend(spammer, targets[1]).Expect(HttpStatusCode.Created);
        time.Advance(TimeSpan.FromMinutes(30));
        await server.RequestFriend(spammer, targets[2]).Expect(HttpStatusCode.Created);

        // The fourth within the hour waits until the first leaves the window, 30 minutes on.
        var retry = await server.RequestFriend(spammer, targets[3]).ExpectRateLimited();
        Assert.InRange(retry, (30 * 60) - 1, 30 * 60);
        Assert.Empty(await server.PendingRequestsAsync(targets[3], "incoming"));
        Assert.Equal(3, (await server.PendingRequestsAsync(spammer, "outgoing")).Count);
        // Another user has a budget of their own.
        await server.RequestFriend(other, targets[3]).Expect(HttpStatusCode.Created);

        time.Advance(TimeSpan.FromMinutes(30));
        await server.RequestFriend(spammer, targets[3]).Expect(HttpStatusCode.Created);
        Assert.Equal(4, (await server.PendingRequestsAsync(spammer, "outgoing")).Count);
    }

    [Fact]
    public async Task After_a_decline_the_sender_waits_for_the_cooldown_before_asking_again()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, "--Social:RerequestCooldownHours=2", "--Auth:AccessTokenMinutes=10000000");
        var asker = await server.RegisterAsync();
        var decliner = await server.RegisterAsync();
        var someone = await server.RegisterAsync();
        var request = await server.SendFriendRequestAsync(asker, decliner);
        time.Advance(TimeSpan.FromMinutes(10));
        await server.Post(decliner, $"/api/friends/requests/{request.Id()}/decline").Expect(HttpStatusCode.OK);

        // Two hours from the decline, not from the request.
        time.Advance(TimeSpan.FromHours(1));
        var retry = await server.RequestFriend(asker, decliner, "please?").ExpectRateLimited();
        Assert.InRange(retry, 3600 - 1, 3600);
        Assert.Empty(await server.PendingRequestsAsync(decliner, "incoming"));
        // Only that pair waits.
        await server.RequestFriend(asker, someone).Expect(HttpStatusCode.Created);
        await server.RequestFriend(someone, decliner).Expect(HttpStatusCode.Created);

        time.Advance(TimeSpan.FromMinutes(59));
        await server.RequestFriend(asker, decliner).ExpectRateLimited();
        time.Advance(TimeSpan.FromMinutes(1));
        var again = await server.RequestFriend(asker, decliner, "please?").Expect(HttpStatusCode.Created);
        Assert.NotEqual(request.Id(), again.Id());
        Assert.Contains(again.Id(), (await server.PendingRequestsAsync(decliner, "incoming")).Select(r => r.Id()));
    }

    [Fact]
    public async Task A_cooldown_of_zero_lets_the_sender_ask_again_at_once()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Social:RerequestCooldownHours=0");
        var asker = await server.RegisterAsync();
        var decliner = await server.RegisterAsync();
        var request = await server.SendFriendRequestAsync(asker, decliner);
        await server.Post(decliner, $"/api/friends/requests/{request.Id()}/decline").Expect(HttpStatusCode.OK);
        await server.RequestFriend(asker, decliner).Expect(HttpStatusCode.Created);
    }
}
