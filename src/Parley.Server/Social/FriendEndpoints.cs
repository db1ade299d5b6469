using Parley.Server.Accounts;
using Parley.Server.Api;
using Parley.Server.Http;

namespace Parley.Server.Social;

public static class FriendEndpoints
{
    public static void MapSocial(this IEndpointRouteBuilder app)
    {
        var friends = app.MapGroup("/api/friends").WithTags("Friends").RequireAuthorization();
        friends.MapPost("/requests", SendRequestAsync)
            .WithName("sendFriendRequest")
            .WithSummary("Ask a user to be friends")
            .Accepts<FriendRequestBody>("application/json")
            .Returns<FriendRequestDto>(201, "The new pending request; the user gets `friend.request`.")
            .Returns<FriendRequestDto>(200, "That user had already asked the caller: both are friends now (`status: accepted`).")
            .ProducesErrors(400, 401, 403, 404, 409, 415, 429)
            .FailsWith(403, ErrorCodes.Blocked);
        friends.MapGet("/requests", ListRequestsAsync)
            .WithName("listFriendRequests")
            .WithSummary("List pending friend requests")
            .Query("direction", "Requests to the caller (`incoming`, the default) or from the caller (`outgoing`).", "string", false, "incoming", "outgoing")
            .Paged()
            .Returns<ListResponse<FriendRequestDto>>(200, "A page of pending requests.")
            .ProducesErrors(400, 401);
        friends.MapPost("/requests/{id}/accept", (string id, HttpContext context, SocialService social) => DecideAsync(id, context, social, accept: true))
            .WithName("acceptFriendRequest")
            .WithSummary("Accept a friend request made to the caller")
            .Returns<FriendRequestDto>(200, "The request, now `accepted`; both users are friends and the asker gets `friend.accepted`.")
            .ProducesErrors(401, 403, 404, 409);
        friends.MapPost("/requests/{id}/decline", (string id, HttpContext context, SocialService social) => DecideAsync(id, context, social, accept: false))
            .WithName("declineFriendRequest")
            .WithSummary("Decline a friend request made to the caller")
            .Returns<FriendRequestDto>(200, "The request, now `declined`.")
            .ProducesErrors(401, 403, 404, 409);
        friends.MapGet("/", ListFriendsAsync)
            .WithName("listFriends")
            .WithSummary("List the caller's friends")
            .Paged()
            .Returns<ListResponse<FriendEntry>>(200, "A page of friends with the caller's remark, since when and whether they are online.")
            .ProducesErrors(400, 401);
        friends.MapPatch("/{userId}", SetRemarkAsync)
            .WithName("setFriendRemark")
            .WithSummary("Set the caller's private remark on a friend")
            .Accepts<RemarkBody>("application/json")
            .Returns<FriendEntry>(200, "The friend with the new remark (null or empty clears it).")
            .ProducesErrors(400, 401, 404, 415);
        friends.MapDelete("/{userId}", RemoveFriendAsync)
            .WithName("removeFriend")
            .WithSummary("End a friendship (for both sides)")
            .Returns(204, "No longer friends, on both sides; the other user gets `friend.removed`.")
            .ProducesErrors(401, 404);

        var blocks = app.MapGroup("/api/blocks").WithTags("Friends").RequireAuthorization();
        blocks.MapPut("/{userId}", async (string userId, HttpContext context, SocialService social) =>
        {
            await social.BlockAsync(context.Caller().UserId, userId, context.RequestAborted);
            return Results.NoContent();
        }).WithName("blockUser").WithSummary("Block a user")
            .Returns(204, "Blocked: the user can no longer send the caller direct messages or friend requests.")
            .ProducesErrors(400, 401, 404);
        blocks.MapDelete("/{userId}", async (string userId, HttpContext context, SocialService social) =>
        {
            await social.UnblockAsync(context.Caller().UserId, userId, context.RequestAborted);
            return Results.NoContent();
        }).WithName("unblockUser").WithSummary("Unblock a user")
            .Returns(204, "Not blocked (also when the user was not blocked).")
            .ProducesErrors(401);
        blocks.MapGet("/", async (HttpContext context, SocialService social) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            var list = await social.ListBlocksAsync(context.Caller().UserId, limit, cursor, context.RequestAborted);
            return Results.Json(list, ParleyJson.Default.ListResponseBlockEntry);
        }).WithName("listBlocks").WithSummary("List the users the caller blocked")
            .Paged()
            .Returns<ListResponse<BlockEntry>>(200, "A page of blocked users and since when.")
            .ProducesErrors(400, 401);
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
