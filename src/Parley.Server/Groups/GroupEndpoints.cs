using Parley.Server.Accounts;
using Parley.Server.Http;

namespace Parley.Server.Groups;

public static class GroupEndpoints
{
    public static void MapGroups(this IEndpointRouteBuilder app)
    {
        var groups = app.MapGroup("/api/groups").WithTags("Groups").RequireAuthorization();

        groups.MapPost("/", async (HttpContext context, GroupService service) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.CreateGroupBody);
            var group = await service.CreateAsync(context.Caller().UserId, body, context.RequestAborted);
            return Results.Json(group, ParleyJson.Default.GroupDto, statusCode: 201);
        }).Accepts<CreateGroupBody>("application/json").Produces<GroupDto>(201).ProducesErrors(400, 401, 415);

        groups.MapGet("/search", async (HttpContext context, GroupService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var list = await service.SearchAsync(context.Request.QueryText("q"), context.Request.QueryText("tags"), limit, cursor, context.RequestAborted);
            return Results.Json(list, ParleyJson.Default.ListResponseGroupDto);
        }).Produces<ListResponse<GroupDto>>().ProducesErrors(400, 401);

        groups.MapGet("/mine", async (HttpContext context, GroupService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var list = await service.MineAsync(context.Caller().UserId, limit, cursor, context.RequestAborted);
            return Results.Json(list, ParleyJson.Default.ListResponseGroupDto);
        }).Produces<ListResponse<GroupDto>>().ProducesErrors(400, 401);

        groups.MapGet("/{id}", async (string id, HttpContext context, GroupService service) =>
            Results.Json(await service.GetAsync(context.Caller().UserId, id, context.RequestAborted), ParleyJson.Default.GroupDto))
            .Produces<GroupDto>().ProducesErrors(401, 403, 404);

        groups.MapPatch("/{id}", async (string id, HttpContext context, GroupService service) =>
        {
            var patch = await context.Request.ReadJsonAsync(ParleyJson.Default.GroupPatch);
            return Results.Json(await service.UpdateAsync(context.Caller().UserId, id, patch, context.RequestAborted), ParleyJson.Default.GroupDto);
        }).Accepts<GroupPatch>("application/json").Produces<GroupDto>().ProducesErrors(400, 401, 403, 404, 415);

        groups.MapDelete("/{id}", async (string id, HttpContext context, GroupService service) =>
        {
            await service.DissolveAsync(context.Caller().UserId, id, context.RequestAborted);
            return Results.NoContent();
        }).Produces(204).ProducesErrors(401, 403, 404);

        groups.MapPost("/{id}/join", async (string id, HttpContext context, GroupService service) =>
        {
            var body = context.Request.ContentLength == 0 || (context.Request.ContentLength is null && !context.Request.HasJsonContentType())
                ? new JoinBody(null)
                : await context.Request.ReadJsonAsync(ParleyJson.Default.JoinBody);
            return Results.Json(await service.JoinAsync(context.Caller().UserId, id, body, context.RequestAborted), ParleyJson.Default.JoinResult);
        }).Accepts<JoinBody>("application/json").Produces<JoinResult>().ProducesErrors(400, 401, 403, 404, 409, 415);

        groups.MapPost("/{id}/invite-codes", async (string id, HttpContext context, GroupService service) =>
        {
            var body = context.Request.ContentLength == 0 || (context.Request.ContentLength is null && !context.Request.HasJsonContentType())
                ? new CreateInviteCodeBody(null, null)
                : await context.Request.ReadJsonAsync(ParleyJson.Default.CreateInviteCodeBody);
            return Results.Json(await service.CreateInviteCodeAsync(context.Caller().UserId, id, body, context.RequestAborted), ParleyJson.Default.InviteCodeDto, statusCode: 201);
        }).Accepts<CreateInviteCodeBody>("application/json").Produces<InviteCodeDto>(201).ProducesErrors(400, 401, 403, 404, 409, 415);

        groups.MapDelete("/{id}/invite-codes/{code}", async (string id, string code, HttpContext context, GroupService service) =>
        {
            await service.RevokeInviteCodeAsync(context.Caller().UserId, id, code, context.RequestAborted);
            return Results.NoContent();
        }).Produces(204).ProducesErrors(401, 403, 404);

        groups.MapPost("/join-by-code", async (HttpContext context, GroupService service) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.JoinByCodeBody);
            return Results.Json(await service.JoinByCodeAsync(context.Caller().UserId, body, context.RequestAborted), ParleyJson.Default.JoinResult);
        }).Accepts<JoinByCodeBody>("application/json").Produces<JoinResult>().ProducesErrors(400, 401, 404, 409, 415, 429);

        groups.MapPost("/{id}/leave", async (string id, HttpContext context, GroupService service) =>
        {
            await service.LeaveAsync(context.Caller().UserId, id, context.RequestAborted);
            return Results.NoContent();
        }).Produces(204).ProducesErrors(401, 403, 404, 409);

        groups.MapGet("/{id}/members", async (string id, HttpContext context, GroupService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            return Results.Json(await service.ListMembersAsync(context.Caller().UserId, id, limit, cursor, context.RequestAborted), ParleyJson.Default.ListResponseMemberEntry);
        }).Produces<ListResponse<MemberEntry>>().ProducesErrors(400, 401, 403, 404);

        groups.MapPost("/{id}/members", async (string id, HttpContext context, GroupService service) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.UserIdsBody);
            return Results.Json(await service.AddMembersAsync(context.Caller().UserId, id, body, context.RequestAborted), ParleyJson.Default.ListResponseMemberEntry);
        }).Accepts<UserIdsBody>("application/json").Produces<ListResponse<MemberEntry>>().ProducesErrors(400, 401, 403, 404, 409, 415);

        groups.MapDelete("/{id}/members/{userId}", async (string id, string userId, HttpContext context, GroupService service) =>
        {
            await service.RemoveMemberAsync(context.Caller().UserId, id, userId, context.RequestAborted);
            return Results.NoContent();
        }).Produces(204).ProducesErrors(401, 403, 404);

        groups.MapPatch("/{id}/members/{userId}", async (string id, string userId, HttpContext context, GroupService service) =>
        {
            var patch = await context.Request.ReadJsonAsync(ParleyJson.Default.MemberPatch);
            return Results.Json(await service.UpdateMemberAsync(context.Caller().UserId, id, userId, patch, context.RequestAborted), ParleyJson.Default.MemberEntry);
        }).Accepts<MemberPatch>("application/json").Produces<MemberEntry>().ProducesErrors(400, 401, 403, 404, 415);

        groups.MapPost("/{id}/owner", async (string id, HttpContext context, GroupService service) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.OwnerBody);
            return Results.Json(await service.TransferOwnershipAsync(context.Caller().UserId, id, body, context.RequestAborted), ParleyJson.Default.GroupDto);
        }).Accepts<OwnerBody>("application/json").Produces<GroupDto>().ProducesErrors(400, 401, 403, 404, 415);

        groups.MapGet("/{id}/requests", async (string id, HttpContext context, GroupService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            return Results.Json(await service.ListRequestsAsync(context.Caller().UserId, id, limit, cursor, context.RequestAborted), ParleyJson.Default.ListResponseJoinRequestDto);
        }).Produces<ListResponse<JoinRequestDto>>().ProducesErrors(400, 401, 403, 404);

        groups.MapPost("/{id}/requests/{rid}/approve", async (string id, string rid, HttpContext context, GroupService service) =>
            Results.Json(await service.DecideRequestAsync(context.Caller().UserId, id, rid, approve: true, context.RequestAborted), ParleyJson.Default.JoinRequestDto))
            .Produces<JoinRequestDto>().ProducesErrors(401, 403, 404, 409);

        groups.MapPost("/{id}/requests/{rid}/decline", async (string id, string rid, HttpContext context, GroupService service) =>
            Results.Json(await service.DecideRequestAsync(context.Caller().UserId, id, rid, approve: false, context.RequestAborted), ParleyJson.Default.JoinRequestDto))
            .Produces<JoinRequestDto>().ProducesErrors(401, 403, 404, 409);
    }
}
