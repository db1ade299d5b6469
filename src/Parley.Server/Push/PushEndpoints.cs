using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Api;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Push;

namespace Parley.Server.Push;

public sealed record PushTargetBody(string? Kind, string? Endpoint);

public sealed record PushTargetDto(string Id, string Kind, string Endpoint);

[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    NumberHandling = JsonNumberHandling.Strict,
    AllowDuplicateProperties = false,
    Converters = [typeof(NulFreeStringConverter)])]
[JsonSerializable(typeof(PushTargetBody))]
[JsonSerializable(typeof(PushTargetDto))]
[JsonSerializable(typeof(ListResponse<PushTargetDto>))]
public sealed partial class PushJson : JsonSerializerContext;

/// <summary>
/// Offline notifications' calls (<c>/api/users/me/push-targets</c>) and wiring (docs/push.md). With Push:Enabled false
/// nothing is registered or mapped (404). With it on and no target registered, the message path pays one flag read.
/// </summary>
public static class PushEndpoints
{
    public const string KindWebhook = "webhook";

    /// <summary>Whether Push:Enabled is on (read before the rest is registered: the outbox's sender runs for pushes too).</summary>
    public static bool Enabled(IConfiguration configuration) =>
        (configuration.GetSection(PushOptions.Section).Get<PushOptions>() ?? new PushOptions()).Enabled;

    /// <summary>Registers the feature; call it after the local fan-out's sink, so the route hands a message to the sockets first.</summary>
    public static PushOptions AddPush(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(PushOptions.Section).Get<PushOptions>() ?? new PushOptions();
        options.Validate();
        services.Configure<PushOptions>(configuration.GetSection(PushOptions.Section));
        if (!options.Enabled)
        {
            return options;
        }

        services.AddSingleton<PushStore>();
        services.AddSingleton<PushTargets>();
        services.AddSingleton<PushMetrics>();
        services.AddSingleton<PushClient>();
        services.AddSingleton<PushDelivery>();
        services.AddSingleton<PushDispatcher>();
        services.AddSingleton<IPostCommitSink>(sp => sp.GetRequiredService<PushDispatcher>());
        services.AddHostedService(sp => sp.GetRequiredService<PushDispatcher>());
        services.AddSingleton<PushRefresher>();
        services.AddHostedService(sp => sp.GetRequiredService<PushRefresher>());
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(PushJson.Default));
        return options;
    }

    public static void MapPush(this IEndpointRouteBuilder app)
    {
        if (!app.ServiceProvider.GetRequiredService<IOptions<PushOptions>>().Value.Enabled)
        {
            return;
        }

        var targets = app.MapGroup("/api/users/me/push-targets").WithTags("Push").RequireAuthorization();
        targets.MapPost("/", AddAsync)
            .WithName("addPushTarget").WithSummary("Register an offline-notification endpoint for this device session")
            .Accepts<PushTargetBody>("application/json")
            .Returns<PushTargetDto>(201, "The new target; it goes with the calling device session.")
            .Returns<PushTargetDto>(200, "This session already had that endpoint: the existing target.")
            .ProducesErrors(400, 401, 409, 415);
        targets.MapGet("/", ListAsync)
            .WithName("listPushTargets").WithSummary("List this device session's push targets")
            .Paged()
            .Returns<ListResponse<PushTargetDto>>(200, "A page of the session's targets.")
            .ProducesErrors(400, 401);
        targets.MapDelete("/{id}", DeleteAsync)
            .WithName("deletePushTarget").WithSummary("Remove a push target")
            .Returns(204, "The target is removed.")
            .ProducesErrors(401, 404);
    }

    private static async Task<IResult> AddAsync(HttpContext context, PushStore store, PushTargets targets, IdGenerator ids, IOptions<PushOptions> options, TimeProvider time)
    {
        var body = await context.Request.ReadJsonAsync(PushJson.Default.PushTargetBody);
        var v = new Validation();
        if (body.Kind != KindWebhook)
        {
            v.Add("kind", "must be \"webhook\"");
        }

        if (CheckEndpoint(body.Endpoint, options.Value) is { } problem)
        {
            v.Add("endpoint", problem);
        }

        v.ThrowIfInvalid();
        var caller = context.Caller();
        var (outcome, row) = await store.AddAsync(ids.Next(), caller.UserId, caller.SessionId, KindWebhook, body.Endpoint!, time.GetUtcNow().ToUnixTimeMilliseconds(), options.Value.MaxTargetsPerUser, context.RequestAborted);
        if (outcome == PushTargetOutcome.TooMany)
        {
            throw new ApiException(409, ErrorCodes.Conflict, $"You have {options.Value.MaxTargetsPerUser} push targets; delete one first.");
        }

        targets.Add(caller.UserId);
        return Results.Json(ToDto(row!), PushJson.Default.PushTargetDto, statusCode: outcome == PushTargetOutcome.Created ? 201 : 200);
    }

    private static async Task<IResult> ListAsync(HttpContext context, PushStore store)
    {
        var (limit, cursor) = context.Request.ReadPaging();
        var rows = await store.ListAsync(context.Caller().UserId, Paging.Id(cursor), limit + 1, context.RequestAborted);
        return Results.Json(Paging.Page(rows, limit, ToDto, r => Ids.Format(r.Id)), PushJson.Default.ListResponsePushTargetDto);
    }

    private static async Task<IResult> DeleteAsync(string id, HttpContext context, PushStore store)
    {
        if (!Ids.TryParse(id, out var targetId) || !await store.DeleteAsync(context.Caller().UserId, targetId, context.RequestAborted))
        {
            throw ApiException.NotFound("Push target");
        }

        return Results.NoContent();
    }

    private static PushTargetDto ToDto(PushTargetRow row) => new(Ids.Format(row.Id), row.Kind, row.Endpoint);

    /// <summary>
    /// Null when <paramref name="endpoint"/> may be registered, else why not: an absolute https URL (http only for a
    /// host in Push:AllowedInsecureHosts) with a host, no user name or password, no fragment, at most
    /// Push:MaxEndpointLength characters; an address literal must be public unless the host is allowed. (A name is
    /// checked when a push connects: what it resolves to then decides.)
    /// </summary>
    public static string? CheckEndpoint(string? endpoint, PushOptions options)
    {
        if (string.IsNullOrEmpty(endpoint))
        {
            return "is required";
        }

        if (endpoint.Length > options.MaxEndpointLength)
        {
            return $"must be at most {options.MaxEndpointLength} characters";
        }

        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp) || string.IsNullOrEmpty(uri.Host))
        {
            return "must be an absolute https:// URL";
        }

        var allowed = options.IsAllowedInsecure(uri.IdnHost) || options.IsAllowedInsecure(uri.Host);
        if (uri.Scheme == Uri.UriSchemeHttp && !allowed)
        {
            return "must be https:// (http:// only for a host in Push:AllowedInsecureHosts)";
        }

        if (uri.UserInfo.Length > 0 || uri.Fragment.Length > 0 || endpoint.Any(char.IsWhiteSpace))
        {
            return "must have no user name, password, fragment or spaces";
        }

        if (!allowed && IPAddress.TryParse(uri.DnsSafeHost, out var literal) && !LinkPreviews.AddressRules.IsPublic(literal)
            && !(options.TestLoopbackPort != 0 && uri.Port == options.TestLoopbackPort && IPAddress.IsLoopback(literal)))
        {
            return "must not name a private, loopback, link-local or reserved address";
        }

        return null;
    }
}
