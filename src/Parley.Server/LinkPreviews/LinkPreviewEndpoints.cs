using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Api;
using Parley.Server.Http;

namespace Parley.Server.LinkPreviews;

[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    NumberHandling = JsonNumberHandling.Strict,
    AllowDuplicateProperties = false,
    Converters = [typeof(NulFreeStringConverter)])]
[JsonSerializable(typeof(LinkPreviewRequest))]
[JsonSerializable(typeof(LinkPreviewDto))]
public sealed partial class LinkPreviewJson : JsonSerializerContext;

/// <summary>POST /api/link-previews and its wiring; with <c>LinkPreviews:Enabled</c> false (the default) nothing is mapped (404).</summary>
public static class LinkPreviewEndpoints
{
    public static void AddLinkPreviews(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(LinkPreviewOptions.Section).Get<LinkPreviewOptions>() ?? new LinkPreviewOptions();
        options.Validate();
        services.Configure<LinkPreviewOptions>(configuration.GetSection(LinkPreviewOptions.Section));
        if (!options.Enabled)
        {
            return;
        }

        services.AddSingleton<GuardedFetcher>();
        services.AddSingleton<LinkPreviewService>();
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(LinkPreviewJson.Default));
    }

    public static void MapLinkPreviews(this IEndpointRouteBuilder app)
    {
        if (!app.ServiceProvider.GetRequiredService<IOptions<LinkPreviewOptions>>().Value.Enabled)
        {
            return;
        }

        app.MapPost("/api/link-previews", PreviewAsync)
            .WithTags("Messages")
            .RequireAuthorization()
            .WithName("previewLink").WithSummary("Fetch a web page's title, description and image for a link message")
            .Accepts<LinkPreviewRequest>("application/json")
            .Returns<LinkPreviewDto>(200, "The preview (the image, if any, stored as a file the caller may use in a link message).")
            .ProducesErrors(400, 401, 403, 413, 415, 429, 503);
    }

    private static async Task<IResult> PreviewAsync(HttpContext context, LinkPreviewService previews)
    {
        var request = await context.Request.ReadJsonAsync(LinkPreviewJson.Default.LinkPreviewRequest);
        var preview = await previews.PreviewAsync(context.Caller().UserId, request, context.RequestAborted);
        return Results.Json(preview, LinkPreviewJson.Default.LinkPreviewDto);
    }
}
