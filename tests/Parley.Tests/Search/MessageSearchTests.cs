using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Search;

public sealed class MessageSearchTestsSqlite(SqliteFixture fixture) : MessageSearchTests(fixture), IClassFixture<SqliteFixture>;

public sealed class MessageSearchTestsPostgres(PostgresFixture fixture) : MessageSearchTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>
/// <c>GET /api/search/messages</c> (contract "Search", docs/search.md): substring matches in Chinese, Japanese and
/// mixed-case Latin, wildcards and quotes taken literally, 2-character queries, and only what the caller may see.
/// </summary>
public abstract class MessageSearchTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task Chinese_Japanese_and_mixed_case_Latin_text_is_found_by_substring()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, conversationId, "今天我们去北京吃烤鸭");
        await Server.SendTextAsync(b, conversationId, "東京で日本語のテキストを書きます");
        await Server.SendTextAsync(a, conversationId, "Hello PaRLeY World");
        await Server.SendTextAsync(a, conversationId, "nothing to see");

        Assert.Equal(["今天我们去北京吃烤鸭"], await TextsAsync(b, "北京吃烤"));
        Assert.Equal(["今天我们去北京吃烤鸭"], await TextsAsync(a, "去北京"));
        Assert.Equal(["東京で日本語のテキストを書きます"], await TextsAsync(a, "日本語のテキスト"));
        Assert.Equal(["東京で日本語のテキストを書きます"], await TextsAsync(b, "テキスト"));
        Assert.Equal(["Hello PaRLeY World"], await TextsAsync(b, "parley w"));
        Assert.Equal(["Hello PaRLeY World"], await TextsAsync(b, "HELLO"));
        Assert.Equal(["Hello PaRLeY World"], await TextsAsync(b, "lo pARl"));
        Assert.Empty(await TextsAsync(b, "北京烤鸭")); // not a substring
        Assert.Empty(await TextsAsync(b, "parley  world"));

        // A result is a whole message of the contract's shape.
        var hit = (await SearchAsync(b, "北京吃"))["items"]!.AsArray().Single()!;
        Assert.Equal(conversationId, (string?)hit["conversationId"]);
        Assert.Equal(1, hit.Seq());
        Assert.Equal(a.Id, (string?)hit["senderId"]);
        Assert.Equal("text", (string?)hit["type"]);
        Assert.False((bool)hit["recalled"]!);
    }

    [Fact]
    public async Task Every_trigram_of_the_query_in_a_text_is_not_enough_it_must_hold_the_query()
    {
        // SQLite's index (detail=none) knows which messages hold each trigram, not where: these hold every trigram of
        // the query, apart, and must not be found; the one that holds it, in another case, is.
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, conversationId, "abcd then bcde");
        await Server.SendTextAsync(a, conversationId, "北京吃了 京吃烤鸭");
        await Server.SendTextAsync(a, conversationId, "x ABCDE y");

        Assert.Equal(["x ABCDE y"], await TextsAsync(b, "abcde"));
        Assert.Empty(await TextsAsync(b, "北京吃烤"));
        Assert.Equal(["北京吃了 京吃烤鸭"], await TextsAsync(b, "京吃烤"));
        Assert.Equal(["abcd then bcde"], await TextsAsync(b, "d then b"));
    }

    [Fact]
    public async Task Wildcards_backslashes_and_quotes_in_the_query_match_literally()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, conversationId, "100% sure_thing");
        await Server.SendTextAsync(a, conversationId, "1000 sure thing"); // what % and _ would match as wildcards
        await Server.SendTextAsync(a, conversationId, "she said \"quoted\" and it's done");
        await Server.SendTextAsync(a, conversationId, @"path C:\temp\x");
        await Server.SendTextAsync(a, conversationId, @"path C:temp");

        Assert.Equal(["100% sure_thing"], await TextsAsync(b, "0% sure"));
        Assert.Equal(["100% sure_thing"], await TextsAsync(b, "e_t"));
        Assert.Equal(["100% sure_thing"], await TextsAsync(b, "%"  + " su"));
        Assert.Empty(await TextsAsync(b, "1%0"));
        Assert.Equal(["she said \"quoted\" and it's done"], await TextsAsync(b, "\"quoted\""));
        Assert.Equal(["she said \"quoted\" and it's done"], await TextsAsync(b, "it's"));
        Assert.Equal(["she said \"quoted\" and it's done"], await TextsAsync(b, "\" and"));
        Assert.Equal([@"path C:\temp\x"], await TextsAsync(b, @"C:\temp"));
        Assert.Equal([@"path C:\temp\x"], await TextsAsync(b, @":\t"));
        Assert.Empty(await TextsAsync(b, "e*t"));
        Assert.Empty(await TextsAsync(b, "NEAR(a b)"));

        // Two characters: the short-query scan takes them literally too.
        Assert.Equal(["100% sure_thing"], await TextsAsync(b, "0%"));
        Assert.Equal(["100% sure_thing"], await TextsAsync(b, "e_"));
        Assert.Equal([@"path C:\temp\x"], await TextsAsync(b, @":\"));
        Assert.Equal(["she said \"quoted\" and it's done"], await TextsAsync(b, "'s"));
    }

    [Fact]
    public async Task Two_character_queries_are_found_and_shorter_ones_are_refused()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, conversationId, "我们去北京");
        await Server.SendTextAsync(b, conversationId, "日本");
        await Server.SendTextAsync(a, conversationId, "Hello there");
        await Server.SendTextAsync(a, conversationId, "ok");

        Assert.Equal(["我们去北京"], await TextsAsync(b, "北京"));
        Assert.Equal(["日本"], await TextsAsync(a, "日本"));
        Assert.Equal(["Hello there"], await TextsAsync(b, "LO"));
        Assert.Equal(["ok"], await TextsAsync(b, "Ok"));
        Assert.Empty(await TextsAsync(b, "京我"));

        await Server.Get(b, "/api/search/messages?q=a").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(b, "/api/search/messages?q=" + Uri.EscapeDataString("京")).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(b, "/api/search/messages").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(b, "/api/search/messages?q=%20%20").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(b, "/api/search/messages?q=" + new string('x', 257)).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(b, "/api/search/messages?q=ab%00").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task A_stranger_finds_nothing_and_cannot_search_a_conversation_they_are_not_in()
    {
        var (a, _, conversationId) = await Server.FriendsWithConversationAsync();
        var word = "secret" + Guid.NewGuid().ToString("N")[..8];
        await Server.SendTextAsync(a, conversationId, "the " + word + " plan");
        await Server.SendTextAsync(a, conversationId, "秘密计划");
        var stranger = await Server.RegisterAsync();

        Assert.Empty(await TextsAsync(stranger, word));
        Assert.Empty(await TextsAsync(stranger, "秘密计划"));
        Assert.Empty(await TextsAsync(stranger, "秘密"));
        Assert.Single(await TextsAsync(a, word));

        // Scoped to a conversation the stranger is not in: the answer history gives them.
        var history = await Server.Get(stranger, $"/api/conversations/{conversationId}/messages?after=0");
        var search = await Server.Get(stranger, $"/api/search/messages?q={word}&conversationId={conversationId}");
        Assert.Equal(history.StatusCode, search.StatusCode);
        Assert.True(search.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound, search.StatusCode.ToString());

        var group = await Server.CreateGroupAsync(a, new JsonObject { ["visibility"] = "private" });
        await Server.SendTextAsync(a, (string)group["conversationId"]!, "private " + word);
        await Server.Get(stranger, $"/api/search/messages?q={word}&conversationId={(string)group["conversationId"]!}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Get(stranger, $"/api/search/messages?q={word}&conversationId=123456").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Get(stranger, $"/api/search/messages?q={word}&conversationId=nope").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Members_find_only_their_membership_window()
    {
        var owner = await Server.RegisterAsync();
        var leaver = await Server.RegisterAsync();
        var late = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, null, leaver);
        var groupId = group.Id();
        var conversationId = (string)group["conversationId"]!;
        await Server.SendTextAsync(owner, conversationId, "window one 窗口");
        await Server.Post(owner, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(late) }).Expect(HttpStatusCode.OK);
        await Server.SendTextAsync(owner, conversationId, "window two 窗口");
        await Server.Post(leaver, $"/api/groups/{groupId}/leave").Expect(HttpStatusCode.NoContent);
        await Server.SendTextAsync(owner, conversationId, "window three 窗口");

        Assert.Equal(["window three 窗口", "window two 窗口", "window one 窗口"], await TextsAsync(owner, "window"));
        // Joined after the first message: from the join on, as history shows it.
        Assert.Equal(["window three 窗口", "window two 窗口"], await TextsAsync(late, "window"));
        Assert.Equal(["window three 窗口", "window two 窗口"], await TextsAsync(late, "窗口"));
        // Left: nothing after leaving (and, as with history, a former member reads nothing of the conversation).
        Assert.Empty(await TextsAsync(leaver, "window"));
        Assert.Empty(await TextsAsync(leaver, "窗口"));
        Assert.Empty(await TextsAsync(leaver, "three"));
    }

    [Fact]
    public async Task Recalled_and_deleted_for_me_messages_are_not_found()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, conversationId, "recall this 撤回消息");
        await Server.SendTextAsync(a, conversationId, "hide this 隐藏消息");
        Assert.Single(await TextsAsync(b, "recall this"));
        Assert.Single(await TextsAsync(b, "撤回"));

        await Server.Post(a, $"/api/conversations/{conversationId}/messages/1/recall").Expect(HttpStatusCode.OK);
        Assert.Empty(await TextsAsync(b, "recall this"));
        Assert.Empty(await TextsAsync(a, "recall this"));
        Assert.Empty(await TextsAsync(b, "撤回消息"));
        Assert.Empty(await TextsAsync(b, "撤回"));

        await Server.Delete(b, $"/api/conversations/{conversationId}/messages/2").Expect(HttpStatusCode.NoContent);
        Assert.Empty(await TextsAsync(b, "hide this"));
        Assert.Empty(await TextsAsync(b, "隐藏"));
        Assert.Equal(["hide this 隐藏消息"], await TextsAsync(a, "hide this"));
    }

    [Fact]
    public async Task Results_are_paged_newest_first_and_can_be_scoped_to_one_conversation()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var c = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(a, c);
        var other = await Server.DirectAsync(a, c);
        for (var i = 1; i <= 7; i++)
        {
            await Server.SendTextAsync(i % 2 == 0 ? b : a, conversationId, $"page item {i} 分页");
        }

        await Server.SendTextAsync(a, other, "page item elsewhere 分页");

        foreach (var query in new[] { "page item", "分页" })
        {
            var seen = new List<string>();
            string? cursor = null;
            var pages = 0;
            do
            {
                var page = await SearchAsync(b, query, limit: 3, cursor: cursor);
                var items = page["items"]!.AsArray();
                Assert.InRange(items.Count, 1, 3);
                seen.AddRange(items.Select(m => (string)m!["content"]!["text"]!));
                cursor = (string?)page["nextCursor"];
                pages++;
            }
            while (cursor is not null && pages < 10);

            Assert.Equal(3, pages);
            Assert.Equal(Enumerable.Range(1, 7).Reverse().Select(i => $"page item {i} 分页"), seen);
        }

        // a sees both conversations; scoped, one only.
        Assert.Equal(8, (await TextsAsync(a, "page item")).Count);
        Assert.Equal(["page item elsewhere 分页"], await TextsAsync(a, "page item", other));
        Assert.Equal(["page item elsewhere 分页"], await TextsAsync(a, "分页", other));
        Assert.Equal(7, (await TextsAsync(a, "分页", conversationId)).Count);

        await Server.Get(b, "/api/search/messages?q=page&limit=0").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(b, "/api/search/messages?q=page&limit=x").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(b, "/api/search/messages?q=page&cursor=bogus").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(b, "/api/search/messages?q=page&cursor=1.2.3.4").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        // limit over 200 is clamped, as every list is
        Assert.Equal(7, (await SearchAsync(b, "page item", limit: 100000))["items"]!.AsArray().Count);
    }

    [Fact]
    public async Task File_names_are_searched_and_other_types_are_not()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var file = await Server.UploadAsync(a, "quarterly numbers"u8.ToArray(), "Quarterly-Report 季度报告.txt");
        await Server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["type"] = "file",
            ["content"] = new JsonObject { ["fileId"] = file.Id(), ["name"] = "Quarterly-Report 季度报告.txt", ["size"] = 17 },
        }).Expect(HttpStatusCode.Created);
        await Server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["type"] = "custom",
            ["content"] = new JsonObject { ["text"] = "quarterly custom" },
        }).Expect(HttpStatusCode.Created);

        var hits = (await SearchAsync(b, "quarterly-rep"))["items"]!.AsArray();
        Assert.Equal("file", (string?)Assert.Single(hits)!["type"]);
        Assert.Single((await SearchAsync(b, "季度报告"))["items"]!.AsArray());
        Assert.Single((await SearchAsync(b, "季度"))["items"]!.AsArray());
        Assert.Single((await SearchAsync(b, "quarterly"))["items"]!.AsArray());
    }

    private async Task<JsonNode> SearchAsync(TestUser user, string query, string? conversationId = null, int? limit = null, string? cursor = null)
    {
        var path = "/api/search/messages?q=" + Uri.EscapeDataString(query)
            + (conversationId is null ? "" : "&conversationId=" + conversationId)
            + (limit is null ? "" : "&limit=" + limit)
            + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor));
        return await Server.Get(user, path).Expect(HttpStatusCode.OK);
    }

    /// <summary>The texts of every match, newest first (all pages).</summary>
    private async Task<List<string>> TextsAsync(TestUser user, string query, string? conversationId = null)
    {
        var texts = new List<string>();
        string? cursor = null;
        for (var page = 0; page < 100; page++)
        {
            var json = await SearchAsync(user, query, conversationId, cursor: cursor);
            texts.AddRange(json["items"]!.AsArray().Select(m => (string)m!["content"]!["text"]!));
            cursor = (string?)json["nextCursor"];
            if (cursor is null)
            {
                return texts;
            }
        }

        throw new InvalidOperationException("too many pages");
    }
}
