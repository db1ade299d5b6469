using Parley.Server.Accounts;
using Parley.Server.Api;
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
        }).WithName("adminCreateUser").WithSummary("Create (import) a user from the app server")
            .Accepts<ImportUserRequest>("application/json")
            .Returns<AdminUser>(201, "The new user with its externalId; without a password it logs in only through adminIssueTokens.")
            .ProducesErrors(400, 401, 403, 404, 409, 413, 415)
            .FailsWith(409, ErrorCodes.UsernameTaken, ErrorCodes.Conflict);

        admin.MapGet("/users", async (HttpContext context, AdminService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var q = context.Request.QueryText("q").Trim();
            var externalId = context.Request.QueryText("externalId").Trim();
            return Results.Json(
                await service.ListAsync(q, externalId.Length == 0 ? null : externalId, limit, cursor, context.RequestAborted),
                AdminJson.Default.ListResponseAdminUser);
        }).WithName("adminListUsers").WithSummary("List or find users (by text or externalId)")
            .Query("q", "Case-insensitive substring of the username or nickname.")
            .Query("externalId", "Only the user with this externalId.")
            .Paged()
            .Returns<ListResponse<AdminUser>>(200, "A page of users with externalId and disabled.")
            .ProducesErrors(400, 401, 404);

        admin.MapPost("/users/{id}/tokens", async (string id, HttpContext context, AdminService service) =>
        {
            var body = context.Request.ContentLength is 0 or null && !context.Request.HasJsonContentType()
                ? new TokenRequest(null)
                : await context.Request.ReadJsonAsync(AdminJson.Default.TokenRequest);
            return Results.Json(await service.IssueTokensAsync(id, body, context.RequestAborted), AdminJson.Default.AuthResponse);
        }).WithName("adminIssueTokens").WithSummary("Open a device session for a user (single sign-on from the app server)")
            .Accepts<TokenRequest>("application/json")
            .Returns<AuthResponse>(200, "The user, the new session's tokens and its device id.")
            .ProducesErrors(400, 401, 403, 404, 409, 415)
            .FailsWith(403, ErrorCodes.Disabled);

        admin.MapPost("/users/{id}/logout", async (string id, HttpContext context, AdminService service) =>
        {
            await service.LogoutAsync(id, context.RequestAborted);
            return Results.NoContent();
        }).WithName("adminLogoutUser").WithSummary("Revoke every session of a user")
            .Returns(204, "Every session is revoked; the user's WebSockets are closed with 4001.")
            .ProducesErrors(401, 404);

        admin.MapPost("/users/{id}/disable", async (string id, HttpContext context, AdminService service) =>
        {
            await service.SetDisabledAsync(id, true, context.RequestAborted);
            return Results.NoContent();
        }).WithName("adminDisableUser").WithSummary("Disable a user (and log it out)")
            .Returns(204, "The user is disabled: login and refresh answer 403 `disabled`; its sessions are revoked.")
            .ProducesErrors(401, 404);

        admin.MapPost("/users/{id}/enable", async (string id, HttpContext context, AdminService service) =>
        {
            await service.SetDisabledAsync(id, false, context.RequestAborted);
            return Results.NoContent();
        }).WithName("adminEnableUser").WithSummary("Enable a disabled user")
            .Returns(204, "The user can log in again.")
            .ProducesErrors(401, 404);

        admin.MapPost("/messages", async Task<IResult> (HttpContext context, AdminService service) =>
        {
            var body = await context.Request.ReadJsonAsync(AdminJson.Default.AdminMessageRequest);
            return (await service.SendAsync(body, context.RequestAborted)).TryGetValue(out var sent, out var refusal)
                ? new JsonBytesResult(sent.Message.Json, sent.Created ? 201 : 200)
                : new ProblemResult(refusal);
        }).WithName("adminSendMessage").WithSummary("Send a message as a user (to a user or into a conversation)")
            .Accepts<AdminMessageRequest>("application/json")
            .Returns<MessageDto>(201, "The message as committed; `to` opens the direct conversation (friendship not needed, blocks apply).")
            .Returns<MessageDto>(200, "A retry: the message first stored with this clientMsgId.")
            .ProducesErrors(400, 401, 403, 404, 409, 413, 415)
            .FailsWith(403, ErrorCodes.Forbidden, ErrorCodes.Blocked, ErrorCodes.Muted, ErrorCodes.Rejected);

        admin.MapGet("/stats", async (HttpContext context, AdminService service) =>
            Results.Json(await service.StatsAsync(context.RequestAborted), AdminJson.Default.AdminStats))
            .WithName("adminStats").WithSummary("Counts: users, online users, connections, groups, messages in 24 h")
            .Returns<AdminStats>(200, "The current counts.")
            .ProducesErrors(401, 404);

        admin.MapGet("/reports", async (HttpContext context, AdminService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var status = context.Request.QueryText("status").Trim();
            return Results.Json(await service.ReportsAsync(status, limit, cursor, context.RequestAborted), AdminJson.Default.ListResponseReportDto);
        }).WithName("adminListReports").WithSummary("List reports made by users")
            .Query("status", "Which reports: `open` (the default), `resolved` or `all`.", "string", false, "open", "resolved", "all")
            .Paged()
            .Returns<ListResponse<ReportDto>>(200, "A page of reports, newest first, with the reported message.")
            .ProducesErrors(400, 401, 404);

        admin.MapPost("/reports/{id}/resolve", async (string id, HttpContext context, AdminService service) =>
        {
            var body = context.Request.ContentLength is 0 or null && !context.Request.HasJsonContentType()
                ? new ResolveBody(null)
                : await context.Request.ReadJsonAsync(AdminJson.Default.ResolveBody);
            return Results.Json(await service.ResolveAsync(id, body, context.RequestAborted), AdminJson.Default.ReportDto);
        }).WithName("adminResolveReport").WithSummary("Mark a report resolved, with an optional note")
            .Accepts<ResolveBody>("application/json")
            .Returns<ReportDto>(200, "The report, now `resolved`.")
            .ProducesErrors(400, 401, 404, 415);

        app.MapPost("/api/conversations/{id}/messages/{seq}/report", async (string id, string seq, HttpContext context, ReportService reports) =>
        {
            var body = await context.Request.ReadJsonAsync(AdminJson.Default.ReportBody);
            await reports.ReportAsync(context.Caller(), id, seq, body, context.RequestAborted);
            return Results.NoContent();
        }).WithTags("Conversations").RequireAuthorization()
            .WithName("reportMessage").WithSummary("Report a message to the operators")
            .Accepts<ReportBody>("application/json")
            .Returns(204, "The report is recorded for GET /api/admin/reports.")
            .ProducesErrors(400, 401, 404, 409, 415, 429);
    }
}
