using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Parley.Server.Events;

namespace Parley.Tests.Infrastructure;

/// <summary>Helpers for the friends, blocks and groups calls, so tests read as the contract does.</summary>
public static class SocialApi
{
    public static Task<HttpResponseMessage> Get(this ApiHost server, TestUser user, string path) =>
        server.Send(HttpMethod.Get, path, user.AccessToken);

    public static Task<HttpResponseMessage> Post(this ApiHost server, TestUser user, string path, JsonNode? body = null) =>
        server.Send(HttpMethod.Post, path, user.AccessToken, body);

    public static Task<HttpResponseMessage> Patch(this ApiHost server, TestUser user, string path, JsonNode body) =>
        server.Send(HttpMethod.Patch, path, user.AccessToken, body);

    public static Task<HttpResponseMessage> Put(this ApiHost server, TestUser user, string path) =>
        server.Send(HttpMethod.Put, path, user.AccessToken);

    public static Task<HttpResponseMessage> Delete(this ApiHost server, TestUser user, string path) =>
        server.Send(HttpMethod.Delete, path, user.AccessToken);

    /// <summary>The <c>id</c> member of a JSON object.</summary>
    public static string Id(this JsonNode node) => (string?)node["id"] ?? throw new InvalidOperationException($"no id in {node.ToJsonString()}");

    /// <summary>A wire id as the number notifications carry.</summary>
    public static long Wire(string id) => long.Parse(id, NumberStyles.None, CultureInfo.InvariantCulture);

    public static long Wire(this TestUser user) => Wire(user.Id);

    /// <summary>A JSON array of the users' ids.</summary>
    public static JsonArray IdArray(params TestUser[] users) => new(users.Select(u => (JsonNode?)JsonValue.Create(u.Id)).ToArray());

    public static JsonArray Strings(params string[] values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());

    /// <summary>Registers <paramref name="count"/> users, a few at a time.</summary>
    public static async Task<TestUser[]> RegisterManyAsync(this ApiHost server, int count, string prefix = "u")
    {
        var users = new TestUser[count];
        using var gate = new SemaphoreSlim(8);
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                users[i] = await server.RegisterAsync(Api.NewUsername(prefix));
            }
            finally
            {
                gate.Release();
            }
        }));
        return users;
    }

    /// <summary>Follows <c>nextCursor</c> from the first page to the last and returns every item.</summary>
    public static async Task<List<JsonNode>> AllItemsAsync(this ApiHost server, TestUser user, string path, int limit = 200)
    {
        var items = new List<JsonNode>();
        string? cursor = null;
        for (var page = 0; page < 10_000; page++)
        {
            var separator = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
            var url = FormattableString.Invariant($"{path}{separator}limit={limit}");
            if (cursor is not null)
            {
                url += "&cursor=" + Uri.EscapeDataString(cursor);
            }

            var json = await server.Get(user, url).Expect(HttpStatusCode.OK);
            var pageItems = json["items"]!.AsArray();
            Assert.True(pageItems.Count <= limit, $"a page of {pageItems.Count} items exceeds limit {limit}");
            items.AddRange(pageItems.Select(i => i!.DeepClone()));
            cursor = (string?)json["nextCursor"];
            if (cursor is null)
            {
                return items;
            }
        }

        throw new InvalidOperationException($"{path} never ended");
    }

    // ---- friends and blocks

    public static Task<HttpResponseMessage> RequestFriend(this ApiHost server, TestUser from, TestUser to, string? message = null)
    {
        var body = new JsonObject { ["userId"] = to.Id };
        if (message is not null)
        {
            body["message"] = message;
        }

        return server.Post(from, "/api/friends/requests", body);
    }

    /// <summary>Sends a new friend request and expects 201; returns the request.</summary>
    public static Task<JsonNode> SendFriendRequestAsync(this ApiHost server, TestUser from, TestUser to, string? message = null) =>
        server.RequestFriend(from, to, message).Expect(HttpStatusCode.Created);

    /// <summary><paramref name="a"/> asks, <paramref name="b"/> accepts.</summary>
    public static async Task MakeFriendsAsync(this ApiHost server, TestUser a, TestUser b)
    {
        var request = await server.SendFriendRequestAsync(a, b);
        var accepted = await server.Post(b, $"/api/friends/requests/{request.Id()}/accept").Expect(HttpStatusCode.OK);
        Assert.Equal("accepted", (string?)accepted["status"]);
    }

    /// <summary>Every entry of the user's friend list.</summary>
    public static Task<List<JsonNode>> FriendsAsync(this ApiHost server, TestUser user) => server.AllItemsAsync(user, "/api/friends");

    /// <summary>The user ids on the user's friend list, in list order.</summary>
    public static async Task<List<string>> FriendIdsAsync(this ApiHost server, TestUser user) =>
        (await server.FriendsAsync(user)).Select(f => f["user"]!.Id()).ToList();

    public static async Task<List<JsonNode>> PendingRequestsAsync(this ApiHost server, TestUser user, string direction) =>
        await server.AllItemsAsync(user, "/api/friends/requests?direction=" + direction);

    // ---- groups

    /// <summary>Creates a group (a random name unless given) with the given members; expects 201.</summary>
    public static Task<JsonNode> CreateGroupAsync(this ApiHost server, TestUser owner, JsonObject? options = null, params TestUser[] members)
    {
        var body = options is null ? new JsonObject() : options.DeepClone().AsObject();
        if (!body.ContainsKey("name"))
        {
            body["name"] = "group " + Guid.NewGuid().ToString("N")[..8];
        }

        if (members.Length > 0)
        {
            body["memberIds"] = IdArray(members);
        }

        return server.Post(owner, "/api/groups", body).Expect(HttpStatusCode.Created);
    }

    public static Task<JsonNode> GroupAsync(this ApiHost server, TestUser user, string groupId) =>
        server.Get(user, $"/api/groups/{groupId}").Expect(HttpStatusCode.OK);

    public static Task<List<JsonNode>> MembersAsync(this ApiHost server, TestUser user, string groupId, int limit = 200) =>
        server.AllItemsAsync(user, $"/api/groups/{groupId}/members", limit);

    /// <summary>The role of <paramref name="member"/> as the member list shows it; null when not a member.</summary>
    public static async Task<string?> RoleAsync(this ApiHost server, TestUser viewer, string groupId, TestUser member) =>
        (await server.MembersAsync(viewer, groupId)).Where(m => m["user"]!.Id() == member.Id).Select(m => (string?)m["role"]).SingleOrDefault();

    public static Task<JsonNode> JoinAsync(this ApiHost server, TestUser user, string groupId, string? message = null)
    {
        var body = new JsonObject();
        if (message is not null)
        {
            body["message"] = message;
        }

        return server.Post(user, $"/api/groups/{groupId}/join", body).Expect(HttpStatusCode.OK);
    }

    /// <summary>The owner makes <paramref name="member"/> an admin.</summary>
    public static Task<JsonNode> PromoteAsync(this ApiHost server, TestUser owner, string groupId, TestUser member) =>
        server.Patch(owner, $"/api/groups/{groupId}/members/{member.Id}", new JsonObject { ["role"] = "admin" }).Expect(HttpStatusCode.OK);

    public static async Task<List<string>> MineAsync(this ApiHost server, TestUser user) =>
        (await server.AllItemsAsync(user, "/api/groups/mine")).Select(g => g.Id()).ToList();

    // ---- notifications

    /// <summary>A string member of the event's data (an id), or null.</summary>
    public static string? Str(this Notification notification, string name) =>
        notification.Data.ValueKind == JsonValueKind.Object && notification.Data.TryGetProperty(name, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Number => value.GetRawText(),
                JsonValueKind.Object when value.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String => id.GetString(),
                _ => null,
            }
            : null;

    /// <summary>The data as a JsonNode, for reading nested members.</summary>
    public static JsonNode DataNode(this Notification notification) =>
        JsonNode.Parse(notification.Data.GetRawText()) ?? throw new InvalidOperationException("null data");

    /// <summary>Asserts the event went to exactly these users.</summary>
    public static void AssertRecipients(this Notification notification, params TestUser[] users) =>
        Assert.Equal(users.Select(u => u.Wire()).Distinct().Order(), notification.UserIds.Order());
}
