using System.Net;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

public sealed class WebClientTests(SqliteFixture fixture) : BackendTests(fixture), IClassFixture<SqliteFixture>
{
    [Fact]
    public async Task Root_serves_the_web_client_with_a_strict_content_security_policy()
    {
        using var response = await Server.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<script type=\"module\" src=\"/app.js\">", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);

        using var module = await Server.Http.GetAsync("/app.js");
        Assert.Equal(HttpStatusCode.OK, module.StatusCode);
        Assert.Equal("text/javascript", module.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Api_paths_are_not_served_as_static_files()
    {
        using var response = await Server.Http.GetAsync("/api/index.html");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.False(response.Headers.Contains("Content-Security-Policy"));
    }
}
