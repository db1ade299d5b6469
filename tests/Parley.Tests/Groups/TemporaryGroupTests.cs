using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Events;
using Parley.Server.Groups;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Groups;

public sealed class TemporaryGroupTestsSqlite() : TemporaryGroupTests(Backend.Sqlite);

public sealed class TemporaryGroupTestsPostgres() : TemporaryGroupTests(Backend.Postgres);

/// <summary>Temporary groups disappear after their idle TTL, on a clock the test moves.</summary>
public abstract class TemporaryGroupTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task A_temporary_group_past_its_idle_ttl_is_swept_and_its_members_told()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        var recorder = new NotificationRecorder();
        // The background timer runs on real time; keep it out of the way so the test's sweeps are the only ones.
        await using var server = await ParleyServer.StartAsync(
            store, time, services => services.AddSingleton<INotificationSink>(recorder), "--Groups:SweepIntervalSeconds=3600");
        var sweeper = server.Service<TemporaryGroupSweeper>();

        var owner = await server.RegisterAsync();
        var member = await server.RegisterAsync();
        var temporary = await server.CreateGroupAsync(owner, new JsonObject { ["name"] = "Lobby", ["temporary"] = true, ["idleTtlSeconds"] = 60 }, member);
        var lasting = await server.CreateGroupAsync(owner, new JsonObject { ["name"] = "Lasting" }, member);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        Assert.True((bool)temporary["temporary"]!);
        Assert.Equal(now, (long)temporary["createdAt"]!);
        Assert.Equal(now + 60_000, (long)temporary["expiresAt"]!);
        Assert.Equal(2, (int)temporary["memberCount"]!);

        Assert.Equal(0, await sweeper.SweepOnceAsync());
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(0, await sweeper.SweepOnceAsync());
        await server.GroupAsync(member, temporary.Id());
        Assert.Empty(recorder.For(owner.Id, "group.dissolved"));

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, await sweeper.SweepOnceAsync());

        foreach (var user in new[] { owner, member })
        {
            await server.Get(user, $"/api/groups/{temporary.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
            await server.Get(user, $"/api/groups/{temporary.Id()}/members").ExpectProblem(HttpStatusCode.NotFound, "not_found");
            Assert.Equal([lasting.Id()], await server.MineAsync(user));
        }

        var dissolved = recorder.All.Where(n => n.Kind == "group.dissolved").ToList();
        var told = Assert.Single(dissolved);
        Assert.Equal(temporary.Id(), told.Str("groupId"));
        told.AssertRecipients(owner, member);

        // The ordinary group is untouched, and a second sweep finds nothing.
        var kept = await server.GroupAsync(member, lasting.Id());
        Assert.Equal(2, (int)kept["memberCount"]!);
        Assert.Null(kept["expiresAt"]);
        Assert.Equal(0, await sweeper.SweepOnceAsync());
        time.Advance(TimeSpan.FromDays(20));
        Assert.Equal(0, await sweeper.SweepOnceAsync());
        await server.GroupAsync(await RefreshedAsync(server, owner), lasting.Id());
    }

    [Fact]
    public async Task Each_temporary_group_keeps_its_own_ttl()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        var recorder = new NotificationRecorder();
        await using var server = await ParleyServer.StartAsync(
            store, time, services => services.AddSingleton<INotificationSink>(recorder), "--Groups:SweepIntervalSeconds=3600");
        var sweeper = server.Service<TemporaryGroupSweeper>();
        var owner = await server.RegisterAsync();
        var a = await server.RegisterAsync();
        var b = await server.RegisterAsync();

        var shortLived = await server.CreateGroupAsync(owner, new JsonObject { ["temporary"] = true, ["idleTtlSeconds"] = 60 }, a);
        var longer = await server.CreateGroupAsync(owner, new JsonObject { ["temporary"] = true, ["idleTtlSeconds"] = 600 }, b);
        var byDefault = await server.CreateGroupAsync(owner, new JsonObject { ["temporary"] = true });

        time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(1, await sweeper.SweepOnceAsync());
        await server.Get(a, $"/api/groups/{shortLived.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.GroupAsync(b, longer.Id());
        Assert.Single(recorder.For(a.Id, "group.dissolved"));
        Assert.Empty(recorder.For(b.Id, "group.dissolved"));

        time.Advance(TimeSpan.FromSeconds(540));
        Assert.Equal(1, await sweeper.SweepOnceAsync());
        // Ten minutes have passed on the clock: the access tokens have expired.
        owner = await RefreshedAsync(server, owner);
        b = await RefreshedAsync(server, b);
        await server.Get(b, $"/api/groups/{longer.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        var toB = Assert.Single(recorder.For(b.Id, "group.dissolved"));
        toB.AssertRecipients(owner, b);
        Assert.Equal(longer.Id(), toB.Str("groupId"));

        // The default TTL is a day.
        await server.GroupAsync(owner, byDefault.Id());
        time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(1, await sweeper.SweepOnceAsync());
        owner = await RefreshedAsync(server, owner);
        await server.Get(owner, $"/api/groups/{byDefault.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        Assert.Empty(await server.MineAsync(owner));
    }

    /// <summary>The user with a fresh token pair, for after the clock has moved past the access token's life.</summary>
    private static async Task<TestUser> RefreshedAsync(ParleyServer server, TestUser user)
    {
        var tokens = (await server.Refresh(user.RefreshToken).Expect(HttpStatusCode.OK))["tokens"]!;
        return user with { AccessToken = (string)tokens["accessToken"]!, RefreshToken = (string)tokens["refreshToken"]! };
    }
}
