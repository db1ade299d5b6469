using Parley.Server.Accounts;
using Parley.Server.Api;
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
        }).WithName("createGroup").WithSummary("Create a group (the caller is its owner)")
            .Accepts<CreateGroupBody>("application/json")
            .Returns<GroupDto>(201, "The new group; members added with `memberIds` get `group.invited`.")
            .ProducesErrors(400, 401, 415, 429);

        groups.MapGet("/search", async (HttpContext context, GroupService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var list = await service.SearchAsync(context.Request.QueryText("q"), context.Request.QueryText("tags"), limit, cursor, context.RequestAborted);
            return Results.Json(list, ParleyJson.Default.ListResponseGroupDto);
        }).WithName("searchGroups").WithSummary("Search public groups by name and tags")
            .Query("q", "Case-insensitive substring of the group name.")
            .Query("tags", "Comma-separated tags that must all be present.")
            .Paged()
            .Returns<ListResponse<GroupDto>>(200, "A page of matching public groups.")
            .ProducesErrors(400, 401);

        groups.MapGet("/mine", async (HttpContext context, GroupService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var list = await service.MineAsync(context.Caller().UserId, limit, cursor, context.RequestAborted);
            return Results.Json(list, ParleyJson.Default.ListResponseGroupDto);
        }).WithName("listMyGroups").WithSummary("List the groups the caller belongs to")
            .Paged()
            .Returns<ListResponse<GroupDto>>(200, "A page of the caller's groups.")
            .ProducesErrors(400, 401);

        groups.MapGet("/{id}", async (string id, HttpContext context, GroupService service) =>
            Results.Json(await service.GetAsync(context.Caller().UserId, id, context.RequestAborted), ParleyJson.Default.GroupDto))
            .WithName("getGroup").WithSummary("Get a group")
            .Returns<GroupDto>(200, "The group (a private group only for its members).")
            .ProducesErrors(401, 403, 404);

        groups.MapPatch("/{id}", async (string id, HttpContext context, GroupService service) =>
        {
            var patch = await context.Request.ReadJsonAsync(ParleyJson.Default.GroupPatch);
            return Results.Json(await service.UpdateAsync(context.Caller().UserId, id, patch, context.RequestAborted), ParleyJson.Default.GroupDto);
        }).WithName("updateGroup").WithSummary("Change a group's name, description, tags, announcement, policies or avatar (admins)")
            .Accepts<GroupPatch>("application/json")
            .Returns<GroupDto>(200, "The group as changed; members get `group.updated`.")
            .ProducesErrors(400, 401, 403, 404, 415)
            .FailsWith(403, ErrorCodes.Forbidden, ErrorCodes.Rejected);

        groups.MapDelete("/{id}", async (string id, HttpContext context, GroupService service) =>
        {
            await service.DissolveAsync(context.Caller().UserId, id, context.RequestAborted);
            return Results.NoContent();
        }).WithName("dissolveGroup").WithSummary("Dissolve a group (the owner)")
            .Returns(204, "The group and its conversation are gone; members get `group.dissolved`.")
            .ProducesErrors(401, 403, 404);

        groups.MapPost("/{id}/join", async (string id, HttpContext context, GroupService service) =>
        {
            var body = context.Request.ContentLength == 0 || (context.Request.ContentLength is null && !context.Request.HasJsonContentType())
                ? new JoinBody(null)
                : await context.Request.ReadJsonAsync(ParleyJson.Default.JoinBody);
            return Results.Json(await service.JoinAsync(context.Caller().UserId, id, body, context.RequestAborted), ParleyJson.Default.JoinResult);
        }).WithName("joinGroup").WithSummary("Join a public group, or ask to")
            .Accepts<JoinBody>("application/json")
            .Returns<JoinResult>(200, "`joined` for an open group; `pending` where admins approve (they get `group.request`).")
            .ProducesErrors(400, 401, 403, 404, 409, 415, 429)
            .FailsWith(403, ErrorCodes.Forbidden)
            .FailsWith(404, ErrorCodes.NotFound);

        groups.MapPost("/{id}/invite-codes", async (string id, HttpContext context, GroupService service) =>
        {
            var body = context.Request.ContentLength == 0 || (context.Request.ContentLength is null && !context.Request.HasJsonContentType())
                ? new CreateInviteCodeBody(null, null)
                : await context.Request.ReadJsonAsync(ParleyJson.Default.CreateInviteCodeBody);
            return Results.Json(await service.CreateInviteCodeAsync(context.Caller().UserId, id, body, context.RequestAborted), ParleyJson.Default.InviteCodeDto, statusCode: 201);
        }).WithName("createInviteCode").WithSummary("Create an invite code for a group (admins)")
            .Accepts<CreateInviteCodeBody>("application/json")
            .Returns<InviteCodeDto>(201, "The new code, with its expiry and use limit.")
            .ProducesErrors(400, 401, 403, 404, 409, 415);

        groups.MapDelete("/{id}/invite-codes/{code}", async (string id, string code, HttpContext context, GroupService service) =>
        {
            await service.RevokeInviteCodeAsync(context.Caller().UserId, id, code, context.RequestAborted);
            return Results.NoContent();
        }).WithName("revokeInviteCode").WithSummary("Revoke an invite code (admins)")
            .Returns(204, "The code no longer works.")
            .ProducesErrors(401, 403, 404);

        groups.MapPost("/join-by-code", async (HttpContext context, GroupService service) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.JoinByCodeBody);
            return Results.Json(await service.JoinByCodeAsync(context.Caller().UserId, body, context.RequestAborted), ParleyJson.Default.JoinResult);
        }).WithName("joinGroupByCode").WithSummary("Join a group (private ones too) with an invite code")
            .Accepts<JoinByCodeBody>("application/json")
            .Returns<JoinResult>(200, "`joined`, or `pending` where admins approve.")
            .ProducesErrors(400, 401, 404, 409, 415, 429);

        groups.MapPost("/{id}/leave", async (string id, HttpContext context, GroupService service) =>
        {
            await service.LeaveAsync(context.Caller().UserId, id, context.RequestAborted);
            return Results.NoContent();
        }).WithName("leaveGroup").WithSummary("Leave a group")
            .Returns(204, "The caller is no longer a member and gets nothing from the group after this.")
            .ProducesErrors(401, 403, 404, 409);

        groups.MapGet("/{id}/members", async (string id, HttpContext context, GroupService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            return Results.Json(await service.ListMembersAsync(context.Caller().UserId, id, limit, cursor, context.RequestAborted), ParleyJson.Default.ListResponseMemberEntry);
        }).WithName("listGroupMembers").WithSummary("List a group's members")
            .Paged()
            .Returns<ListResponse<MemberEntry>>(200, "A page of members with their role, join time and mute.")
            .ProducesErrors(400, 401, 403, 404);

        groups.MapPost("/{id}/members", async (string id, HttpContext context, GroupService service) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.UserIdsBody);
            return Results.Json(await service.AddMembersAsync(context.Caller().UserId, id, body, context.RequestAborted), ParleyJson.Default.ListResponseMemberEntry);
        }).WithName("addGroupMembers").WithSummary("Add members to a group (admins, or members if membersCanInvite)")
            .Accepts<UserIdsBody>("application/json")
            .Returns<ListResponse<MemberEntry>>(200, "The members added (not those who already were); they get `group.invited`.")
            .ProducesErrors(400, 401, 403, 404, 409, 415);

        groups.MapDelete("/{id}/members/{userId}", async (string id, string userId, HttpContext context, GroupService service) =>
        {
            await service.RemoveMemberAsync(context.Caller().UserId, id, userId, context.RequestAborted);
            return Results.NoContent();
        }).WithName("removeGroupMember").WithSummary("Remove a member (admins over members, the owner over anyone)")
            .Returns(204, "The user is no longer a member; they get `group.removed`.")
            .ProducesErrors(401, 403, 404);

        groups.MapPatch("/{id}/members/{userId}", async (string id, string userId, HttpContext context, GroupService service) =>
        {
            var patch = await context.Request.ReadJsonAsync(ParleyJson.Default.MemberPatch);
            return Results.Json(await service.UpdateMemberAsync(context.Caller().UserId, id, userId, patch, context.RequestAborted), ParleyJson.Default.MemberEntry);
        }).WithName("updateGroupMember").WithSummary("Set a member's role (the owner) or mute (admins)")
            .Accepts<MemberPatch>("application/json")
            .Returns<MemberEntry>(200, "The member as changed.")
            .ProducesErrors(400, 401, 403, 404, 415);

        groups.MapPost("/{id}/owner", async (string id, HttpContext context, GroupService service) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.OwnerBody);
            return Results.Json(await service.TransferOwnershipAsync(context.Caller().UserId, id, body, context.RequestAborted), ParleyJson.Default.GroupDto);
        }).WithName("transferGroupOwnership").WithSummary("Hand the group over to another member (the owner)")
            .Accepts<OwnerBody>("application/json")
            .Returns<GroupDto>(200, "The group with its new owner; the old owner becomes an admin.")
            .ProducesErrors(400, 401, 403, 404, 415);

        groups.MapGet("/{id}/requests", async (string id, HttpContext context, GroupService service) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            return Results.Json(await service.ListRequestsAsync(context.Caller().UserId, id, limit, cursor, context.RequestAborted), ParleyJson.Default.ListResponseJoinRequestDto);
        }).WithName("listJoinRequests").WithSummary("List pending join requests (admins)")
            .Paged()
            .Returns<ListResponse<JoinRequestDto>>(200, "A page of pending join requests.")
            .ProducesErrors(400, 401, 403, 404);

        groups.MapPost("/{id}/requests/{rid}/approve", async (string id, string rid, HttpContext context, GroupService service) =>
            Results.Json(await service.DecideRequestAsync(context.Caller().UserId, id, rid, approve: true, context.RequestAborted), ParleyJson.Default.JoinRequestDto))
            .WithName("approveJoinRequest").WithSummary("Approve a join request (admins)")
            .Returns<JoinRequestDto>(200, "The request, now `approved`: the user is a member.")
            .ProducesErrors(401, 403, 404, 409);

        groups.MapPost("/{id}/requests/{rid}/decline", async (string id, string rid, HttpContext context, GroupService service) =>
            Results.Json(await service.DecideRequestAsync(context.Caller().UserId, id, rid, approve: false, context.RequestAborted), ParleyJson.Default.JoinRequestDto))
            .WithName("declineJoinRequest").WithSummary("Decline a join request (admins)")
            .Returns<JoinRequestDto>(200, "The request, now `declined`.")
            .ProducesErrors(401, 403, 404, 409);
    }
}
