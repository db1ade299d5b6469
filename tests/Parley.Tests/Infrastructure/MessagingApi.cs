using System.Net;
using System.Text.Json.Nodes;

namespace Parley.Tests.Infrastructure;

/// <summary>Helpers for conversations and messages over HTTP.</summary>
public static class MessagingApi
{
    public static async Task<string> DirectAsync(this ApiHost server, TestUser user, TestUser peer) =>
        (await server.Post(user, "/api/conversations/direct", new JsonObject { ["userId"] = peer.Id }).Expect(HttpStatusCode.OK)).Id();

    /// <summary>Two new users who are friends, and their direct conversation.</summary>
    public static async Task<(TestUser A, TestUser B, string ConversationId)> FriendsWithConversationAsync(this ApiHost server)
    {
        var a = await server.RegisterAsync();
        var b = await server.RegisterAsync();
        await server.MakeFriendsAsync(a, b);
        return (a, b, await server.DirectAsync(a, b));
    }

    public static Task<HttpResponseMessage> SendText(this ApiHost server, TestUser user, string conversationId, string text, string? clientMsgId = null) =>
        server.Post(user, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = clientMsgId ?? Guid.NewGuid().ToString("N"),
            ["type"] = "text",
            ["content"] = new JsonObject { ["text"] = text },
        });

    public static async Task<JsonNode> SendTextAsync(this ApiHost server, TestUser user, string conversationId, string text, string? clientMsgId = null) =>
        await server.SendText(user, conversationId, text, clientMsgId).Expect(HttpStatusCode.Created);

    public static Task<JsonNode> ConversationAsync(this ApiHost server, TestUser user, string conversationId) =>
        server.Get(user, $"/api/conversations/{conversationId}").Expect(HttpStatusCode.OK);

    /// <summary>Every message after <paramref name="afterSeq"/>, paging with after= as a client catching up does.</summary>
    public static async Task<List<JsonNode>> CatchUpAsync(this ApiHost server, TestUser user, string conversationId, long afterSeq = 0, int limit = 200)
    {
        var all = new List<JsonNode>();
        for (var page = 0; page < 10_000; page++)
        {
            var json = await server.Get(user, $"/api/conversations/{conversationId}/messages?after={afterSeq}&limit={limit}").Expect(HttpStatusCode.OK);
            var items = json["items"]!.AsArray().Select(i => i!.DeepClone()).ToList();
            all.AddRange(items);
            if (!(bool)json["hasMore"]!)
            {
                return all;
            }

            afterSeq = (long)items[^1]["seq"]!;
        }

        throw new InvalidOperationException("too many pages");
    }

    public static long Seq(this JsonNode message) => (long)message["seq"]!;
}
