using Parley.Server.Accounts;
using Parley.Server.Http;

namespace Parley.Server.Social;

public static class FriendEndpoints
{
    public static void MapSocial(this IEndpointRouteBuilder app)
    {
        var friends = app.MapGroup("/api/friends").WithTags("Friends").RequireAuthorization();
        friends.MapPost("/requests", SendRequestAsync)
            .Accepts<FriendRequestBody>("application/json")
            .Produces<FriendRequestDto>(201)
            .Produces<FriendRequestDto>()
            .ProducesErrors(400, 401, 403, 404, 409, 415);
        friends.MapGet("/requests", ListRequestsAsync).Produces<ListResponse<FriendRequestDto>>().ProducesErrors(400, 401);
        friends.MapPost("/requests/{id}/accept", (string id, HttpContext context, SocialService social) => DecideAsync(id, context, social, accept: true))
            .Produces<FriendRequestDto>().ProducesErrors(401, 403, 404, 409);
        friends.MapPost("/requests/{id}/decline", (string id, HttpContext context, SocialService social) => DecideAsync(id, context, social, accept: false))
            .Produces<FriendRequestDto>().ProducesErrors(401, 403, 404, 409);
        friends.MapGet("/", ListFriendsAsync).Produces<ListResponse<FriendEntry>>().ProducesErrors(400, 401);
        friends.MapPatch("/{userId}", SetRemarkAsync)
            .Accepts<RemarkBody>("application/json")
            .Produces<FriendEntry>()
            .ProducesErrors(400, 401, 404, 415);
        friends.MapDelete("/{userId}", RemoveFriendAsync).Produces(204).ProducesErrors(401, 404);

        var blocks = app.MapGroup("/api/blocks").WithTags("Friends").RequireAuthorization();
        blocks.MapPut("/{userId}", async (string userId, HttpContext context, SocialService social) =>
        {
            await social.BlockAsync(context.Caller().UserId, userId, context.RequestAborted);
            return Results.NoContent();
        }).Produces(204).ProducesErrors(400, 401, 404);
        blocks.MapDelete("/{userId}", async (string userId, HttpContext context, SocialService social) =>
        {
            await social.UnblockAsync(context.Caller().UserId, userId, context.RequestAborted);
            return Results.NoContent();
        }).Produces(204).ProducesErrors(401);
        blocks.MapGet("/", async (HttpContext context, SocialService social) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var list = await social.ListBlocksAsync(context.Caller().UserId, limit, cursor, context.RequestAborted);
            return Results.Json(list, ParleyJson.Default.ListResponseBlockEntry);
        }).Produces<ListResponse<BlockEntry>>().ProducesErrors(400, 401);
    }

    private static async Task<IResult> SendRequestAsync(HttpContext context, SocialService social)
    {
        var body = await context.Request.ReadJsonAsync(ParleyJson.Default.FriendRequestBody);
        var (request, created) = await social.SendRequestAsync(context.Caller().UserId, body, context.RequestAborted);
        return Results.Json(request, ParleyJson.Default.FriendRequestDto, statusCode: created ? 201 : 200);
    }

    private static async Task<IResult> ListRequestsAsync(HttpContext context, SocialService social)
    {
        var (limit, cursor) = context.Request.ReadPaging();
        var list = await social.ListRequestsAsync(context.Caller().UserId, context.Request.QueryText("direction"), limit, cursor, context.RequestAborted);
        return Results.Json(list, ParleyJson.Default.ListResponseFriendRequestDto);
    }

    private static async Task<IResult> DecideAsync(string id, HttpContext context, SocialService social, bool accept)
    {
        var request = await social.DecideAsync(context.Caller().UserId, id, accept, context.RequestAborted);
        return Results.Json(request, ParleyJson.Default.FriendRequestDto);
    }

    private static async Task<IResult> ListFriendsAsync(HttpContext context, SocialService social)
    {
        var (limit, cursor) = context.Request.ReadPaging();
        var list = await social.ListFriendsAsync(context.Caller().UserId, limit, cursor, context.RequestAborted);
        return Results.Json(list, ParleyJson.Default.ListResponseFriendEntry);
    }

    private static async Task<IResult> SetRemarkAsync(string userId, HttpContext context, SocialService social)
    {
        var body = await context.Request.ReadJsonAsync(ParleyJson.Default.RemarkBody);
        var entry = await social.SetRemarkAsync(context.Caller().UserId, userId, body, context.RequestAborted);
        return Results.Json(entry, ParleyJson.Default.FriendEntry);
    }

    private static async Task<IResult> RemoveFriendAsync(string userId, HttpContext context, SocialService social)
    {
        await social.RemoveFriendAsync(context.Caller().UserId, userId, context.RequestAborted);
        return Results.NoContent();
    }
}
