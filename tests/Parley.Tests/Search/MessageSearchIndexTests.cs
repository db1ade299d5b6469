using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Parley.Storage;
using Parley.Storage.Migrations;
using Parley.Storage.Search;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Search;

public sealed class MessageSearchIndexTestsSqlite() : MessageSearchIndexTests(Backend.Sqlite);

public sealed class MessageSearchIndexTestsPostgres() : MessageSearchIndexTests(Backend.Postgres);

/// <summary>
/// The search index kept in step with messages (docs/search.md): what retention, recall and a dissolved group
/// remove is neither found nor left in the index (on SQLite the FTS5 table is read directly; PostgreSQL's
/// expression index holds no copy of its own to leave behind).
/// </summary>
public abstract class MessageSearchIndexTests(Backend backend) : OwnServerTests(backend)
{
    private const string LongTokens = "--Auth:AccessTokenMinutes=10000000";

    [Fact]
    public async Task Messages_past_retention_are_not_found_before_or_after_the_sweep()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, "--Messaging:RetentionDays=2", LongTokens);
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        await server.SendTextAsync(a, conversationId, "expiring 过期消息 one");
        time.Advance(TimeSpan.FromDays(1.5));
        await server.SendTextAsync(a, conversationId, "expiring 过期消息 two");
        Assert.Equal(2, await CountAsync(server, b, "过期消息"));
        Assert.Equal(2, await IndexedAsync(server, "过期消息"));

        // Past retention and not yet swept: not found.
        time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(["expiring 过期消息 two"], await TextsAsync(server, b, "expiring"));
        Assert.Equal(["expiring 过期消息 two"], await TextsAsync(server, b, "过期"));

        Assert.Equal(1, await server.Service<Parley.Server.Messaging.RetentionSweeper>().SweepOnceAsync());
        Assert.Equal(["expiring 过期消息 two"], await TextsAsync(server, b, "expiring"));
        Assert.Equal(1, await IndexedAsync(server, "过期消息"));
    }

    [Fact]
    public async Task Recall_and_a_dissolved_group_leave_nothing_in_the_index_and_a_retry_indexes_once()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store);
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        var word = "idx" + Guid.NewGuid().ToString("N")[..10];
        await server.SendTextAsync(a, conversationId, word + " recalled", "retry-1");
        await server.SendText(a, conversationId, word + " recalled", "retry-1").Expect(HttpStatusCode.OK);
        Assert.Equal(1, await IndexedAsync(server, word));
        await server.Post(a, $"/api/conversations/{conversationId}/messages/1/recall").Expect(HttpStatusCode.OK);
        Assert.Equal(0, await IndexedAsync(server, word));
        Assert.Equal(0, await CountAsync(server, b, word));

        var group = await server.CreateGroupAsync(a, null, b);
        var groupConversation = (string)group["conversationId"]!;
        await server.SendTextAsync(a, groupConversation, word + " in a group");
        await server.SendTextAsync(b, groupConversation, word + " again");
        Assert.Equal(2, await CountAsync(server, b, word));
        Assert.Equal(2, await IndexedAsync(server, word));
        await server.Delete(a, $"/api/groups/{group.Id()}").Expect(HttpStatusCode.NoContent);
        Assert.Equal(0, await CountAsync(server, b, word));
        Assert.Equal(0, await IndexedAsync(server, word));
    }

    /// <summary>SQLite: entries of the FTS5 table holding every trigram of <paramref name="text"/> (a unique text: its messages); PostgreSQL: the searchable messages holding it.</summary>
    private async Task<long> IndexedAsync(ParleyServer server, string text)
    {
        await using var connection = await server.Service<Database>().OpenAsync();
        return Backend == Backend.Sqlite
            ? await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM message_search WHERE message_search MATCH @q", new { q = Parley.Storage.Search.MessageSearchStore.SqliteMatch(text) })
            : await connection.ExecuteScalarAsync<long>(
                "SELECT COUNT(*) FROM messages WHERE content IS NOT NULL AND type IN ('text', 'file', 'link', 'location') AND parley_search_text(type, content) ILIKE @q",
                new { q = "%" + text + "%" });
    }

    private static async Task<int> CountAsync(ParleyServer server, TestUser user, string q) => (await TextsAsync(server, user, q)).Count;

    private static async Task<List<string>> TextsAsync(ParleyServer server, TestUser user, string q)
    {
        var json = await server.Get(user, "/api/search/messages?limit=200&q=" + Uri.EscapeDataString(q)).Expect(HttpStatusCode.OK);
        Assert.Null((string?)json["nextCursor"]);
        return json["items"]!.AsArray().Select(m => (string)m!["content"]!["text"]!).ToList();
    }
}

/// <summary>
/// SQLite only (PostgreSQL's index is unchanged): a database whose index migration 0014 built (positions, and an
/// insert trigger) is rebuilt by migration 0016 from its messages, and recall still removes what 0016 indexed.
/// </summary>
public sealed class MessageSearchUpgradeTests() : OwnServerTests(Backend.Sqlite)
{
    [Fact]
    public async Task Migration_0016_reindexes_the_messages_of_a_database_indexed_by_0014()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        TestUser a, b;
        string conversationId;
        await using (var server = await ParleyServer.StartAsync(store))
        {
            (a, b, conversationId) = await server.FriendsWithConversationAsync();
            await server.SendTextAsync(a, conversationId, "upgrade 旧消息 one");
            await server.SendTextAsync(b, conversationId, "Upgrade 旧消息 two");
            await server.SendTextAsync(a, conversationId, "unrelated");
        }

        // Back to version 15: 0014's index (its definition, insert trigger and fill from messages), no record of 16.
        await using var database = store.OpenDatabase();
        var v14 = MigrationRunner.Load(database.Provider).Single(m => m.Version == 14);
        await using (var connection = await database.OpenAsync())
        {
            await connection.ExecuteAsync(
                "DROP TRIGGER messages_search_update; DROP TRIGGER messages_search_delete; " +
                "DROP TABLE message_search; DELETE FROM schema_migrations WHERE version = 16;");
            await connection.ExecuteAsync(v14.Sql);
            Assert.Equal(2, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM message_search WHERE message_search MATCH '\"旧消息\"'"));
        }

        Assert.Equal([16], await MigrationRunner.ApplyAsync(database));
        var search = new MessageSearchStore(database);
        var reader = long.Parse(b.Id, System.Globalization.CultureInfo.InvariantCulture);
        async Task<List<string>> FoundAsync(string q) =>
            (await search.SearchAsync(reader, null, q, SearchPosition.Start, 50, 1 << 20, 0, 2000, CancellationToken.None)).Rows
                .Select(r => (string)JsonNode.Parse(r.Content!)!["text"]!).ToList();

        Assert.Equal(["Upgrade 旧消息 two", "upgrade 旧消息 one"], await FoundAsync("旧消息"));
        Assert.Equal(2, (await FoundAsync("UPGRADE")).Count);
        await using (var connection = await database.OpenAsync())
        {
            var match = new { q = MessageSearchStore.SqliteMatch("旧消息") };
            Assert.Equal(2, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM message_search WHERE message_search MATCH @q", match));
            Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'messages_search_insert'"));

            // A recall after the upgrade: its entry goes (the trigger's 'delete' with the text 0016 indexed).
            await connection.ExecuteAsync(
                "UPDATE messages SET content = NULL, recalled_at = 1, recalled_by = sender_id WHERE conversation_id = @c AND json_extract(content, '$.text') = 'upgrade 旧消息 one'",
                new { c = long.Parse(conversationId, System.Globalization.CultureInfo.InvariantCulture) });
            Assert.Equal(1, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM message_search WHERE message_search MATCH @q", match));
        }

        Assert.Equal(["Upgrade 旧消息 two"], await FoundAsync("旧消息"));

        // Content changed to other content (no API does it; the trigger must still leave exactly the new entry, the
        // trigrams it shares with the old text included).
        await using (var connection = await database.OpenAsync())
        {
            await connection.ExecuteAsync("UPDATE messages SET content = '{\"text\":\"Upgrade 旧消息 edited\"}' WHERE json_extract(content, '$.text') = 'Upgrade 旧消息 two'");
        }

        Assert.Equal(["Upgrade 旧消息 edited"], await FoundAsync("旧消息"));
        Assert.Equal(["Upgrade 旧消息 edited"], await FoundAsync("edited"));
        Assert.Empty(await FoundAsync("two"));
    }
}
