using System.Globalization;
using Parley.Protocol;
using Parley.Server.Accounts;
using Parley.Server.Api;
using Parley.Server.Http;
using Parley.Storage;

namespace Parley.Server.Messaging;

public static class ConversationEndpoints
{
    public static void MapConversations(this IEndpointRouteBuilder app)
    {
        var conversations = app.MapGroup("/api/conversations").WithTags("Conversations").RequireAuthorization();

        conversations.MapPost("/direct", async (HttpContext context, MessagingService messaging) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.DirectBody);
            return Results.Json(await messaging.GetOrCreateDirectAsync(context.Caller(), body, context.RequestAborted), ParleyJson.Default.ConversationDto);
        }).WithName("openDirectConversation").WithSummary("Get or create the direct conversation with a user")
            .Accepts<DirectBody>("application/json")
            .Returns<ConversationDto>(200, "The direct conversation between the caller and that user (created on first use).")
            .ProducesErrors(400, 401, 403, 404, 415)
            .FailsWith(403, ErrorCodes.Blocked, ErrorCodes.NotFriends);

        conversations.MapGet("/", async (HttpContext context, MessagingService messaging) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            return Results.Json(await messaging.ListAsync(context.Caller(), limit, cursor, context.RequestAborted), ParleyJson.Default.ListResponseConversationDto);
        }).WithName("listConversations").WithSummary("List the caller's conversations, most recent activity first")
            .Paged()
            .Returns<ListResponse<ConversationDto>>(200, "A page of conversations with their read state, unread count and last message.")
            .ProducesErrors(400, 401);

        conversations.MapGet("/{id}", async (string id, HttpContext context, MessagingService messaging) =>
            Results.Json(await messaging.GetAsync(context.Caller(), id, context.RequestAborted), ParleyJson.Default.ConversationDto))
            .WithName("getConversation").WithSummary("Get a conversation")
            .Returns<ConversationDto>(200, "The conversation as the caller sees it.")
            .ProducesErrors(401, 403, 404);

        conversations.MapPatch("/{id}", async (string id, HttpContext context, MessagingService messaging) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.ConversationPatch);
            return Results.Json(await messaging.PatchAsync(context.Caller(), id, body, context.RequestAborted), ParleyJson.Default.ConversationDto);
        }).WithName("updateConversation").WithSummary("Mute or unmute a conversation for the caller")
            .Accepts<ConversationPatch>("application/json")
            .Returns<ConversationDto>(200, "The conversation with the caller's new setting (muted: no offline pushes).")
            .ProducesErrors(400, 401, 404, 415, 429);

        conversations.MapGet("/{id}/messages", async (string id, HttpContext context, MessagingService messaging) =>
        {
            // A client's bad query is answered without an exception, as the send and read refusals are.
            var badLimit = context.Request.TryReadPaging(out var limit, out _);
            var badAfter = SeqQuery(context.Request, "after", out var after);
            var badBefore = SeqQuery(context.Request, "before", out var before);
            if ((badLimit ?? badAfter ?? badBefore) is { } badQuery)
            {
                return new ProblemResult(badQuery);
            }

            return (await messaging.HistoryAsync(context.Caller(), id, after, before, limit, context.RequestAborted)).TryGetValue(out var page, out var refusal)
                ? Results.Json(page, ParleyJson.Default.MessagePage)
                : new ProblemResult(refusal);
        }).WithName("listMessages").WithSummary("Read history: the messages after a seq (catch-up) or before one (scroll back)")
            .Query("after", "Messages from after+1 on, ascending (catch-up from the device's last seq). Default 0.", "integer")
            .Query("before", "The `limit` messages before this seq, ascending (scrolling back).", "integer")
            .Query("limit", "At most this many messages: 1-200, default 50 (fewer when the page's bytes reach the budget).", "integer")
            .Returns<MessagePage>(200, "The messages in seq order, whether more follow, and the conversation's max seq.")
            .ProducesErrors(400, 401, 403, 404);

        conversations.MapPost("/{id}/messages", async Task<IResult> (string id, HttpContext context, MessageSender sender) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.SendMessageBody);
            var caller = context.Caller();
            // The body's members first (400), then the id (404), as the contract answers them.
            var known = Ids.TryParse(id, out var conversationId);
            if (!SendCommand.TryCreate(conversationId, body.ClientMsgId, body.Type, body.Content, body.ReplyTo, body.Mentions, out var command, out var problems))
            {
                var v = new Validation();
                foreach (var (member, problem) in problems!)
                {
                    v.Add(member, problem);
                }

                return new ProblemResult(v.ToRefusal()!);
            }

            if (!known)
            {
                return new ProblemResult(sender.NotFound(caller));
            }

            return (await sender.SendAsync(caller, command!, null, context.RequestAborted)).TryGetValue(out var sent, out var refusal)
                ? new JsonBytesResult(sent.Message.Json, sent.Created ? 201 : 200)
                : new ProblemResult(refusal);
        }).WithName("sendMessage").WithSummary("Send a message (idempotent by clientMsgId)")
            .Accepts<SendMessageBody>("application/json")
            .Returns<MessageDto>(201, "The message as committed, with its seq; every member's devices get it.")
            .Returns<MessageDto>(200, "A retry: the message first stored with this clientMsgId, unchanged.")
            .ProducesErrors(400, 401, 403, 404, 413, 415, 429)
            .FailsWith(403, ErrorCodes.Forbidden, ErrorCodes.Blocked, ErrorCodes.NotFriends, ErrorCodes.Muted, ErrorCodes.Rejected)
            .FailsWith(413, ErrorCodes.TooLarge);

        conversations.MapPost("/{id}/read", async (string id, HttpContext context, MessagingService messaging) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.ReadBody);
            return await messaging.MarkReadAsync(context.Caller(), id, body, context.RequestAborted) is { } refusal
                ? new ProblemResult(refusal)
                : Results.NoContent();
        }).WithName("markRead").WithSummary("Mark the conversation read up to a seq")
            .Accepts<ReadBody>("application/json")
            .Returns(204, "The caller's readSeq is at least `seq` (it never moves back); the reader's other devices (and a direct peer) get `read`.")
            .ProducesErrors(400, 401, 403, 404, 415);

        conversations.MapPost("/{id}/messages/{seq}/recall", async (string id, string seq, HttpContext context, MessagingService messaging) =>
            Results.Json(await messaging.RecallAsync(context.Caller(), id, Seq(seq), context.RequestAborted), ParleyJson.Default.MessageDto))
            .WithName("recallMessage").WithSummary("Recall a message (the sender within the window; group owner and admins any time)")
            .Returns<MessageDto>(200, "The message, now `recalled: true` with null content; every member's devices get `recalled`.")
            .ProducesErrors(401, 403, 404)
            .FailsWith(403, ErrorCodes.Forbidden, ErrorCodes.RecallWindowPassed);

        conversations.MapDelete("/{id}/messages/{seq}", async (string id, string seq, HttpContext context, MessagingService messaging) =>
        {
            await messaging.DeleteForMeAsync(context.Caller(), id, Seq(seq), context.RequestAborted);
            return Results.NoContent();
        }).WithName("deleteMessageForMe").WithSummary("Hide a message for the caller only")
            .Returns(204, "The message no longer appears in the caller's history; others still see it.")
            .ProducesErrors(401, 403, 404);

        conversations.MapGet("/{id}/messages/{seq}/receipts", async (string id, string seq, HttpContext context, MessagingService messaging) =>
            Results.Json(await messaging.ReceiptsAsync(context.Caller(), id, Seq(seq), context.RequestAborted), ParleyJson.Default.Receipts))
            .WithName("getReceipts").WithSummary("Who has read a message")
            .Returns<Receipts>(200, "The members who have read up to this message, and those who have not.")
            .ProducesErrors(401, 403, 404);
    }

    private static long Seq(string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seq) && seq > 0 ? seq : throw ApiException.NotFound("Message");

    /// <summary>An optional seq from the query (null when absent); the refusal when it is not a seq.</summary>
    private static Refusal? SeqQuery(HttpRequest request, string name, out long? seq)
    {
        seq = null;
        var text = request.Query[name].ToString();
        if (text.Length == 0)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            return Refusal.Invalid(name, "must be a seq (a whole number >= 0)");
        }

        seq = value;
        return null;
    }
}

/// <summary>JSON already serialized (a message's shared bytes), written as the body with its status.</summary>
internal sealed class JsonBytesResult(ReadOnlyMemory<byte> json, int statusCode) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = statusCode;
        httpContext.Response.ContentType = "application/json; charset=utf-8";
        httpContext.Response.ContentLength = json.Length;
        return httpContext.Response.Body.WriteAsync(json).AsTask();
    }
}
