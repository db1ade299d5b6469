using System.Globalization;
using Parley.Server.Accounts;
using Parley.Server.Admin;
using Parley.Server.Api;
using Parley.Server.Http;
using Parley.Storage;
using Parley.Storage.Webhooks;

namespace Parley.Server.Webhooks;

/// <summary>An event moved aside after Webhooks:MaxAttempts.</summary>
public sealed record FailedWebhookDto(string Id, string Type, long CreatedAt, int Attempts, long FailedAt, string? LastError);

public sealed record ReplayedDto(int Replayed);

public static class WebhookEndpoints
{
    /// <summary>GET /api/admin/webhooks/failed, POST .../failed/{id}/replay and .../failed/replay, behind the admin API key.</summary>
    public static void MapWebhooks(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/admin/webhooks").WithTags("Admin").RequireAdminKey();

        admin.MapGet("/failed", async (HttpContext context, Database database) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var rows = await WebhookOutbox.FailedAsync(database, Paging.Id(cursor, long.MaxValue), limit + 1, context.RequestAborted);
            var page = Paging.Page(
                rows,
                limit,
                r => new FailedWebhookDto(Id(r.Id), r.Type, r.CreatedAt, r.Attempts, r.FailedAt ?? 0, r.LastError),
                r => Id(r.Id));
            return Results.Json(page, ParleyJson.Default.ListResponseFailedWebhookDto);
        }).WithName("adminListFailedWebhooks").WithSummary("List webhook events that gave up after their retries")
            .Paged()
            .Returns<ListResponse<FailedWebhookDto>>(200, "A page of failed events with their attempts and last error.")
            .ProducesErrors(400, 401, 404);

        admin.MapPost("/failed/{id}/replay", async (string id, HttpContext context, Database database, TimeProvider time) =>
        {
            if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var eventId)
                || await database.Outbox.ReplayAsync(database, eventId, time.GetUtcNow().ToUnixTimeMilliseconds(), context.RequestAborted) == 0)
            {
                // Either no such failed event, or one of a type Webhooks:Events no longer has (it stays listed).
                throw await WebhookOutbox.FailedTypeAsync(database, eventId, context.RequestAborted) is { } type
                    ? new ApiException(409, ErrorCodes.Conflict, $"Events of type {type} are not sent (not in Webhooks:Events); it stays on the failed list.")
                    : ApiException.NotFound("Failed event");
            }

            return Results.NoContent();
        }).WithName("adminReplayFailedWebhook").WithSummary("Send one failed webhook event again")
            .Returns(204, "The event is queued to be sent again.")
            .ProducesErrors(401, 404, 409);

        admin.MapPost("/failed/replay", async (HttpContext context, Database database, TimeProvider time) =>
        {
            var replayed = await database.Outbox.ReplayAsync(database, null, time.GetUtcNow().ToUnixTimeMilliseconds(), context.RequestAborted);
            return Results.Json(new ReplayedDto(replayed), ParleyJson.Default.ReplayedDto);
        }).WithName("adminReplayFailedWebhooks").WithSummary("Send every failed webhook event again")
            .Returns<ReplayedDto>(200, "How many events were queued again.")
            .ProducesErrors(401, 404);
    }

    private static string Id(long id) => id.ToString(CultureInfo.InvariantCulture);
}
