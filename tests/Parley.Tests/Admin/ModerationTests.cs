using System.Net;
using System.Text.Json.Nodes;
using Parley.Server.Moderation;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Admin;

/// <summary>The matcher itself: pure, no server.</summary>
public sealed class BlockedWordsTests
{
    [Fact]
    public void Matches_case_insensitively_with_word_boundaries_for_spaced_scripts_only()
    {
        var words = new BlockedWords(["Ass", "bad phrase", "坏话", "ДУРАК", "  ", "# not special here"]);
        Assert.Equal(5, words.Count);
        Assert.True(words.Matches("you ASS!"));
        Assert.False(words.Matches("first class"));
        Assert.False(words.Matches("assassin"));
        Assert.True(words.Matches("a Bad Phrase."));
        Assert.False(words.Matches("a bad phrases"));
        Assert.True(words.Matches("你说的是坏话吧"));
        Assert.True(words.Matches("ты дурак"));
        Assert.False(words.Matches(""));
        Assert.False(BlockedWords.Empty.Matches("anything"));
    }

    [Fact]
    public void Masks_each_character_and_a_surrogate_pair_as_one()
    {
        var words = new BlockedWords(["ass", "坏话", "😀x", "ab", "abc"]);
        Assert.Equal("*** and *** but class", words.Mask("ass and ASS but class"));
        Assert.Equal("你说的是**吧", words.Mask("你说的是坏话吧"));
        Assert.Equal("say ** now", words.Mask("say 😀x now"));
        // Overlapping and nested words: the union is masked.
        Assert.Equal("***", words.Mask("abc"));
        var same = "nothing here";
        Assert.Same(same, words.Mask(same));
    }

    [Fact]
    public void Overlapping_words_through_fail_links_are_all_found()
    {
        var words = new BlockedWords(["he", "she", "his", "hers"]);
        Assert.True(words.Matches("ushers are here: she"));
        Assert.Equal("*** ** ****", words.Mask("she he hers"));
        var cjk = new BlockedWords(["中国人", "国人民"]);
        Assert.Equal("****的", cjk.Mask("中国人民的"));
    }

    [Fact]
    public void A_ten_thousand_word_list_with_odd_unicode_builds_and_matches()
    {
        var random = new Random(15);
        var list = new List<string>();
        for (var i = 0; i < 10_000; i++)
        {
            var chars = new char[random.Next(2, 12)];
            for (var j = 0; j < chars.Length; j++)
            {
                chars[j] = (char)random.Next(0x4E00, 0x9FFF);
            }

            list.Add(new string(chars));
        }

        list.Add("\uD800"); // a lone surrogate: kept as a word, never a crash
        list.Add("e\u0301"); // a combining accent
        list.Add("\u202Eevil");
        var words = new BlockedWords(list);
        Assert.True(words.Count >= 10_000);
        Assert.True(words.Matches("xx" + list[1234] + "yy"));
        Assert.Equal(new string('*', list[42].Length), words.Mask(list[42]));
        Assert.True(words.Matches("a e\u0301 b"));
        Assert.False(words.Matches("cafe\u0301")); // "e" starts a Latin word: a boundary is needed before it
        words.Mask(new string('\uDC00', 100));
    }
}

public sealed class ModerationTestsSqlite() : ModerationTests(Backend.Sqlite);

public sealed class ModerationTestsPostgres() : ModerationTests(Backend.Postgres);

/// <summary>Mask mode and reloading the file, each on a server of its own.</summary>
public abstract class ModerationTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Mask_mode_replaces_each_character_in_text_nicknames_and_group_names()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var file = Path.Combine(store.DataDir, "words.txt");
        await File.WriteAllLinesAsync(file, ["darn", "坏话", "😀😀"]);
        await using var server = await ParleyServer.StartAsync(store, null, $"--Moderation:BlockedWords={file}", "--Moderation:Action=mask");
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        var sent = await server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["type"] = "text",
            ["content"] = new JsonObject { ["text"] = "DARN it, 坏话 and 😀😀!", ["extra"] = 7 },
        }).Expect(HttpStatusCode.Created);
        Assert.Equal("**** it, ** and **!", (string?)sent["content"]!["text"]);
        Assert.Equal(7, (int)sent["content"]!["extra"]!);
        var stored = Assert.Single(await server.CatchUpAsync(b, conversationId));
        Assert.Equal("**** it, ** and **!", (string?)stored["content"]!["text"]);

        var me = await server.Patch(a, "/api/users/me", new JsonObject { ["nickname"] = "Darn Dan" }).Expect(HttpStatusCode.OK);
        Assert.Equal("**** Dan", (string?)me["nickname"]);
        var group = await server.CreateGroupAsync(a, new JsonObject { ["name"] = "坏话 club", ["announcement"] = "no darn spam" });
        Assert.Equal("** club", (string?)group["name"]);
        Assert.Equal("no **** spam", (string?)group["announcement"]);
    }

    [Fact]
    public async Task The_file_is_reloaded_when_it_changes_and_a_deleted_file_keeps_the_last_list()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var file = Path.Combine(store.DataDir, "words.txt");
        await File.WriteAllLinesAsync(file, ["first"]);
        await using var server = await ParleyServer.StartAsync(store, null, $"--Moderation:BlockedWords={file}", "--Moderation:ReloadCheckSeconds=1");
        var (a, _, conversationId) = await server.FriendsWithConversationAsync();
        await server.SendText(a, conversationId, "first").ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        await server.SendTextAsync(a, conversationId, "second");

        await File.WriteAllLinesAsync(file, ["second"]);
        // The reload is announced by nothing a client sees: poll the behaviour.
        await Poll.UntilAsync(async () => (await server.SendText(a, conversationId, "second")).StatusCode == HttpStatusCode.Forbidden, "the new list is used");
        await server.SendTextAsync(a, conversationId, "first");

        File.Delete(file);
        var moderator = server.Service<Moderator>();
        moderator.Reload(force: true);
        await server.SendText(a, conversationId, "second").ExpectProblem(HttpStatusCode.Forbidden, "rejected");

        // Unreadable garbage and a huge file are no crash either.
        await File.WriteAllBytesAsync(file, [0xFF, 0xFE, 0x00, 0xD8, 0x41, 0x00, 0x0A, 0x00]);
        moderator.Reload(force: true);
        var lines = Enumerable.Range(0, 10_000).Select(i => "w" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "字").Append("third");
        await File.WriteAllLinesAsync(file, lines);
        moderator.Reload(force: true);
        Assert.True(moderator.WordCount >= 10_001);
        await server.SendText(a, conversationId, "third time").ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        await server.SendText(a, conversationId, "w9999字").ExpectProblem(HttpStatusCode.Forbidden, "rejected");
    }

    [Fact]
    public async Task A_missing_file_at_startup_filters_nothing_until_it_appears()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var file = Path.Combine(store.DataDir, "later.txt");
        await using var server = await ParleyServer.StartAsync(store, null, $"--Moderation:BlockedWords={file}", "--Moderation:ReloadCheckSeconds=1");
        var (a, _, conversationId) = await server.FriendsWithConversationAsync();
        await server.SendTextAsync(a, conversationId, "later");
        await File.WriteAllLinesAsync(file, ["later"]);
        await Poll.UntilAsync(async () => (await server.SendText(a, conversationId, "later")).StatusCode == HttpStatusCode.Forbidden, "the file that appeared is used");
    }

    [Fact]
    public async Task Without_keys_every_admin_call_is_404()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store);
        await server.Admin(HttpMethod.Get, "/api/admin/stats").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = Api.NewUsername() }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Admin(HttpMethod.Get, "/api/admin/users", key: null).ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task A_short_key_fails_the_start()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ParleyServer.StartAsync(store, null, "--Admin:ApiKeys:0=short"));
        Assert.Contains("Admin:ApiKeys", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("short", e.Message.Replace("shorter", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task A_blank_key_among_good_ones_fails_the_start(string blank)
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ParleyServer.StartAsync(store, null, "--Admin:ApiKeys:0=a-good-key-0123456789abcdef", $"--Admin:ApiKeys:1={blank}"));
        Assert.Contains("Admin:ApiKeys", e.Message, StringComparison.Ordinal);
        Assert.Contains("empty", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("a-good-key", e.Message, StringComparison.Ordinal);
    }
}
