using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Server.Messaging;

namespace Parley.Server.Admin;

public static class AdminEndpoints
{
    /// <summary>The app-server API under /api/admin (X-Api-Key), and the members' report call.</summary>
    public static void MapAdmin(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/admin").WithTags("Admin").RequireAdminKey();

        admin.MapPost("/users", async (HttpContext context, AdminService service) =>
        {
            var body = await context.Request.ReadJsonAsync(AdminJson.Default.ImportUserRequest);
            return Results.Json(await service.ImportAsync(body, context.RequestAborted), AdminJson.Default.AdminUser, statusCode: 201);
        }).Accepts<ImportUserRequest>("application/json").Produces<AdminUser>(201).ProducesErrors(400, 401, 403, 404, 409, 413, 415);

        admin.MapGet("/users", async (HttpContext context, AdminService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var q = context.Request.QueryText("q").Trim();
            var externalId = context.Request.QueryText("externalId").Trim();
            return Results.Json(
                await service.ListAsync(q, externalId.Length == 0 ? null : externalId, limit, cursor, context.RequestAborted),
                AdminJson.Default.ListResponseAdminUser);
        }).Produces<ListResponse<AdminUser>>().ProducesErrors(400, 401, 404);

        admin.MapPost("/users/{id}/tokens", async (string id, HttpContext context, AdminService service) =>
        {
            var body = context.Request.ContentLength is 0 or null && !context.Request.HasJsonContentType()
                ? new TokenRequest(null)
                : await context.Request.ReadJsonAsync(AdminJson.Default.TokenRequest);
            return Results.Json(await service.IssueTokensAsync(id, body, context.RequestAborted), AdminJson.Default.AuthResponse);
        }).Accepts<TokenRequest>("application/json").Produces<AuthResponse>().ProducesErrors(400, 401, 403, 404, 409, 415);

        admin.MapPost("/users/{id}/logout", async (string id, HttpContext context, AdminService service) =>
        {
            await service.LogoutAsync(id, context.RequestAborted);
            return Results.NoContent();
        }).Produces(204).ProducesErrors(401, 404);

        admin.MapPost("/users/{id}/disable", async (string id, HttpContext context, AdminService service) =>
        {
            await service.SetDisabledAsync(id, true, context.RequestAborted);
            return Results.NoContent();
        }).Produces(204).ProducesErrors(401, 404);

        admin.MapPost("/users/{id}/enable", async (string id, HttpContext context, AdminService service) =>
        {
            await service.SetDisabledAsync(id, false, context.RequestAborted);
            return Results.NoContent();
        }).Produces(204).ProducesErrors(401, 404);

        admin.MapPost("/messages", async Task<IResult> (HttpContext context, AdminService service) =>
        {
            var body = await context.Request.ReadJsonAsync(AdminJson.Default.AdminMessageRequest);
            return (await service.SendAsync(body, context.RequestAborted)).TryGetValue(out var sent, out var refusal)
                ? new JsonBytesResult(sent.Message.Json, sent.Created ? 201 : 200)
                : new ProblemResult(refusal);
        }).Accepts<AdminMessageRequest>("application/json").Produces<MessageDto>(201).Produces<MessageDto>().ProducesErrors(400, 401, 403, 404, 409, 413, 415);

        admin.MapGet("/stats", async (HttpContext context, AdminService service) =>
            Results.Json(await service.StatsAsync(context.RequestAborted), AdminJson.Default.AdminStats))
            .Produces<AdminStats>().ProducesErrors(401, 404);

        admin.MapGet("/reports", async (HttpContext context, AdminService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var status = context.Request.QueryText("status").Trim();
            return Results.Json(await service.ReportsAsync(status, limit, cursor, context.RequestAborted), AdminJson.Default.ListResponseReportDto);
        }).Produces<ListResponse<ReportDto>>().ProducesErrors(400, 401, 404);

        admin.MapPost("/reports/{id}/resolve", async (string id, HttpContext context, AdminService service) =>
        {
            var body = context.Request.ContentLength is 0 or null && !context.Request.HasJsonContentType()
                ? new ResolveBody(null)
                : await context.Request.ReadJsonAsync(AdminJson.Default.ResolveBody);
            return Results.Json(await service.ResolveAsync(id, body, context.RequestAborted), AdminJson.Default.ReportDto);
        }).Accepts<ResolveBody>("application/json").Produces<ReportDto>().ProducesErrors(400, 401, 404, 415);

        app.MapPost("/api/conversations/{id}/messages/{seq}/report", async (string id, string seq, HttpContext context, ReportService reports) =>
        {
            var body = await context.Request.ReadJsonAsync(AdminJson.Default.ReportBody);
            await reports.ReportAsync(context.Caller(), id, seq, body, context.RequestAborted);
            return Results.NoContent();
        }).WithTags("Conversations").RequireAuthorization()
            .Accepts<ReportBody>("application/json").Produces(204).ProducesErrors(400, 401, 404, 409, 415, 429);
    }
}
