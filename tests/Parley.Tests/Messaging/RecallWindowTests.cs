using System.Net;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

public sealed class RecallWindowTestsSqlite() : RecallWindowTests(Backend.Sqlite);

public sealed class RecallWindowTestsPostgres() : RecallWindowTests(Backend.Postgres);

public abstract class RecallWindowTests(Backend backend) : OwnServerTests(backend)
{
    // These tests move the clock by days; the access tokens they use must outlive that.
    private const string LongTokens = "--Auth:AccessTokenMinutes=10000000";

    [Fact]
    public async Task The_sender_recalls_within_the_window_only()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time);
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        await server.SendTextAsync(a, conversationId, "oops");
        await server.SendTextAsync(a, conversationId, "too late");

        time.Advance(TimeSpan.FromSeconds(119));
        await server.Post(b, $"/api/conversations/{conversationId}/messages/1/recall").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        var recalled = await server.Post(a, $"/api/conversations/{conversationId}/messages/1/recall").Expect(HttpStatusCode.OK);
        Assert.True((bool)recalled["recalled"]!);

        time.Advance(TimeSpan.FromSeconds(2));
        await server.Post(a, $"/api/conversations/{conversationId}/messages/2/recall").ExpectProblem(HttpStatusCode.Forbidden, "recall_window_passed");
        Assert.Equal("too late", (string?)(await server.CatchUpAsync(b, conversationId))[1]["content"]!["text"]);
    }

    [Fact]
    public async Task Sends_over_the_rate_are_rate_limited()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Messaging:SendBurst=5", "--Messaging:SendRatePerSecond=0.01");
        var (a, _, conversationId) = await server.FriendsWithConversationAsync();
        for (var i = 0; i < 5; i++)
        {
            await server.SendTextAsync(a, conversationId, "m" + i);
        }

        await server.SendText(a, conversationId, "one too many").ExpectProblem(HttpStatusCode.TooManyRequests, "rate_limited");
        // a retry of a stored message is not a new send
        var first = (await server.CatchUpAsync(a, conversationId))[0];
        await server.SendText(a, conversationId, "m0", (string)first["clientMsgId"]!).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Retention_deletes_old_messages_and_never_reuses_their_seqs()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, "--Messaging:RetentionDays=2", LongTokens);
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        await server.SendTextAsync(a, conversationId, "old 1");
        await server.SendTextAsync(a, conversationId, "old 2");
        time.Advance(TimeSpan.FromDays(1));
        await server.SendTextAsync(b, conversationId, "newer");
        var sweeper = server.Service<Parley.Server.Messaging.RetentionSweeper>();
        Assert.Equal(0, await sweeper.SweepOnceAsync());

        time.Advance(TimeSpan.FromDays(1.5));
        Assert.Equal(2, await sweeper.SweepOnceAsync());
        Assert.Equal([3L], (await server.CatchUpAsync(b, conversationId)).Select(m => m.Seq()));
        Assert.Equal(4, (await server.SendTextAsync(a, conversationId, "next")).Seq());
    }

    [Fact]
    public async Task Without_a_retention_setting_messages_are_kept_forever()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, LongTokens);
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        await server.SendTextAsync(a, conversationId, "keep me");
        time.Advance(TimeSpan.FromDays(3650));
        Assert.Equal(0, await server.Service<Parley.Server.Messaging.RetentionSweeper>().SweepOnceAsync());
        Assert.Single(await server.CatchUpAsync(b, conversationId));
    }
}
