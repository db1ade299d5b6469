using System.Net;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

public sealed class MetricsAccessTestsSqlite() : MetricsAccessTests(Backend.Sqlite);

public sealed class MetricsAccessTestsPostgres() : MetricsAccessTests(Backend.Postgres);

/// <summary>GET /metrics answers loopback and the configured networks only, also behind a proxy.</summary>
public abstract class MetricsAccessTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Loopback_reads_metrics_and_a_forwarded_stranger_gets_404()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store);

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(server, null));
        // A proxy on this host forwarding a client from elsewhere, or a client naming itself loopback through a
        // proxy from elsewhere: neither is let through.
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(server, "203.0.113.7"));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(server, "127.0.0.1, 203.0.113.7"));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(server, "not-an-address"));
        using var forwarded = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        forwarded.Headers.Add("Forwarded", "for=203.0.113.7");
        using var response = await server.Http.SendAsync(forwarded, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("parley_", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_configured_network_reads_metrics_and_others_still_do_not()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, (TimeProvider?)null, "--Telemetry:MetricsAllowedNetworks:0=10.0.0.0/8", "--Telemetry:MetricsAllowedNetworks:1=2001:db8::/32");

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(server, "10.1.2.3"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(server, "2001:db8::5, 10.9.9.9"));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(server, "10.1.2.3, 192.0.2.1"));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(server, "11.0.0.1"));
    }

    [Fact]
    public async Task A_malformed_network_stops_startup_naming_the_setting()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => ParleyServer.StartAsync(store, (TimeProvider?)null, "--Telemetry:MetricsAllowedNetworks:0=10.0.0.0/99"));
        Assert.Contains("Telemetry:MetricsAllowedNetworks", e.ToString(), StringComparison.Ordinal);
    }

    private static async Task<HttpStatusCode> StatusAsync(ParleyServer server, string? forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        using var response = await server.Http.SendAsync(request, TestContext.Current.CancellationToken);
        return response.StatusCode;
    }
}
