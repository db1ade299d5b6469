using Microsoft.AspNetCore.StaticFiles;

namespace Parley.Server.WebClient;

/// <summary>
/// Serves the browser client (wwwroot: plain ES modules, no build step) at <c>/</c>. It talks only to the
/// public HTTP API and <c>/ws</c>, like any other client. Every static answer carries a strict
/// Content-Security-Policy: only this origin's scripts, styles and connections, images also from blob: URLs
/// (thumbnails are fetched with the Bearer header and shown as object URLs), audio and video from blob: URLs the same way.
/// </summary>
internal static class WebClientHost
{
    public const string ContentSecurityPolicy =
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; " +
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

    /// <summary>The stock types, and the SDK's TypeScript declarations (<c>sdk/types/*.d.ts</c>) as text rather than as MPEG transport streams.</summary>
    private static readonly FileExtensionContentTypeProvider ContentTypes = new()
    {
        Mappings = { [".ts"] = "text/plain; charset=utf-8" },
    };

    public static void Use(WebApplication app)
    {
        // Only the client's own paths: /api, /ws, /health, /metrics and /openapi keep their own answers
        // (an unknown /api/... path stays a problem+json 404, not a static-file lookup).
        app.UseWhen(context => IsClientPath(context.Request.Path), branch =>
        {
            branch.UseDefaultFiles();
            branch.UseStaticFiles(new StaticFileOptions
            {
                ContentTypeProvider = ContentTypes,
                OnPrepareResponse = static context =>
                {
                    var headers = context.Context.Response.Headers;
                    if (context.Context.Request.Path.StartsWithSegments("/sdk"))
                    {
                        // The JS SDK and <parley-chat> are public code that pages on other origins load as modules
                        // (which browsers fetch in CORS mode): readable by any origin, without credentials. What
                        // the API answers such a page is up to Realtime:AllowedOrigins (ApiCors).
                        headers.AccessControlAllowOrigin = "*";
                    }

                    headers.ContentSecurityPolicy = ContentSecurityPolicy;
                    headers.XFrameOptions = "DENY";
                    headers["Referrer-Policy"] = "no-referrer";
                    // Small files, revalidated on every load so an upgraded server is picked up at once.
                    headers.CacheControl = "no-cache";
                },
            });
        });
    }

    /// <summary>
    /// The interactive API documentation (Swagger UI at /api/docs): the same policy as the client's pages, but for
    /// the style attributes and data: images Swagger UI's bundle uses; its scripts are files of this origin.
    /// </summary>
    public const string ApiDocsContentSecurityPolicy =
        "default-src 'self'; img-src 'self' data:; connect-src 'self'; style-src 'self' 'unsafe-inline'; " +
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

    /// <summary>Security headers for /api/docs, and no version header of the docs UI (it tells an attacker what to look up).</summary>
    public static void UseApiDocsHeaders(WebApplication app) =>
        app.UseWhen(context => context.Request.Path.StartsWithSegments("/api/docs"), branch => branch.Use((context, next) =>
        {
            context.Response.OnStarting(static state =>
            {
                var headers = ((HttpContext)state).Response.Headers;
                headers.Remove("x-swagger-ui-version");
                headers.ContentSecurityPolicy = ApiDocsContentSecurityPolicy;
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "no-referrer";
                return Task.CompletedTask;
            }, context);
            return next(context);
        }));

    private static bool IsClientPath(PathString path) =>
        !path.StartsWithSegments("/api") && !path.StartsWithSegments("/ws") && !path.StartsWithSegments("/health")
        && !path.StartsWithSegments("/metrics") && !path.StartsWithSegments("/openapi");
}
