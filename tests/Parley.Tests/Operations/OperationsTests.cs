using System.Net;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

public sealed class OperationsTestsSqlite(SqliteFixture fixture) : OperationsTests(fixture), IClassFixture<SqliteFixture>;

public sealed class OperationsTestsPostgres(PostgresFixture fixture) : OperationsTests(fixture), IClassFixture<PostgresFixture>;

public abstract class OperationsTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task Health_endpoints_answer()
    {
        using var live = await Server.Http.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using var ready = await Server.Http.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Healthy", await ready.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task OpenApi_document_describes_the_accounts_calls()
    {
        var doc = await Server.Send(HttpMethod.Get, "/openapi/v1.json").Expect(HttpStatusCode.OK);
        var paths = doc["paths"]!.AsObject().Select(p => p.Key).ToList();
        foreach (var path in new[] { "/api/auth/register", "/api/auth/login", "/api/auth/refresh", "/api/auth/logout", "/api/users/me", "/api/users/me/password", "/api/users/search", "/api/users/{id}" })
        {
            Assert.Contains(path, paths);
        }

        Assert.NotNull(doc["components"]?["securitySchemes"]?["Bearer"]);
        Assert.NotNull(doc["paths"]!["/api/auth/register"]!["post"]!["requestBody"]);
    }

    [Fact]
    public async Task Interactive_docs_are_served()
    {
        using var response = await Server.Http.GetAsync("/api/docs/index.html");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("swagger", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.False(response.Headers.Contains("x-swagger-ui-version"));
        using var script = await Server.Http.GetAsync("/api/docs/index.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.False(script.Headers.Contains("x-swagger-ui-version"));
    }

    [Fact]
    public async Task Metrics_expose_http_request_counts_and_durations()
    {
        (await Server.Http.GetAsync("/health/live")).Dispose();
        // ASP.NET Core records a request's duration just after the response is sent, so the sample can land
        // a moment after the client has its answer: scrape until it shows (bounded).
        string text = "";
        await Poll.UntilAsync(
            async () =>
            {
                using var response = await Server.Http.GetAsync("/metrics");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
                text = await response.Content.ReadAsStringAsync();
                return text.Contains("http_route=\"/health/live\"", StringComparison.Ordinal);
            },
            "the request's duration in /metrics");

        Assert.Contains("# TYPE http_server_request_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("http_server_request_duration_seconds_count{", text, StringComparison.Ordinal);
        Assert.Contains("http_route=\"/health/live\"", text, StringComparison.Ordinal);

        // The runtime's own meter: the load tool reads allocations and collections from it.
        Assert.Contains("dotnet_gc_heap_total_allocated_bytes_total ", text, StringComparison.Ordinal);
        Assert.Contains("dotnet_gc_collections_total{", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Responses_carry_nosniff_and_no_server_header()
    {
        using var response = await Server.Http.GetAsync("/health/live");
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.False(response.Headers.Contains("Server"));
    }
}
