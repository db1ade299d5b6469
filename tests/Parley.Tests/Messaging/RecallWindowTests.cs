using System.Net;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

public sealed class RecallWindowTestsSqlite() : RecallWindowTests(Backend.Sqlite);

public sealed class RecallWindowTestsPostgres() : RecallWindowTests(Backend.Postgres);

public abstract class RecallWindowTests(Backend backend) : OwnServerTests(backend)
{
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
}
