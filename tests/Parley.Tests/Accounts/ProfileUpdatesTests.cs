using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Accounts;

public sealed class ProfileUpdatesTestsSqlite(SqliteFixture fixture) : ProfileUpdatesTests(fixture), IClassFixture<SqliteFixture>;

public sealed class ProfileUpdatesTestsPostgres(PostgresFixture fixture) : ProfileUpdatesTests(fixture), IClassFixture<PostgresFixture>;

/// <summary><c>notify</c> <c>user.updated</c>: a nickname or avatar change reaches friends, co-members and one's other devices.</summary>
public abstract class ProfileUpdatesTests(ServerFixture fixture) : BackendTests(fixture)
{
    private static bool IsUserUpdated(JsonNode frame) => (string?)frame["kind"] == "user.updated";

    private static Func<JsonNode, bool> FriendRequestFrom(TestUser user) =>
        f => (string?)f["kind"] == "friend.request" && (string?)f["data"]!["fromUserId"] == user.Id;

    [Fact]
    public async Task A_rename_reaches_friends_co_members_and_own_devices_once_each_and_no_stranger()
    {
        var alice = await Server.RegisterAsync();
        var friend = await Server.RegisterAsync();
        var coMember = await Server.RegisterAsync();
        var both = await Server.RegisterAsync(); // a friend and a co-member: told once
        var stranger = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(alice, friend);
        await Server.MakeFriendsAsync(alice, both);
        await Server.CreateGroupAsync(coMember, null, alice, both);
        var aliceOther = await Server.LoginAsync(alice.Username, alice.Password);

        await using var wsFriend = await WsClient.ConnectAsync(Server, friend.AccessToken);
        await using var wsCoMember = await WsClient.ConnectAsync(Server, coMember.AccessToken);
        await using var wsBoth = await WsClient.ConnectAsync(Server, both.AccessToken);
        await using var wsStranger = await WsClient.ConnectAsync(Server, stranger.AccessToken);
        await using var wsOwn = await WsClient.ConnectAsync(Server, aliceOther.AccessToken);

        var self = await Server.Patch(alice, "/api/users/me", new JsonObject { ["nickname"] = "Alice Renamed" }).Expect(HttpStatusCode.OK);
        Assert.Equal("Alice Renamed", (string?)self["nickname"]);

        foreach (var ws in new[] { wsFriend, wsCoMember, wsBoth, wsOwn })
        {
            var frame = await ws.NextAsync("notify", where: IsUserUpdated);
            var user = frame["data"]!["user"]!;
            Assert.Equal(alice.Id, (string?)user["id"]);
            Assert.Equal("Alice Renamed", (string?)user["nickname"]);
            Assert.Equal(alice.Username, (string?)user["username"]);
            Assert.False(user.AsObject().ContainsKey("email")); // the public user, never the private fields
        }

        var recorded = Notifications.For(alice.Id, "user.updated").Single(n => n.DataNode()["user"]!["nickname"]!.GetValue<string>() == "Alice Renamed");
        recorded.AssertRecipients(alice, friend, coMember, both);

        // Barriers: a friend request from alice takes the same ordered route after the rename, so a user.updated
        // meant for these sockets would have come before it.
        await Server.SendFriendRequestAsync(alice, stranger);
        Assert.True(await wsStranger.NoneBeforeAsync("notify", "notify", FriendRequestFrom(alice), IsUserUpdated), "a stranger was told");
        var carol = await Server.RegisterAsync();
        await Server.SendFriendRequestAsync(carol, both);
        await wsBoth.NextAsync("notify", where: FriendRequestFrom(carol));
        Assert.DoesNotContain(wsBoth.TakeAll("notify"), IsUserUpdated);
    }

    [Fact]
    public async Task An_avatar_change_is_announced_and_a_bio_change_is_not()
    {
        var alice = await Server.RegisterAsync();
        var friend = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(alice, friend);
        await using var wsFriend = await WsClient.ConnectAsync(Server, friend.AccessToken);
        var avatar = await Server.UploadAsync(alice, TestImages.Png(40, 30), "me.png");

        await Server.Patch(alice, "/api/users/me", new JsonObject { ["bio"] = "just a bio" }).Expect(HttpStatusCode.OK);
        await Server.Patch(alice, "/api/users/me", new JsonObject { ["avatarFileId"] = avatar.Id() }).Expect(HttpStatusCode.OK);
        var frame = await wsFriend.NextAsync("notify", where: IsUserUpdated);
        // The first user.updated is the avatar's: the bio change before it announced nothing.
        Assert.Equal(avatar.Id(), (string?)frame["data"]!["user"]!["avatarFileId"]);
        Assert.Equal("just a bio", (string?)frame["data"]!["user"]!["bio"]);

        // Setting the same avatar again changes nothing and announces nothing.
        await Server.Patch(alice, "/api/users/me", new JsonObject { ["avatarFileId"] = avatar.Id() }).Expect(HttpStatusCode.OK);
        await Server.Patch(alice, "/api/users/me", new JsonObject { ["avatarFileId"] = null }).Expect(HttpStatusCode.OK);
        var cleared = await wsFriend.NextAsync("notify", where: IsUserUpdated);
        Assert.Null(cleared["data"]!["user"]!["avatarFileId"]);
    }
}

public sealed class ProfileUpdateBoundTestsSqlite() : ProfileUpdateBoundTests(Backend.Sqlite);

public sealed class ProfileUpdateBoundTestsPostgres() : ProfileUpdateBoundTests(Backend.Postgres);

/// <summary><c>Social:ProfileUpdateMaxRecipients</c>: friends first, then whole groups from the smallest up.</summary>
public abstract class ProfileUpdateBoundTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Past_the_bound_bigger_groups_are_left_out_whole()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var recorder = new NotificationRecorder();
        await using var server = await RecordingServer.StartAsync(store, recorder, "--Social:ProfileUpdateMaxRecipients=3");
        var alice = await server.RegisterAsync();
        var friend = await server.RegisterAsync();
        await server.MakeFriendsAsync(alice, friend);
        var small = await server.RegisterManyAsync(2);
        var big = await server.RegisterManyAsync(3);
        await server.CreateGroupAsync(big[0], null, [alice, big[1], big[2]]); // 4 members: 3 others
        await server.CreateGroupAsync(small[0], null, [alice, small[1]]);     // 3 members: 2 others

        await server.Patch(alice, "/api/users/me", new JsonObject { ["nickname"] = "Bounded" }).Expect(HttpStatusCode.OK);
        // The bound is 3: the friend (1), then the small group (2 more); the big group would pass it and is left out.
        recorder.For(alice.Id, "user.updated").Single().AssertRecipients(alice, friend, small[0], small[1]);
    }
}

public sealed class ProfileChangeQuotaTestsSqlite() : ProfileChangeQuotaTests(Backend.Sqlite);

/// <summary>
/// <c>Social:ProfileChangesPerHour</c>: every announced change (nickname, avatar) fans out to up to
/// <c>Social:ProfileUpdateMaxRecipients</c> users, so a user flipping their nickname in a loop is refused past the quota
/// instead of making the server send that many frames per request; changes that announce nothing are not counted.
/// </summary>
public abstract class ProfileChangeQuotaTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Announced_changes_past_the_hourly_quota_are_refused_and_announce_nothing()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var recorder = new NotificationRecorder();
        await using var server = await RecordingServer.StartAsync(store, recorder, "--Social:ProfileChangesPerHour=2");
        var alice = await server.RegisterAsync();
        var friend = await server.RegisterAsync();
        await server.MakeFriendsAsync(alice, friend);

        await server.Patch(alice, "/api/users/me", new JsonObject { ["nickname"] = "Flip" }).Expect(HttpStatusCode.OK);
        await server.Patch(alice, "/api/users/me", new JsonObject { ["nickname"] = "Flop" }).Expect(HttpStatusCode.OK);
        await server.Patch(alice, "/api/users/me", new JsonObject { ["nickname"] = "Flip" }).ExpectProblem((HttpStatusCode)429, "rate_limited");
        await server.Patch(alice, "/api/users/me", new JsonObject { ["avatarFileId"] = null, ["nickname"] = "Flop" }).Expect(HttpStatusCode.OK); // no change: not counted
        var bio = await server.Patch(alice, "/api/users/me", new JsonObject { ["bio"] = "still editable" }).Expect(HttpStatusCode.OK);
        Assert.Equal("Flop", (string?)bio["nickname"]); // the refused rename was not applied

        Assert.Equal(["Flip", "Flop"], recorder.For(alice.Id, "user.updated").Select(n => n.DataNode()["user"]!["nickname"]!.GetValue<string>()));
        var other = await server.RegisterAsync(); // a quota of one's own
        await server.Patch(other, "/api/users/me", new JsonObject { ["nickname"] = "Other" }).Expect(HttpStatusCode.OK);
    }
}

/// <summary>A server of a test's own whose notifications <paramref name="recorder"/> sees, with one extra setting.</summary>
internal static class RecordingServer
{
    public static Task<ParleyServer> StartAsync(TestStore store, NotificationRecorder recorder, string setting) =>
        ParleyServer.StartAsync(
            store,
            null,
            services => Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddSingleton<Parley.Server.Events.INotificationSink>(services, recorder),
            setting);
}
