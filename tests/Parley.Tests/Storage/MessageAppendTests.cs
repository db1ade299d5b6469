using Dapper;
using Parley.Storage;
using Parley.Storage.Messaging;
using Parley.Storage.Migrations;
using Parley.Storage.Sqlite;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Storage;

public sealed class MessageAppendTestsSqlite() : MessageAppendTests(Backend.Sqlite)
{
    [Fact]
    public async Task Checkpoints_run_on_their_own_connection_with_the_automatic_ones_off()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var database = Database.Create(StorageProvider.Sqlite, null, store.DataDir, new SqliteCheckpointOptions(Pages: 4, MaxPages: 1_000_000));
        await MigrationRunner.ApplyAsync(database);
        await using (var connection = await database.OpenAsync())
        {
            Assert.Equal(0L, await connection.ExecuteScalarAsync<long>("PRAGMA wal_autocheckpoint"));
        }

        using var messages = new MessageStore(database);
        var (a, b) = (await UsersAsync(database, 2)) switch { var u => (u[0], u[1]) };
        var conversation = await messages.GetOrCreateDirectAsync(a, b, Ids.Next(), 1, CancellationToken.None);
        var checkpointer = database.Checkpointer!;
        await messages.AppendAsync([.. Enumerable.Range(0, 50).Select(i => Text(conversation.Id, a, "c" + i))], CancellationToken.None);
        await AfterTheNextCheckpointAsync(checkpointer);

        // Nothing else reads or writes: the checkpoint copied every frame of the WAL into the database file.
        var (walPages, checkpointed) = checkpointer.Last;
        Assert.True(walPages > 0, "the writer's commit should be in the WAL, not checkpointed by the writer itself");
        Assert.Equal(walPages, checkpointed);
    }

    [Fact]
    public async Task A_WAL_at_its_limit_is_restarted()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var database = Database.Create(StorageProvider.Sqlite, null, store.DataDir, new SqliteCheckpointOptions(Pages: 1, MaxPages: 1));
        await MigrationRunner.ApplyAsync(database);
        using var messages = new MessageStore(database);
        var users = await UsersAsync(database, 2);
        var conversation = await messages.GetOrCreateDirectAsync(users[0], users[1], Ids.Next(), 1, CancellationToken.None);
        var checkpointer = database.Checkpointer!;
        var walFile = database.SqlitePath + "-wal";
        var firstSize = 0L;
        for (var round = 0; round < 4; round++)
        {
            var before = checkpointer.Checkpoints;
            await messages.AppendAsync([.. Enumerable.Range(0, 20).Select(i => Text(conversation.Id, users[0], $"r{round}-{i}"))], CancellationToken.None);
            await AfterTheNextCheckpointAsync(checkpointer);

            // PASSIVE, then RESTART because the WAL is at its limit: the next commit writes the WAL from its start.
            Assert.True(checkpointer.Checkpoints >= before + 2, $"round {round}: {checkpointer.Checkpoints - before} checkpoints");
            firstSize = round == 0 ? new FileInfo(walFile).Length : firstSize;
        }

        // Four rounds of writes, yet the WAL file is no longer than after the first (migrations and all): the
        // later rounds were written over it from its start rather than appended.
        Assert.True(firstSize > 0);
        Assert.True(new FileInfo(walFile).Length <= firstSize, $"the WAL grew from {firstSize} to {new FileInfo(walFile).Length} bytes");
        await using (var connection = await database.OpenAsync())
        {
            Assert.Equal(80L, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM messages"));
        }
    }

    [Fact]
    public async Task Text_is_stored_and_read_back_exactly_whatever_its_characters_and_length()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var database = store.OpenDatabase();
        await MigrationRunner.ApplyAsync(database);
        using var messages = new MessageStore(database);
        var u = await UsersAsync(database, 2);
        var group = await GroupAsync(database, u);

        // Non-ASCII in every text column, content far longer than the writer's first encoding buffer, an empty
        // content (stored as '', not NULL, which would read as recalled) and mentions without any.
        var long1 = "{\"text\":\"" + string.Concat(Enumerable.Repeat("naïve café 你好 🙂 ", 3000)) + "\"}";
        NewMessage[] batch =
        [
            Text(group, u[0], "ü-1") with { Type = "tëxt", Content = long1, Mentions = $"[\"{u[1]}\"]", MentionedUserIds = [u[1]], ReplyTo = 77 },
            Text(group, u[0], "e-2") with { Content = "" },
            Text(group, u[1], "🙂") with { Content = "{\"text\":\"short\"}" },
        ];
        var created = await messages.AppendAsync(batch, CancellationToken.None);
        Assert.All(created, r => Assert.True(r.Created));

        // Retries read the stored rows back.
        var again = await messages.AppendAsync([.. batch.Select(m => m with { Content = "{\"text\":\"a retry\"}" })], CancellationToken.None);
        for (var i = 0; i < batch.Length; i++)
        {
            var row = again[i].Message!;
            Assert.False(again[i].Created);
            Assert.Equal(
                (batch[i].ClientMsgId, batch[i].Type, batch[i].Content, batch[i].Mentions, batch[i].ReplyTo, batch[i].SentAt, created[i].Message!.Seq),
                (row.ClientMsgId, row.Type, row.Content, row.Mentions, row.ReplyTo, row.SentAt, row.Seq));
            Assert.Null(row.RecalledAt);
        }

        await using var connection = await database.OpenAsync();
        Assert.Equal(
            [(long1, "tëxt"), ("", "text"), ("{\"text\":\"short\"}", "text")],
            (await connection.QueryAsync<(string, string)>("SELECT content, type FROM messages WHERE conversation_id = @group ORDER BY seq", new { group })).ToList());
        Assert.Equal(1L, await connection.ExecuteScalarAsync<long>("SELECT mention_seq FROM conversation_members WHERE conversation_id = @group AND user_id = @b", new { group, b = u[1] }));
    }

    /// <summary>Waits for a checkpoint that started after this call (the one running now, if any, may have missed the last commit).</summary>
    private static async Task AfterTheNextCheckpointAsync(SqliteCheckpointer checkpointer)
    {
        await checkpointer.NextCheckpointAsync().WaitAsync(Timeout);
        await checkpointer.NextCheckpointAsync().WaitAsync(Timeout);
    }
}

public sealed class MessageAppendTestsPostgres() : MessageAppendTests(Backend.Postgres);

/// <summary>
/// The message appenders (Storage/Sqlite, Storage/Postgres) through MessageStore.AppendAsync, the seam the
/// group-commit writer calls: several conversations, files, mentions and repeats in one batch, a sender who is
/// no longer a member, and two writers ("nodes") on one database.
/// </summary>
public abstract class MessageAppendTests(Backend backend) : OwnServerTests(backend)
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    protected static readonly IdGenerator Ids = new(7);

    [Fact]
    public async Task A_failed_batch_leaves_nothing_throws_the_databases_error_and_the_next_batch_commits()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var database = store.OpenDatabase();
        await MigrationRunner.ApplyAsync(database);
        using var messages = new MessageStore(database);
        var u = await UsersAsync(database, 2);
        var group = await GroupAsync(database, u);
        Assert.True((await messages.AppendAsync([Text(group, u[0], "before")], CancellationToken.None))[0].Created);

        // The second message references a file that does not exist: its message_files row breaks a foreign key
        // after the first message and both inserts ran, so the whole transaction must go.
        NewMessage[] batch = [Text(group, u[0], "ok"), Text(group, u[1], "bad") with { FileIds = [Ids.Next()] }];
        // On PostgreSQL the batch is one round trip (BEGIN, the statements, COMMIT): the failure skipped its COMMIT,
        // and the aborted transaction must not stay on the pooled connection the next batches get.
        var error = await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => messages.AppendAsync(batch, CancellationToken.None));
        if (error is Microsoft.Data.Sqlite.SqliteException sqlite)
        {
            Assert.Equal(19, sqlite.SqliteErrorCode); // SQLITE_CONSTRAINT
            Assert.Equal(787, sqlite.SqliteExtendedErrorCode); // SQLITE_CONSTRAINT_FOREIGNKEY
        }
        else
        {
            Assert.Equal(Npgsql.PostgresErrorCodes.ForeignKeyViolation, Assert.IsType<Npgsql.PostgresException>(error).SqlState);
        }

        await using (var connection = await database.OpenAsync())
        {
            Assert.Equal(["before"], (await connection.QueryAsync<string>("SELECT client_msg_id FROM messages WHERE conversation_id = @group", new { group })).ToList());
            Assert.Equal(1L, await connection.ExecuteScalarAsync<long>("SELECT max_seq FROM conversations WHERE id = @group", new { group }));
            Assert.Equal(
                [1L, 0],
                (await connection.QueryAsync<long>("SELECT read_seq FROM conversation_members WHERE conversation_id = @group ORDER BY user_id = @b", new { group, b = u[1] })).ToList());
        }

        // As the group-commit writer retries a failed batch: one by one, on a fresh connection; the good one commits
        // with the next seq, the bad one fails alone, and the writer goes on.
        var ok = (await messages.AppendAsync([batch[0]], CancellationToken.None))[0];
        Assert.Equal((true, 2L), (ok.Created, ok.Message!.Seq));
        await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => messages.AppendAsync([batch[1]], CancellationToken.None));
        var after = await messages.AppendAsync([Text(group, u[1], "after"), batch[0]], CancellationToken.None);
        Assert.Equal([(true, 3L), (false, 2L)], after.Select(r => (r.Created, r.Message!.Seq)));
    }

    [Fact]
    public async Task A_batch_mixing_conversations_files_mentions_and_repeats_keeps_every_rule()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var database = store.OpenDatabase();
        await MigrationRunner.ApplyAsync(database);
        using var messages = new MessageStore(database);
        var u = await UsersAsync(database, 3);
        var (a, b, c) = (u[0], u[1], u[2]);
        var group = await GroupAsync(database, u);
        var direct = (await messages.GetOrCreateDirectAsync(a, b, Ids.Next(), 1, CancellationToken.None)).Id;
        var f1 = await FileAsync(database, a);
        var f2 = await FileAsync(database, c);

        var old = (await messages.AppendAsync([Text(direct, a, "old")], CancellationToken.None))[0];
        Assert.True(old.Created);
        Assert.Equal(1, old.Message!.Seq);

        NewMessage[] batch =
        [
            Text(group, a, "g1") with { Mentions = $"[\"{b}\"]", MentionedUserIds = [b] },
            Text(direct, a, "d1") with { FileIds = [f1] },
            Text(group, b, "g2") with { Mentions = "[\"all\"]", MentionsAll = true },
            Text(direct, a, "old") with { Content = "{\"text\":\"a retry\"}" },
            Text(group, a, "g1") with { Content = "{\"text\":\"a repeat\"}" },
            Text(direct, b, "d2", sentAt: 2_000),
            Text(group, c, "g3", sentAt: 3_000) with { FileIds = [f1, f2, f2] },
        ];
        var results = await messages.AppendAsync(batch, CancellationToken.None);

        Assert.Equal([true, true, true, false, false, true, true], results.Select(r => r.Created));
        Assert.Equal([1L, 2, 2, 1, 1, 3, 3], results.Select(r => r.Message!.Seq));
        Assert.Equal(["g1", "d1", "g2", "old", "g1", "d2", "g3"], results.Select(r => r.Message!.ClientMsgId));
        Assert.Equal(old.Message.Content, results[3].Message!.Content); // the original, not the retry's content
        Assert.Equal(batch[0].Content, results[4].Message!.Content);
        Assert.Equal(batch[6].ConversationId, results[6].Message!.ConversationId);

        await using var connection = await database.OpenAsync();
        Assert.Equal(
            [(group, 3L, 3_000L), (direct, 3L, 2_000L)],
            (await connection.QueryAsync<(long, long, long)>(
                "SELECT id, max_seq, last_activity_at FROM conversations WHERE id IN (@group, @direct) ORDER BY type DESC", new { group, direct })).ToList());
        var stored = (await connection.QueryAsync<(long, long, string, string)>(
            "SELECT conversation_id, seq, client_msg_id, content FROM messages WHERE conversation_id IN (@group, @direct) ORDER BY conversation_id, seq",
            new { group, direct })).ToList();
        Assert.Equal(6, stored.Count);
        Assert.Contains((direct, 1L, "old", old.Message.Content!), stored);
        Assert.Contains((group, 1L, "g1", batch[0].Content), stored);

        Assert.Equal(
            [(f1, direct, 2L), (f1, group, 3L), (f2, group, 3L)],
            (await connection.QueryAsync<(long, long, long)>(
                "SELECT file_id, conversation_id, seq FROM message_files ORDER BY file_id, seq, conversation_id")).OrderBy(x => x.Item1).ThenBy(x => x.Item3).ToList());

        // Read markers: each sender's last message. Mentions: b by g1; everyone but b by g2 ("all" from b).
        var members = (await connection.QueryAsync<(long, long, long, long)>(
            "SELECT conversation_id, user_id, read_seq, mention_seq FROM conversation_members WHERE conversation_id IN (@group, @direct)",
            new { group, direct })).ToHashSet();
        Assert.Equal(
            new HashSet<(long, long, long, long)>
            {
                (group, a, 1, 2), (group, b, 2, 1), (group, c, 3, 2),
                (direct, a, 2, 0), (direct, b, 3, 0),
            },
            members);
    }

    [Fact]
    public async Task With_webhooks_on_the_batch_writes_one_outbox_row_per_new_message_in_its_transaction()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var database = store.OpenDatabase();
        database.Outbox = new Parley.Storage.Webhooks.WebhookOutbox([Parley.Storage.Webhooks.WebhookOutbox.MessageCreated]);
        await MigrationRunner.ApplyAsync(database);
        using var messages = new MessageStore(database);
        var u = await UsersAsync(database, 3);
        var group = await GroupAsync(database, u);
        var other = await GroupAsync(database, u);
        await using (var connection = await database.OpenAsync())
        {
            await connection.ExecuteAsync("DELETE FROM conversation_members WHERE conversation_id = @group AND user_id = @user", new { group, user = u[1] });
        }

        await messages.AppendAsync([Text(group, u[0], "w0")], CancellationToken.None);
        var results = await messages.AppendAsync(
            [Text(group, u[0], "w1"), Text(group, u[1], "w2"), Text(other, u[1], "w3"), Text(group, u[0], "w1"), Text(group, u[0], "w0"), Text(group, u[2], "w4", 2_000)],
            CancellationToken.None);
        Assert.Equal([true, false, true, false, false, true], results.Select(r => r.Created));

        // A row per stored message only (not for the non-member, the repeat in the batch or the retry of w0), in seq order per conversation.
        await using var check = await database.OpenAsync();
        var rows = (await check.QueryAsync<(string Type, long Stream, long Conversation, long Seq, long CreatedAt)>(
            "SELECT type, stream, conversation_id, seq, created_at FROM webhook_outbox ORDER BY id")).ToList();
        Assert.Equal(4, rows.Count);
        Assert.Equal([1L], rows.Where(r => r.Conversation == other).Select(r => r.Seq));
        Assert.All(rows, r => Assert.Equal("message.created", r.Type));
        Assert.All(rows, r => Assert.Equal(r.Conversation, r.Stream));
        Assert.Equal(rows.Where(r => r.Conversation == group).Select(r => r.Seq), [1L, 2, 3]);
        Assert.Equal(2_000, rows.Single(r => r.Conversation == group && r.Seq == 3).CreatedAt);
    }

    [Fact]
    public async Task A_sender_removed_in_the_middle_of_a_batch_stores_nothing_and_the_others_commit_with_dense_seqs()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var database = store.OpenDatabase();
        await MigrationRunner.ApplyAsync(database);
        using var messages = new MessageStore(database);
        var u = await UsersAsync(database, 3);
        var group = await GroupAsync(database, u);
        var other = await GroupAsync(database, u);
        await using (var connection = await database.OpenAsync())
        {
            await connection.ExecuteAsync("DELETE FROM conversation_members WHERE conversation_id = @group AND user_id = @user", new { group, user = u[1] });
        }

        var results = await messages.AppendAsync(
            [
                Text(group, u[0], "m1"),
                Text(group, u[1], "m2"),
                Text(other, u[1], "o1"),
                Text(group, u[2], "m3"),
                Text(group, u[1], "m4") with { FileIds = [await FileAsync(database, u[1])] },
                Text(group, u[0], "m5"),
            ],
            CancellationToken.None);

        Assert.Equal([1L, -1, 1, 2, -1, 3], results.Select(r => r.Message?.Seq ?? -1));
        Assert.Equal([true, false, true, true, false, true], results.Select(r => r.Created));
        await using var check = await database.OpenAsync();
        Assert.Equal([1L, 2, 3], (await check.QueryAsync<long>("SELECT seq FROM messages WHERE conversation_id = @group ORDER BY seq", new { group })).ToList());
        Assert.Equal(3L, await check.ExecuteScalarAsync<long>("SELECT max_seq FROM conversations WHERE id = @group", new { group }));
        Assert.Equal(0L, await check.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM message_files"));
        Assert.Null(await messages.FindByClientIdAsync(u[1], "m2", CancellationToken.None));
    }

    [Fact]
    public async Task Two_writers_on_one_database_keep_seqs_dense_without_deadlock_or_duplicate()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var node1 = store.OpenDatabase();
        await using var node2 = store.OpenDatabase();
        await MigrationRunner.ApplyAsync(node1);
        using var store1 = new MessageStore(node1);
        using var store2 = new MessageStore(node2);
        var users = await UsersAsync(node1, 4);
        var conversations = new List<long>();
        for (var i = 0; i < 12; i++)
        {
            conversations.Add(await GroupAsync(node1, users));
        }

        // Each node writes batches that touch many conversations in opposite orders (the order that deadlocks
        // writers locking as they go), and some clientMsgIds are sent through both nodes at once (a client
        // retrying on another node).
        const int Batches = 40;
        const int BatchSize = 24;
        async Task<List<AppendResult>> WriteAsync(MessageStore node, int seed, bool reversed)
        {
            var random = new Random(seed);
            var all = new List<AppendResult>();
            for (var k = 0; k < Batches; k++)
            {
                var batch = new List<NewMessage>();
                for (var j = 0; j < BatchSize; j++)
                {
                    var index = reversed ? conversations.Count - 1 - (j % conversations.Count) : j % conversations.Count;
                    batch.Add(j % 8 == 0
                        ? Text(conversations[j % conversations.Count], users[0], $"both-{k}-{j}")
                        : Text(conversations[index], users[random.Next(users.Count)], $"n{seed}-{k}-{j}"));
                }

                all.AddRange(await node.AppendAsync(batch, CancellationToken.None));
            }

            return all;
        }

        var both = await Task.WhenAll(WriteAsync(store1, 1, false), WriteAsync(store2, 2, true)).WaitAsync(Timeout);

        var results = both.SelectMany(r => r).ToList();
        Assert.All(results, r => Assert.NotNull(r.Message));
        var created = results.Where(r => r.Created).Select(r => r.Message!).ToList();
        var shared = Batches * BatchSize / 8;
        Assert.Equal(2 * Batches * BatchSize - shared, created.Count);
        Assert.Equal(created.Count, created.Select(m => (m.SenderId, m.ClientMsgId)).Distinct().Count());

        // Both nodes' answers for a clientMsgId sent through both are the one stored message.
        foreach (var group in results.Select(r => r.Message!).GroupBy(m => m.ClientMsgId).Where(g => g.Key.StartsWith("both-", StringComparison.Ordinal)))
        {
            Assert.Single(group.Select(m => (m.ConversationId, m.Seq)).Distinct());
        }

        await using var connection = await node1.OpenAsync();
        foreach (var conversation in conversations)
        {
            var seqs = (await connection.QueryAsync<long>("SELECT seq FROM messages WHERE conversation_id = @conversation ORDER BY seq", new { conversation })).ToList();
            Assert.Equal(Enumerable.Range(1, seqs.Count).Select(s => (long)s), seqs);
            Assert.Equal(seqs.Count, await connection.ExecuteScalarAsync<long>("SELECT max_seq FROM conversations WHERE id = @conversation", new { conversation }));
            var answered = created.Where(m => m.ConversationId == conversation).Select(m => m.Seq).Order().ToList();
            Assert.Equal(seqs, answered);
        }
    }

    protected static NewMessage Text(long conversationId, long senderId, string clientMsgId, long sentAt = 1_000) =>
        new(conversationId, senderId, clientMsgId, "text", $"{{\"text\":\"{clientMsgId}\"}}", null, null, [], false, sentAt, []);

    protected static async Task<List<long>> UsersAsync(Database database, int count)
    {
        var ids = new List<long>();
        await using var connection = await database.OpenAsync();
        for (var i = 0; i < count; i++)
        {
            var id = Ids.Next();
            await connection.ExecuteAsync(
                "INSERT INTO users (id, username, username_key, nickname, nickname_key, password_hash, created_at, updated_at) VALUES (@id, @name, @name, @name, @name, 'x', 0, 0)",
                new { id, name = "u" + id });
            ids.Add(id);
        }

        return ids;
    }

    /// <summary>A group conversation of these members (the conversation alone: the appender does not read the group).</summary>
    protected static async Task<long> GroupAsync(Database database, IReadOnlyList<long> members)
    {
        var id = Ids.Next();
        await using var connection = await database.OpenAsync();
        await connection.ExecuteAsync("INSERT INTO conversations (id, type, max_seq, last_activity_at, created_at) VALUES (@id, 'group', 0, 0, 0)", new { id });
        foreach (var user in members)
        {
            await connection.ExecuteAsync("INSERT INTO conversation_members (conversation_id, user_id, joined_seq, read_seq) VALUES (@id, @user, 0, 0)", new { id, user });
        }

        return id;
    }

    protected static async Task<long> FileAsync(Database database, long owner)
    {
        var id = Ids.Next();
        var key = $"{id:x}-1-0";
        await using var connection = await database.OpenAsync();
        await connection.ExecuteAsync("INSERT INTO blobs (blob_key, sha256, size, used_at) VALUES (@key, @key, 1, 0)", new { key });
        await connection.ExecuteAsync(
            "INSERT INTO files (id, owner_id, name, size, content_type, sha256, blob_key, created_at) VALUES (@id, @owner, 'f.txt', 1, 'text/plain', @key, @key, 0)",
            new { id, owner, key });
        return id;
    }
}
