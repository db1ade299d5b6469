using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Data.Sqlite;
using Parley.Storage.Messaging;
using SQLitePCL;

namespace Parley.Storage.Sqlite;

/// <summary>
/// The message writer on SQLite: its own connection with its statements prepared once, bound and stepped
/// through SQLitePCLRaw's <c>raw</c> API on the connection's handle (Microsoft.Data.Sqlite's commands box every
/// parameter value and create a data reader per execution: about 3 KB per message; this path allocates nothing
/// per message but the row it returns). A batch is one IMMEDIATE transaction, so membership, seqs and
/// clientMsgIds are read under the database's write lock and this node's single writer may assign the seqs: per
/// message, the insert (which also finds a retry, by the clientMsgId's unique index); per (conversation, sender),
/// the membership check (with the conversation's max_seq) and the read marker; per conversation, one max_seq
/// bump by its number of new messages. One batch at a time; after an error the transaction is rolled back, the
/// statements finalized and the connection dropped, and the next batch starts on a fresh one. SQLite's errors
/// surface as <see cref="SqliteException"/> with its error codes, as from Microsoft.Data.Sqlite.
/// </summary>
internal sealed class SqliteMessageAppender(Database database) : IDisposable
{
    /// <summary>One batch at a time (the database's, shared with the checkpointer).</summary>
    private readonly SemaphoreSlim _gate = database.SqliteWriterGate!;
    private Prepared? _prepared;

    // Reused from batch to batch (one batch at a time).
    private readonly Dictionary<(long Conversation, long Sender), bool> _members = [];
    private readonly Dictionary<long, Conversation> _conversations = [];
    private readonly Dictionary<(long Conversation, long Sender), long> _readTo = [];
    private readonly Dictionary<(long, string), int> _firsts = [];
    private readonly HashSet<long> _files = [];

    /// <summary>Text parameters are encoded here (SQLite copies a bound value: one buffer serves every bind).</summary>
    private byte[] _utf8 = new byte[1024];

    public async Task<AppendResult[]> AppendAsync(IReadOnlyList<NewMessage> batch, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            _prepared ??= await PrepareAsync(cancellationToken);
            var p = _prepared;
            try
            {
                p.Execute(p.Begin);
                var results = Append(p, batch);
                p.Execute(p.Commit);
                database.Checkpointer?.Written(PagesWritten(p.Connection));
                return results;
            }
            catch
            {
                // Whatever went wrong, nothing of the batch stays and the next one starts on a fresh connection.
                _prepared = null;
                p.Dispose();
                throw;
            }
            finally
            {
                _members.Clear();
                _conversations.Clear();
                _readTo.Clear();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private AppendResult[] Append(Prepared p, IReadOnlyList<NewMessage> batch)
    {
        var results = new AppendResult[batch.Count];
        var repeats = AppendBatch.Repeats(batch, _firsts);
        for (var i = 0; i < batch.Count; i++)
        {
            if (repeats[i] >= 0)
            {
                continue;
            }

            var m = batch[i];
            ref var conversation = ref CollectionsMarshal.GetValueRefOrAddDefault(_conversations, m.ConversationId, out _);
            if (!_members.TryGetValue((m.ConversationId, m.SenderId), out var member))
            {
                // Is the sender still a member (read under the write lock), and the conversation's max_seq the
                // first time it is seen in this batch: its new messages take the seqs after it, in batch order.
                p.Bind(p.Member, 1, m.ConversationId);
                p.Bind(p.Member, 2, m.SenderId);
                member = p.Step(p.Member);
                if (member && !conversation.Loaded)
                {
                    conversation.Next = raw.sqlite3_column_int64(p.Member, 0) + 1;
                    conversation.Loaded = true;
                }

                p.Reset(p.Member);
                _members[(m.ConversationId, m.SenderId)] = member;
            }

            if (!member)
            {
                // A retry of a message stored while a member returns it; anything else is not stored.
                results[i] = new AppendResult(Find(p, m), false);
                continue;
            }

            var seq = conversation.Next;
            if (!Insert(p, m, seq))
            {
                results[i] = new AppendResult(Find(p, m), false); // the clientMsgId is already stored: a retry
                continue;
            }

            conversation.Next++;
            conversation.Count++;
            conversation.LastSentAt = m.SentAt;
            results[i] = new AppendResult(AppendBatch.RowOf(m, seq), true);
            _readTo[(m.ConversationId, m.SenderId)] = seq; // seqs ascend in batch order: the last one is the highest
        }

        // One max_seq bump per conversation, by its number of new messages.
        foreach (var (id, conversation) in _conversations)
        {
            if (conversation.Count > 0)
            {
                p.Bind(p.Bump, 1, conversation.Count);
                p.Bind(p.Bump, 2, conversation.LastSentAt);
                p.Bind(p.Bump, 3, id);
                p.Execute(p.Bump);
            }
        }

        // Sending reads everything up to one's own message: once per (conversation, sender).
        foreach (var ((conversationId, senderId), seq) in _readTo)
        {
            p.Bind(p.Read, 1, seq);
            p.Bind(p.Read, 2, conversationId);
            p.Bind(p.Read, 3, senderId);
            p.Execute(p.Read);
        }

        AppendBatch.FillRepeats(results, repeats);
        return results;
    }

    /// <summary>The stored message of this (sender, clientMsgId), read back (a retry's original).</summary>
    private MessageRow? Find(Prepared p, NewMessage m)
    {
        var s = p.Find;
        p.Bind(s, 1, m.SenderId);
        BindText(p, s, 2, m.ClientMsgId);
        MessageRow? row = null;
        if (p.Step(s))
        {
            // The columns of AppendBatch.MessageColumns, in its order.
            row = new MessageRow
            {
                ConversationId = raw.sqlite3_column_int64(s, 0),
                Seq = raw.sqlite3_column_int64(s, 1),
                SenderId = raw.sqlite3_column_int64(s, 2),
                ClientMsgId = Text(s, 3) ?? "",
                Type = Text(s, 4) ?? "",
                Content = Text(s, 5),
                ReplyTo = Int64(s, 6),
                Mentions = Text(s, 7),
                SentAt = raw.sqlite3_column_int64(s, 8),
                RecalledAt = Int64(s, 9),
                RecalledBy = Int64(s, 10),
            };
        }

        p.Reset(s);
        return row;

        static string? Text(sqlite3_stmt s, int column) =>
            raw.sqlite3_column_type(s, column) == raw.SQLITE_NULL ? null : raw.sqlite3_column_text(s, column).utf8_to_string();

        static long? Int64(sqlite3_stmt s, int column) =>
            raw.sqlite3_column_type(s, column) == raw.SQLITE_NULL ? null : raw.sqlite3_column_int64(s, column);
    }

    /// <summary>Inserts the message with its files and mentions; false when its clientMsgId is already stored (nothing written).</summary>
    private bool Insert(Prepared p, NewMessage m, long seq)
    {
        var s = p.Insert;
        p.Bind(s, 1, m.ConversationId);
        p.Bind(s, 2, seq);
        p.Bind(s, 3, m.SenderId);
        BindText(p, s, 4, m.ClientMsgId);
        BindText(p, s, 5, m.Type);
        BindText(p, s, 6, m.Content);
        p.Bind(s, 7, m.ReplyTo);
        BindText(p, s, 8, m.Mentions);
        p.Bind(s, 9, m.SentAt);
        if (p.Execute(s) == 0)
        {
            return false;
        }

        // Search (migration 0016): the message's entry in the FTS5 index, written here and not by a trigger. A trigger
        // makes the INSERT a multi-table write, which SQLite runs in a statement savepoint, and FTS5 flushes its
        // in-memory entries to a new segment at every savepoint: one segment (and its merging) per message. From its
        // own statement FTS5 keeps the batch in memory and writes one segment at COMMIT (docs/benchmarks.md, search).
        if (p.Search is { } search && m.Content is not null && SearchedType(m.Type))
        {
            p.Execute(search);
        }

        // Webhooks on: the message.created event, in the batch's transaction (the sender reads the message by its seq).
        if (p.Outbox is { } outbox)
        {
            p.Bind(outbox, 1, m.ConversationId);
            p.Bind(outbox, 2, seq);
            p.Bind(outbox, 3, m.SentAt);
            p.Execute(outbox);
        }

        // Members of the conversation may read these files from now on.
        if (m.FileIds.Count > 0)
        {
            _files.Clear();
            foreach (var fileId in m.FileIds)
            {
                if (_files.Add(fileId))
                {
                    p.Bind(p.File, 1, fileId);
                    p.Bind(p.File, 2, m.ConversationId);
                    p.Bind(p.File, 3, seq);
                    p.Execute(p.File);
                }
            }
        }

        // A mention marker moves to the newest message that mentions its member (every other member for "all").
        if (m.MentionsAll)
        {
            p.Bind(p.MentionAll, 1, seq);
            p.Bind(p.MentionAll, 2, m.ConversationId);
            p.Bind(p.MentionAll, 3, m.SenderId);
            p.Execute(p.MentionAll);
        }
        else
        {
            foreach (var userId in m.MentionedUserIds)
            {
                p.Bind(p.Mention, 1, seq);
                p.Bind(p.Mention, 2, m.ConversationId);
                p.Bind(p.Mention, 3, userId);
                p.Execute(p.Mention);
            }
        }

        return true;
    }

    /// <summary>The types whose content is searched (migration 0016's rule, which the statement repeats for the text).</summary>
    private static bool SearchedType(string type) => type is "text" or "file" or "link" or "location";

    /// <summary>Binds text as UTF-8 encoded into the appender's buffer (SQLite copies it); null binds NULL.</summary>
    private void BindText(Prepared p, sqlite3_stmt statement, int index, string? value)
    {
        if (value is null)
        {
            p.Check(raw.sqlite3_bind_null(statement, index));
            return;
        }

        if (value.Length == 0)
        {
            // An empty span would be bound from a null pointer, which is NULL: the empty string is its terminator alone.
            p.Check(raw.sqlite3_bind_text(statement, index, utf8z.FromSpan("\0"u8)));
            return;
        }

        if (Encoding.UTF8.GetMaxByteCount(value.Length) > _utf8.Length)
        {
            var length = Encoding.UTF8.GetByteCount(value);
            if (length > _utf8.Length)
            {
                _utf8 = new byte[Math.Max(length, _utf8.Length * 2)];
            }
        }

        var written = Encoding.UTF8.GetBytes(value, _utf8);
        p.Check(raw.sqlite3_bind_text(statement, index, _utf8.AsSpan(0, written)));
    }

    /// <summary>Pages this connection wrote to the WAL since the last call (what the checkpointer measures the WAL by).</summary>
    private static int PagesWritten(SqliteConnection connection) =>
        raw.sqlite3_db_status(connection.Handle, raw.SQLITE_DBSTATUS_CACHE_WRITE, out var pages, out _, 1) == raw.SQLITE_OK ? pages : 0;

    public void Dispose()
    {
        _prepared?.Dispose();
        _prepared = null;
    }

    private async Task<Prepared> PrepareAsync(CancellationToken cancellationToken)
    {
        var connection = (SqliteConnection)await database.OpenWriterAsync(cancellationToken);
        var p = new Prepared(connection);
        try
        {
            PagesWritten(connection); // start counting from zero
            p.Begin = p.Prepare("BEGIN IMMEDIATE");
            p.Commit = p.Prepare("COMMIT");
            p.Rollback = p.Prepare("ROLLBACK");
            p.Find = p.Prepare($"SELECT {AppendBatch.MessageColumns} FROM messages WHERE sender_id = ?1 AND client_msg_id = ?2");
            p.Member = p.Prepare(
                "SELECT c.max_seq FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = ?2 WHERE c.id = ?1");
            p.Bump = p.Prepare("UPDATE conversations SET max_seq = max_seq + ?1, last_activity_at = ?2 WHERE id = ?3");

            // A clientMsgId already stored inserts nothing (and takes no seq): the retry gets the original.
            p.Insert = p.Prepare(
                $"INSERT INTO messages ({AppendBatch.MessageColumns}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL) ON CONFLICT (sender_id, client_msg_id) DO NOTHING");
            p.File = p.Prepare("INSERT INTO message_files (file_id, conversation_id, seq) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING");
            p.Read = p.Prepare("UPDATE conversation_members SET read_seq = ?1 WHERE conversation_id = ?2 AND user_id = ?3 AND read_seq < ?1");
            p.Mention = p.Prepare("UPDATE conversation_members SET mention_seq = ?1 WHERE conversation_id = ?2 AND user_id = ?3 AND mention_seq < ?1");
            p.MentionAll = p.Prepare("UPDATE conversation_members SET mention_seq = ?1 WHERE conversation_id = ?2 AND user_id <> ?3 AND mention_seq < ?1");
            // The message just inserted (the connection's last rowid), its searchable text per type; invalid JSON (which
            // the server never stores) indexes nothing, as the delete triggers expect. VALUES with a subquery, not
            // INSERT ... SELECT: that would be a multi-row write, run in a statement savepoint (see Insert).
            using var probe = connection.CreateCommand();
            probe.CommandText = "SELECT count(*) FROM sqlite_schema WHERE name = 'message_search'";
            if ((long)probe.ExecuteScalar()! > 0)
            {
                p.Search = p.Prepare(
                    """
                    INSERT INTO message_search (rowid, body) VALUES (last_insert_rowid(), (SELECT CASE WHEN json_valid(content) THEN CASE type
                        WHEN 'text' THEN json_extract(content, '$.text')
                        WHEN 'file' THEN json_extract(content, '$.name')
                        WHEN 'link' THEN concat_ws(' ', json_extract(content, '$.title'), json_extract(content, '$.description'))
                        ELSE json_extract(content, '$.title') END END FROM messages WHERE rowid = last_insert_rowid()))
                    """);
            }

            if (database.Outbox.MessagesCreated)
            {
                p.Outbox = p.Prepare(
                    "INSERT INTO webhook_outbox (type, stream, conversation_id, seq, created_at, next_attempt_at) VALUES ('message.created', ?1, ?1, ?2, ?3, ?3)");
            }

            return p;
        }
        catch
        {
            p.Dispose();
            throw;
        }
    }

    /// <summary>A conversation's new messages in this batch, and the seq the next of them takes (once its max_seq is loaded).</summary>
    private record struct Conversation(int Count, long LastSentAt, long Next, bool Loaded);

    /// <summary>The writer's connection and its statements, prepared once on its handle.</summary>
    private sealed class Prepared(SqliteConnection connection) : IDisposable
    {
        private readonly List<sqlite3_stmt> _statements = [];

        public SqliteConnection Connection { get; } = connection;

        /// <summary>The connection's handle (Microsoft.Data.Sqlite's; the connection is open as long as this object lives).</summary>
        public sqlite3 Db { get; } = connection.Handle!;

        public sqlite3_stmt Begin { get; set; } = null!;

        public sqlite3_stmt Commit { get; set; } = null!;

        public sqlite3_stmt Rollback { get; set; } = null!;

        public sqlite3_stmt Find { get; set; } = null!;

        public sqlite3_stmt Member { get; set; } = null!;

        public sqlite3_stmt Bump { get; set; } = null!;

        public sqlite3_stmt Insert { get; set; } = null!;

        /// <summary>The search index's entry of the message just inserted; null without the index (a benchmark's "off").</summary>
        public sqlite3_stmt? Search { get; set; }

        public sqlite3_stmt File { get; set; } = null!;

        public sqlite3_stmt Read { get; set; } = null!;

        public sqlite3_stmt Mention { get; set; } = null!;

        public sqlite3_stmt MentionAll { get; set; } = null!;

        /// <summary>The message.created outbox row; null when webhooks do not want it.</summary>
        public sqlite3_stmt? Outbox { get; set; }

        /// <summary>Prepares a statement that lives as long as the connection (SQLite keeps it out of its lookaside memory).</summary>
        public sqlite3_stmt Prepare(string sql)
        {
            var rc = raw.sqlite3_prepare_v3(Db, sql, raw.SQLITE_PREPARE_PERSISTENT, out var statement);
            if (rc != raw.SQLITE_OK || statement is null || statement.IsInvalid)
            {
                statement?.Dispose();
                SqliteException.ThrowExceptionForRC(rc, Db);
                throw new InvalidOperationException("SQLite prepared no statement from: " + sql);
            }

            _statements.Add(statement);
            return statement;
        }

        public void Bind(sqlite3_stmt statement, int index, long value) => Check(raw.sqlite3_bind_int64(statement, index, value));

        public void Bind(sqlite3_stmt statement, int index, long? value) =>
            Check(value is { } v ? raw.sqlite3_bind_int64(statement, index, v) : raw.sqlite3_bind_null(statement, index));

        /// <summary>Steps a query: true with a row to read (then <see cref="Reset"/> after reading), false when it has none.</summary>
        public bool Step(sqlite3_stmt statement)
        {
            var rc = raw.sqlite3_step(statement);
            if (rc == raw.SQLITE_ROW)
            {
                return true;
            }

            Check(rc);
            return false;
        }

        public void Reset(sqlite3_stmt statement) => raw.sqlite3_reset(statement);

        /// <summary>Runs a statement to its end; the rows it changed.</summary>
        public int Execute(sqlite3_stmt statement)
        {
            Check(raw.sqlite3_step(statement));
            var changes = raw.sqlite3_changes(Db);
            raw.sqlite3_reset(statement);
            return changes;
        }

        /// <summary>An error code becomes the <see cref="SqliteException"/> Microsoft.Data.Sqlite would throw (with SQLite's message and extended code).</summary>
        public void Check(int rc)
        {
            if (rc != raw.SQLITE_OK && rc != raw.SQLITE_DONE)
            {
                SqliteException.ThrowExceptionForRC(rc, Db);
                throw new SqliteException($"SQLite returned {rc} where it should have finished", rc); // a row from a statement that has none
            }
        }

        /// <summary>
        /// Rolls back a transaction left open, finalizes the statements and closes the connection (back to the
        /// pool: a connection still inside a transaction is never handed to anyone else).
        /// </summary>
        public void Dispose()
        {
            if (!Db.IsInvalid && !Db.IsClosed && raw.sqlite3_get_autocommit(Db) == 0)
            {
                foreach (var statement in _statements)
                {
                    raw.sqlite3_reset(statement);
                }

                if (Rollback is { } rollback)
                {
                    raw.sqlite3_step(rollback);
                    raw.sqlite3_reset(rollback);
                }

                if (raw.sqlite3_get_autocommit(Db) == 0)
                {
                    SqliteConnection.ClearPool(Connection); // marks it (and the pool's others) not to be pooled again
                }
            }

            foreach (var statement in _statements)
            {
                statement.Dispose();
            }

            _statements.Clear();
            Connection.Dispose();
        }
    }
}
