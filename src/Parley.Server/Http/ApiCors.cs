using Parley.Server.Realtime;

namespace Parley.Server.Http;

/// <summary>
/// Cross-origin access to the HTTP API for the browser origins in <c>Realtime:AllowedOrigins</c>, the list the
/// WebSocket's Origin check uses (<see cref="Gateway"/>), so a page on such an origin (the embedded
/// <c>&lt;parley-chat&gt;</c> widget, docs/web-client.md) can call the API with a Bearer token. Credentials
/// (cookies) are never allowed: Parley uses none. The app-server calls (<c>/api/admin</c>, <c>X-Api-Key</c>) are
/// not offered to browsers at all: their key belongs on the app server. Any other origin gets no CORS headers,
/// so its browser withholds the answers; same-origin requests need none and are unaffected.
/// </summary>
internal static class ApiCors
{
    private const string Policy = "api";

    public static void Add(IServiceCollection services, IConfiguration config)
    {
        var origins = config.GetSection(RealtimeOptions.Section).Get<RealtimeOptions>()?.AllowedOrigins ?? [];
        services.AddCors(o => o.AddPolicy(Policy, policy => policy
            .WithOrigins(origins)
            .WithMethods("GET", "POST", "PUT", "PATCH", "DELETE")
            .WithHeaders("Authorization", "Content-Type", "Range")
            .WithExposedHeaders("Content-Disposition", "Content-Range", "Accept-Ranges", "ETag", "Retry-After")
            .SetPreflightMaxAge(TimeSpan.FromMinutes(10))));
    }

    /// <summary>Before authentication: a preflight carries no token and is answered here (204).</summary>
    public static void Use(WebApplication app) => app.UseWhen(CrossOrigin, static branch => branch.UseCors(Policy));

    /// <summary>
    /// A browser's request from another origin to the API outside /api/admin. Requests without an Origin (apps,
    /// servers) and the web client's own same-origin calls skip the CORS middleware altogether.
    /// </summary>
    private static bool CrossOrigin(HttpContext context)
    {
        var request = context.Request;
        if (!request.Path.StartsWithSegments("/api") || request.Path.StartsWithSegments("/api/admin")
            || !request.Headers.TryGetValue("Origin", out var origin))
        {
            return false;
        }

        // With an empty list the Gateway's check is "this server itself".
        return !Gateway.OriginAllowed(origin.ToString(), request.Host.Value ?? "", request.Scheme, []);
    }
}
