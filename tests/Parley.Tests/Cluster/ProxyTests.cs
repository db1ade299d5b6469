using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// <c>Cluster:TrustedProxies</c>, observed through a per-address limit (<c>Auth:RegistrationsPerAddress</c>) over real
/// HTTP from 127.0.0.1: a trusted peer's <c>X-Forwarded-For</c> names the client that is counted; an untrusted
/// peer's is ignored, so every sign-up counts against the peer itself. Needs no Redis: the setting works on one node.
/// </summary>
public sealed class ProxyTests
{
    private const int Limit = 2;

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.0/8")]
    public async Task A_trusted_proxy_names_the_client_that_is_counted(string trusted)
    {
        await using var store = await TestStore.CreateAsync(Backend.Sqlite);
        await using var server = await StartAsync(store, trusted);

        for (var i = 0; i < Limit; i++)
        {
            await RegisterFrom(server, "203.0.113.1").Expect(HttpStatusCode.Created);
        }

        await RegisterFrom(server, "203.0.113.1").ExpectRateLimited();
        // Another client behind the same proxy has its own allowance...
        await RegisterFrom(server, "203.0.113.2").Expect(HttpStatusCode.Created);
        // ...and what a client writes in the header itself (the left part; the proxy appends the peer it saw) names nobody.
        await RegisterFrom(server, "198.51.100.9, 203.0.113.1").ExpectRateLimited();
        await RegisterFrom(server, "203.0.113.2, 203.0.113.1").ExpectRateLimited();
    }

    [Fact]
    public async Task An_untrusted_peers_forwarded_header_is_ignored()
    {
        await using var store = await TestStore.CreateAsync(Backend.Sqlite);
        await using var server = await StartAsync(store, "10.9.9.9"); // some proxy, not this peer

        await RegisterFrom(server, "203.0.113.1").Expect(HttpStatusCode.Created);
        await RegisterFrom(server, "203.0.113.2").Expect(HttpStatusCode.Created);
        // Every "client" was 127.0.0.1: the third sign-up is over its limit, whatever the header says.
        await RegisterFrom(server, "203.0.113.3").ExpectRateLimited();
    }

    [Fact]
    public async Task Without_the_setting_the_header_is_ignored()
    {
        await using var store = await TestStore.CreateAsync(Backend.Sqlite);
        await using var server = await StartAsync(store, null);

        await RegisterFrom(server, "203.0.113.1").Expect(HttpStatusCode.Created);
        await RegisterFrom(server, "203.0.113.2").Expect(HttpStatusCode.Created);
        await RegisterFrom(server, "203.0.113.3").ExpectRateLimited();
    }

    [Fact]
    public async Task A_bad_entry_fails_the_start_naming_the_setting()
    {
        await using var store = await TestStore.CreateAsync(Backend.Sqlite);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync(store, "10.0.0.0/99"));
        Assert.Contains("Cluster:TrustedProxies", e.Message);
    }

    private static Task<ParleyServer> StartAsync(TestStore store, string? trusted) =>
        ParleyServer.StartAsync(
            store,
            null,
            [$"--Auth:RegistrationsPerAddress={Limit}", .. trusted is null ? Array.Empty<string>() : [$"--Cluster:TrustedProxies:0={trusted}"]]);

    private static Task<HttpResponseMessage> RegisterFrom(ParleyServer server, string forwardedFor)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth/register")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new JsonObject { ["username"] = Api.NewUsername("px"), ["password"] = "correct horse battery" }),
        };
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", forwardedFor);
        return server.Http.SendAsync(request);
    }
}
