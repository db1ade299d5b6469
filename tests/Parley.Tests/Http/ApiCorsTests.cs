using System.Net;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Http;

/// <summary>
/// CORS for the HTTP API follows Realtime:AllowedOrigins (the WebSocket's list): an allowed origin gets the headers and
/// its preflights are answered; any other origin gets none; same-origin and non-browser calls are unaffected; the
/// app-server calls are never offered to browsers; the SDK's static files are readable by any origin.
/// </summary>
public sealed class ApiCorsTests : IAsyncLifetime
{
    private const string Allowed = "https://shop.example";
    private TestStore _store = null!;
    private ParleyServer _server = null!;

    public async ValueTask InitializeAsync()
    {
        _store = await TestStore.CreateAsync(Backend.Sqlite);
        _server = await ParleyServer.StartAsync(_store, null, $"--Realtime:AllowedOrigins:0={Allowed}", "--Admin:ApiKeys:0=cors-test-key-0123456789abcdef0123456789");
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await _store.DisposeAsync();
    }

    private Task<HttpResponseMessage> Preflight(string path, string origin, string method = "POST", string headers = "authorization,content-type")
    {
        var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        request.Headers.Add("Access-Control-Request-Headers", headers);
        return _server.Http.SendAsync(request);
    }

    private Task<HttpResponseMessage> Get(string path, string? origin, string? token = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        if (token is not null)
        {
            request.Headers.Authorization = new("Bearer", token);
        }

        return _server.Http.SendAsync(request);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    [Fact]
    public async Task An_allowed_origin_gets_preflights_answered_and_the_headers_on_answers_errors_included()
    {
        var user = await _server.RegisterAsync();
        using var preflight = await Preflight("/api/conversations/123/messages", Allowed);
        Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
        Assert.Equal(Allowed, Header(preflight, "Access-Control-Allow-Origin"));
        Assert.Contains("POST", Header(preflight, "Access-Control-Allow-Methods"), StringComparison.Ordinal);
        Assert.Contains("authorization", Header(preflight, "Access-Control-Allow-Headers")!, StringComparison.OrdinalIgnoreCase);
        Assert.Null(Header(preflight, "Access-Control-Allow-Credentials")); // bearer tokens, never cookies

        using var me = await Get("/api/users/me", Allowed, user.AccessToken);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(Allowed, Header(me, "Access-Control-Allow-Origin"));
        Assert.Null(Header(me, "Access-Control-Allow-Credentials"));

        // A refusal is readable too, so the page can say why (and refresh on token_expired).
        using var refused = await Get("/api/users/me", Allowed);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(Allowed, Header(refused, "Access-Control-Allow-Origin"));
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Another_origin_gets_no_cors_headers_and_its_preflight_no_permission()
    {
        var user = await _server.RegisterAsync();
        using var preflight = await Preflight("/api/users/me", "https://evil.example", "GET");
        Assert.Null(Header(preflight, "Access-Control-Allow-Origin"));
        Assert.Null(Header(preflight, "Access-Control-Allow-Methods"));
        Assert.Null(Header(preflight, "Access-Control-Allow-Headers"));

        using var me = await Get("/api/users/me", "https://evil.example", user.AccessToken);
        Assert.Null(Header(me, "Access-Control-Allow-Origin"));
        // A look-alike of the allowed origin is another origin.
        using var lookAlike = await Get("/api/users/me", "https://shop.example.evil.example", user.AccessToken);
        Assert.Null(Header(lookAlike, "Access-Control-Allow-Origin"));
        using var otherScheme = await Get("/api/users/me", "http://shop.example", user.AccessToken);
        Assert.Null(Header(otherScheme, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Same_origin_and_non_browser_calls_are_unaffected()
    {
        var user = await _server.RegisterAsync();
        using var plain = await Get("/api/users/me", null, user.AccessToken);
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.Null(Header(plain, "Access-Control-Allow-Origin"));
        using var same = await Get("/api/users/me", _server.BaseUri.GetLeftPart(UriPartial.Authority), user.AccessToken);
        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        Assert.Equal("no-store", Header(same, "Cache-Control"));
        Assert.Null(Header(same, "Access-Control-Allow-Origin")); // needs none: the CORS middleware is skipped
    }

    [Fact]
    public async Task The_app_server_api_is_never_offered_to_browsers()
    {
        using var preflight = await Preflight("/api/admin/stats", Allowed, "GET", "x-api-key");
        Assert.Null(Header(preflight, "Access-Control-Allow-Origin"));
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/admin/stats");
        request.Headers.Add("Origin", Allowed);
        request.Headers.Add("X-Api-Key", "cors-test-key-0123456789abcdef0123456789");
        using var stats = await _server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, stats.StatusCode); // the key works from a server; a browser just cannot read it
        Assert.Null(Header(stats, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task The_sdk_is_served_as_javascript_readable_from_any_origin()
    {
        using var widget = await Get("/sdk/widget.js", "https://anyone.example");
        Assert.Equal(HttpStatusCode.OK, widget.StatusCode);
        Assert.Equal("text/javascript", widget.Content.Headers.ContentType?.MediaType);
        Assert.Equal("*", Header(widget, "Access-Control-Allow-Origin"));
        Assert.Null(Header(widget, "Access-Control-Allow-Credentials"));
        Assert.Equal("nosniff", Header(widget, "X-Content-Type-Options"));
        using var types = await Get("/sdk/types/index.d.ts", null);
        Assert.Equal(HttpStatusCode.OK, types.StatusCode);
        Assert.Equal("text/plain", types.Content.Headers.ContentType?.MediaType);
        // The client's own pages are not cross-origin readable.
        using var app = await Get("/app.js", "https://anyone.example");
        Assert.Null(Header(app, "Access-Control-Allow-Origin"));
    }
}
