using Parley.Server.Accounts;
using Parley.Server.Api;
using Parley.Server.Http;
using Parley.Server.Messaging;

namespace Parley.Server.Search;

public static class SearchEndpoints
{
    public static void MapSearch(this IEndpointRouteBuilder app)
    {
        var search = app.MapGroup("/api/search").WithTags("Search").RequireAuthorization();

        // q: the text (case-insensitive substring; 2 characters or more); conversationId: only that conversation.
        search.MapGet("/messages", async (HttpContext context, SearchService service) =>
        {
            if (context.Request.TryReadPaging(out var limit, out var cursor) is { } badPaging)
            {
                return new ProblemResult(badPaging);
            }

            var query = context.Request.QueryText("q");
            var conversationId = context.Request.Query["conversationId"].ToString();
            return (await service.SearchAsync(context.Caller(), query, conversationId.Length == 0 ? null : conversationId, limit, cursor, context.RequestAborted))
                .TryGetValue(out var page, out var refusal)
                ? Results.Json(page, ParleyJson.Default.ListResponseMessageDto)
                : new ProblemResult(refusal);
        }).WithName("searchMessages").WithSummary("Search the messages the caller can see")
            .Query("q", "The text: a case-insensitive substring (CJK too), at least 2 characters.", "string", true)
            .Query("conversationId", "Only this conversation.")
            .Paged()
            .Returns<ListResponse<MessageDto>>(200, "A page of matching messages, newest first, from the caller's membership windows only.")
            .ProducesErrors(400, 401, 403, 404, 429);
    }
}
