using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// Per-user and per-address limits hold across nodes (kept in Redis): what two nodes allow together is what one
/// node allows, whichever node each request reaches.
/// </summary>
public sealed class LimitsTests : IAsyncLifetime
{
    public ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Theory]
    [InlineData(1)] // every token taken from Redis one at a time: exact
    [InlineData(5)] // the default lease: leftovers stranded on a node only make it stricter
    public async Task The_send_rate_is_per_user_across_nodes(int leaseTokens)
    {
        const int burst = 6;
        await using var cluster = await EdgeNodes.CreateAsync();
        // A token every 1000 s: nothing refills while the test runs.
        string[] limits = ["--Messaging:SendRatePerSecond=0.001", $"--Messaging:SendBurst={burst}", $"--Cluster:RateLeaseTokens={leaseTokens}"];
        var a = await cluster.StartAsync(1, limits);
        var b = await cluster.StartAsync(2, limits);
        var owner = await a.RegisterAsync();
        var group = await a.CreateGroupAsync(owner);
        var conversationId = (string)group["conversationId"]!;

        var accepted = 0;
        var refused = 0;
        for (var i = 0; i < 4 * burst; i++)
        {
            using var response = await (i % 2 == 0 ? a : b).SendText(owner, conversationId, $"m{i}");
            if (response.StatusCode == HttpStatusCode.Created)
            {
                accepted++;
            }
            else
            {
                await Task.FromResult(response).ExpectRateLimited();
                refused++;
            }
        }

        // Each node alone would have let `burst` through: 2 * burst in all.
        if (leaseTokens == 1)
        {
            Assert.Equal(burst, accepted);
        }
        else
        {
            Assert.InRange(accepted, 1, burst);
        }

        Assert.Equal((4 * burst) - accepted, refused);
        // What was accepted is stored, and only that.
        Assert.Equal(accepted, (await b.CatchUpAsync(owner, conversationId)).Count(m => (string?)m["type"] == "text"));
    }

    [Fact]
    public async Task Login_failures_are_counted_across_nodes()
    {
        const int limit = 4;
        await using var cluster = await EdgeNodes.CreateAsync();
        string[] limits = [$"--Auth:LoginFailuresPerUsernameAndAddress={limit}", "--Auth:LoginFailuresPerUsername=1000", "--Auth:LoginFailuresPerAddress=1000"];
        var a = await cluster.StartAsync(1, limits);
        var b = await cluster.StartAsync(2, limits);
        var user = await a.RegisterAsync();

        for (var i = 0; i < limit; i++)
        {
            await WrongPassword(i % 2 == 0 ? a : b, user).ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        }

        // Each node has seen only limit / 2 failures; together they are at the limit.
        await WrongPassword(a, user).ExpectRateLimited();
        await WrongPassword(b, user).ExpectRateLimited();
        // Even the right password waits now (the pair's window is full), on either node.
        await b.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = user.Password }).ExpectRateLimited();
    }

    [Fact]
    public async Task Registrations_per_address_are_counted_across_nodes()
    {
        const int limit = 3;
        await using var cluster = await EdgeNodes.CreateAsync();
        string[] limits = [$"--Auth:RegistrationsPerAddress={limit}"];
        var a = await cluster.StartAsync(1, limits);
        var b = await cluster.StartAsync(2, limits);

        for (var i = 0; i < limit; i++)
        {
            await (i % 2 == 0 ? a : b).RegisterAsync();
        }

        await Register(a).ExpectRateLimited();
        await Register(b).ExpectRateLimited();
    }

    [Fact]
    public async Task Hourly_quotas_are_per_user_across_nodes()
    {
        const int limit = 3;
        await using var cluster = await EdgeNodes.CreateAsync();
        string[] limits = [$"--Groups:CreationsPerHour={limit}"];
        var a = await cluster.StartAsync(1, limits);
        var b = await cluster.StartAsync(2, limits);
        var owner = await a.RegisterAsync();

        for (var i = 0; i < limit; i++)
        {
            await (i % 2 == 0 ? a : b).CreateGroupAsync(owner);
        }

        await a.Post(owner, "/api/groups", new JsonObject { ["name"] = "one too many" }).ExpectRateLimited();
        await b.Post(owner, "/api/groups", new JsonObject { ["name"] = "one too many" }).ExpectRateLimited();
    }

    private static Task<HttpResponseMessage> WrongPassword(ApiHost node, TestUser user) =>
        node.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = "not " + user.Password });

    private static Task<HttpResponseMessage> Register(ApiHost node) =>
        node.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject { ["username"] = Api.NewUsername(), ["password"] = "correct horse battery" });
}
