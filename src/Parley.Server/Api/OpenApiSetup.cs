using Microsoft.OpenApi;
using Parley.Server.Accounts;
using Parley.Server.Admin;

namespace Parley.Server.Api;

/// <summary>
/// The OpenAPI document at /openapi/v1.json (docs/api.md): generated from the endpoints and their metadata, then
/// shaped by small transformers so it lints clean and generates usable clients.
/// </summary>
public static class OpenApiSetup
{
    private static readonly (string Name, string Description)[] Tags =
    [
        ("Accounts", "Registration, login, token refresh, logout and password reset."),
        ("Users", "The caller's profile, password and email; other users' public profiles and search."),
        ("Friends", "Friend requests, friends (with remarks) and blocks."),
        ("Groups", "Groups, their members and roles, join requests and invite codes."),
        ("Conversations", "Direct and group conversations: history, sending, read state, recall, receipts, reports."),
        ("Messages", "Helpers for composing messages (link previews)."),
        ("Search", "Full-text search over the messages the caller can see."),
        ("Files", "Uploads (multipart), downloads with Range requests, and thumbnails."),
        ("Push", "Offline notification targets of the calling device session."),
        ("Calls", "ICE servers (STUN, TURN credentials) for one-to-one calls; the signaling itself is on the WebSocket (docs/protocol.md)."),
        ("Admin", "The app-server API (X-Api-Key): import users, issue tokens, send as a user, stats, reports, failed webhooks."),
    ];

    private const string Description = """
        Parley's HTTP API (the contract v1.1). JSON, camelCase; ids are strings; times are Unix epoch milliseconds.

        **Authentication.** Calls carry `Authorization: Bearer <accessToken>` (from register, login or refresh) unless
        marked otherwise; the app-server calls under `/api/admin` carry `X-Api-Key` instead.

        **Errors** are RFC 7807 `application/problem+json` with a `code` member from a closed set (the `Problem`
        schema); `errors` (per-field messages) comes with `invalid`, `traceId` only with server errors.

        **Lists** are `{items, nextCursor}`, paged by `limit` (default 50, max 200) and `cursor`.

        **Real time.** Live delivery, typing, presence, receipts and catch-up run over the WebSocket at `GET /ws`
        (`?access_token=` or a Bearer header): its frames, close codes, heartbeat and resync are described in
        docs/protocol.md of the Parley repository. docs/api.md says how to lint this document and generate a client.
        """;

    public static IServiceCollection AddParleyOpenApi(this IServiceCollection services)
    {
        services.AddOpenApi(o =>
        {
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "Parley";
                document.Info.Version = "v1";
                document.Info.Description = Description;
                foreach (var server in document.Servers ?? [])
                {
                    server.Url = server.Url?.TrimEnd('/') is { Length: > 0 } url ? url : "/";
                }

                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[BearerAuthenticationHandler.SchemeName] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    BearerFormat = "JWT",
                    Description = "The `accessToken` of register, login, refresh or an admin token call (10 minutes).",
                };
                document.Security ??= [];
                document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerAuthenticationHandler.SchemeName, document)] = [] });

                var used = (document.Paths ?? []).Values
                    .SelectMany(p => p.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>())
                    .SelectMany(op => op.Tags ?? new HashSet<OpenApiTagReference>())
                    .Select(t => t.Name)
                    .ToHashSet();
                document.Tags = new HashSet<OpenApiTag>(Tags.Where(t => used.Contains(t.Name)).Select(t => new OpenApiTag { Name = t.Name, Description = t.Description }));
                OpenApiSchemas.Apply(document);
                return Task.CompletedTask;
            });
            o.AddOperationTransformer(OpenApiOperations.TransformAsync);
        });

        // The admin calls' own scheme (X-Api-Key) on the same document.
        services.Configure<Microsoft.AspNetCore.OpenApi.OpenApiOptions>("v1", o => o.AddAdminKeyScheme());
        return services;
    }
}
