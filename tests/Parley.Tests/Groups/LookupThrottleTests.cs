using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Groups;

public sealed class LookupThrottleTestsSqlite() : LookupThrottleTests(Backend.Sqlite);

public sealed class LookupThrottleTestsPostgres() : LookupThrottleTests(Backend.Postgres);

/// <summary>Servers of their own: a moved clock for invite codes' expiry, and a small budget of lookup misses.</summary>
public abstract class LookupThrottleTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Lookups_that_find_nothing_are_throttled_per_user_and_then_tell_nothing()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        // Five misses, and (practically) none coming back during the test.
        await using var server = await ParleyServer.StartAsync(store, null, "--Groups:LookupMissBurst=5", "--Groups:LookupMissesPerMinute=0.001");
        var owner = await server.RegisterAsync();
        var prober = await server.RegisterAsync();
        var hidden = await server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private" });
        var code = (string)(await server.Post(owner, $"/api/groups/{hidden.Id()}/invite-codes", new JsonObject()).Expect(HttpStatusCode.Created))["code"]!;
        var own = await server.CreateGroupAsync(prober);

        // Misses of every kind count: a group id, a conversation id, a wrong invite code.
        await server.Get(prober, "/api/groups/123456789").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Get(prober, $"/api/groups/{hidden.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Get(prober, "/api/conversations/123456789").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Get(prober, $"/api/conversations/{hidden["conversationId"]}/messages?after=0").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Post(prober, "/api/groups/join-by-code", new JsonObject { ["code"] = new string('A', code.Length) }).ExpectProblem(HttpStatusCode.NotFound, "not_found");

        // Now a missing id, a private one and a valid code all answer the same 429, with Retry-After.
        foreach (var call in new Func<Task<HttpResponseMessage>>[]
        {
            () => server.Get(prober, "/api/groups/123456790"),
            () => server.Get(prober, $"/api/groups/{hidden.Id()}"),
            () => server.Post(prober, $"/api/groups/{hidden.Id()}/join", new JsonObject()),
            () => server.Get(prober, $"/api/conversations/{hidden["conversationId"]}"),
            () => server.SendText(prober, (string)hidden["conversationId"]!, "hello?"),
            () => server.Post(prober, "/api/groups/join-by-code", new JsonObject { ["code"] = code }),
        })
        {
            using var response = await call();
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.TooManyRequests, $"expected 429 but got {(int)response.StatusCode}: {text}");
            Assert.Equal("rate_limited", (string?)JsonNode.Parse(text)!["code"]);
            Assert.True(response.Headers.RetryAfter?.Delta is { TotalSeconds: >= 1 }, "no Retry-After");
        }

        Assert.Equal([own.Id()], await server.MineAsync(prober));
        // What the prober is entitled to still answers: its own group and conversation.
        await server.GroupAsync(prober, own.Id());
        await server.ConversationAsync(prober, (string)own["conversationId"]!);
        // Other users have budgets of their own.
        var other = await server.RegisterAsync();
        await server.Get(other, "/api/groups/123456790").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Post(other, "/api/groups/join-by-code", new JsonObject { ["code"] = code }).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task An_invite_code_expires()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, "--Auth:AccessTokenMinutes=10000000");
        var owner = await server.RegisterAsync();
        var early = await server.RegisterAsync();
        var late = await server.RegisterAsync();
        var groupId = (await server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private" })).Id();
        var invitation = await server.Post(owner, $"/api/groups/{groupId}/invite-codes", new JsonObject { ["expiresInSeconds"] = 60 }).Expect(HttpStatusCode.Created);
        Assert.Equal(time.GetUtcNow().ToUnixTimeMilliseconds() + 60_000, (long)invitation["expiresAt"]!);
        var code = (string)invitation["code"]!;

        time.Advance(TimeSpan.FromSeconds(59));
        await server.Post(early, "/api/groups/join-by-code", new JsonObject { ["code"] = code }).Expect(HttpStatusCode.OK);
        time.Advance(TimeSpan.FromSeconds(1));
        await server.Post(late, "/api/groups/join-by-code", new JsonObject { ["code"] = code }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        Assert.Equal(2, (await server.MembersAsync(owner, groupId)).Count);
    }

    [Fact]
    public async Task A_group_holds_a_bounded_number_of_live_codes()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Groups:MaxInviteCodesPerGroup=3");
        var owner = await server.RegisterAsync();
        var guest = await server.RegisterAsync();
        var groupId = (await server.CreateGroupAsync(owner, new JsonObject { ["visibility"] = "private" })).Id();
        var codes = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            codes.Add((string)(await server.Post(owner, $"/api/groups/{groupId}/invite-codes", new JsonObject { ["maxUses"] = 1 }).Expect(HttpStatusCode.Created))["code"]!);
        }

        await server.Post(owner, $"/api/groups/{groupId}/invite-codes", new JsonObject()).ExpectProblem(HttpStatusCode.Conflict, "conflict");
        // A used-up code no longer counts, nor does a revoked one.
        await server.Post(guest, "/api/groups/join-by-code", new JsonObject { ["code"] = codes[0] }).Expect(HttpStatusCode.OK);
        await server.Post(owner, $"/api/groups/{groupId}/invite-codes", new JsonObject()).Expect(HttpStatusCode.Created);
        await server.Post(owner, $"/api/groups/{groupId}/invite-codes", new JsonObject()).ExpectProblem(HttpStatusCode.Conflict, "conflict");
        await server.Delete(owner, $"/api/groups/{groupId}/invite-codes/{codes[1]}").Expect(HttpStatusCode.NoContent);
        await server.Post(owner, $"/api/groups/{groupId}/invite-codes", new JsonObject()).Expect(HttpStatusCode.Created);
    }
}
