using System.Globalization;
using Parley.Protocol;
using Parley.Server.Accounts;
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
        }).Accepts<DirectBody>("application/json").Produces<ConversationDto>().ProducesErrors(400, 401, 403, 404, 415);

        conversations.MapGet("/", async (HttpContext context, MessagingService messaging) =>
        {
            var (limit, cursor) = context.Request.ReadPaging();
            return Results.Json(await messaging.ListAsync(context.Caller(), limit, cursor, context.RequestAborted), ParleyJson.Default.ListResponseConversationDto);
        }).Produces<ListResponse<ConversationDto>>().ProducesErrors(400, 401);

        conversations.MapGet("/{id}", async (string id, HttpContext context, MessagingService messaging) =>
            Results.Json(await messaging.GetAsync(context.Caller(), id, context.RequestAborted), ParleyJson.Default.ConversationDto))
            .Produces<ConversationDto>().ProducesErrors(401, 403, 404);

        conversations.MapPatch("/{id}", async (string id, HttpContext context, MessagingService messaging) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.ConversationPatch);
            return Results.Json(await messaging.PatchAsync(context.Caller(), id, body, context.RequestAborted), ParleyJson.Default.ConversationDto);
        }).Accepts<ConversationPatch>("application/json").Produces<ConversationDto>().ProducesErrors(400, 401, 404, 415, 429);

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
        }).Produces<MessagePage>().ProducesErrors(400, 401, 403, 404);

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
        }).Accepts<SendMessageBody>("application/json").Produces<MessageDto>(201).Produces<MessageDto>().ProducesErrors(400, 401, 403, 404, 413, 415, 429);

        conversations.MapPost("/{id}/read", async (string id, HttpContext context, MessagingService messaging) =>
        {
            var body = await context.Request.ReadJsonAsync(ParleyJson.Default.ReadBody);
            return await messaging.MarkReadAsync(context.Caller(), id, body, context.RequestAborted) is { } refusal
                ? new ProblemResult(refusal)
                : Results.NoContent();
        }).Accepts<ReadBody>("application/json").Produces(204).ProducesErrors(400, 401, 403, 404, 415);

        conversations.MapPost("/{id}/messages/{seq}/recall", async (string id, string seq, HttpContext context, MessagingService messaging) =>
            Results.Json(await messaging.RecallAsync(context.Caller(), id, Seq(seq), context.RequestAborted), ParleyJson.Default.MessageDto))
            .Produces<MessageDto>().ProducesErrors(401, 403, 404);

        conversations.MapDelete("/{id}/messages/{seq}", async (string id, string seq, HttpContext context, MessagingService messaging) =>
        {
            await messaging.DeleteForMeAsync(context.Caller(), id, Seq(seq), context.RequestAborted);
            return Results.NoContent();
        }).Produces(204).ProducesErrors(401, 403, 404);

        conversations.MapGet("/{id}/messages/{seq}/receipts", async (string id, string seq, HttpContext context, MessagingService messaging) =>
            Results.Json(await messaging.ReceiptsAsync(context.Caller(), id, Seq(seq), context.RequestAborted), ParleyJson.Default.Receipts))
            .Produces<Receipts>().ProducesErrors(401, 403, 404);
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
