using System.Runtime.InteropServices;
using Dapper;
using Microsoft.Data.Sqlite;
using Parley.Storage.Messaging;
using SQLitePCL;

namespace Parley.Storage.Sqlite;

/// <summary>
/// The message writer on SQLite: its own connection with its statements prepared once (per message they are
/// only re-bound and stepped, never parsed again; Microsoft.Data.Sqlite prepares a statement anew for every new
/// command). A batch is one IMMEDIATE transaction, so membership, seqs and clientMsgIds are read under the
/// database's write lock and this node's single writer may assign the seqs: per message, the insert (which
/// also finds a retry, by the clientMsgId's unique index); per (conversation, sender), the membership check
/// (with the conversation's max_seq) and the read marker; per conversation, one max_seq bump by its number of
/// new messages. One batch at a time; the connection is dropped and reopened after an error.
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
    private readonly HashSet<long> _files = [];

    public async Task<AppendResult[]> AppendAsync(IReadOnlyList<NewMessage> batch, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            _prepared ??= await PrepareAsync(cancellationToken);
            var p = _prepared;
            try
            {
                AppendResult[] results;
                using (var transaction = p.Connection.BeginTransaction(deferred: false))
                {
                    p.Use(transaction);
                    results = Append(p, batch);
                    transaction.Commit();
                }

                database.Checkpointer?.Written(PagesWritten(p.Connection));
                return results;
            }
            catch
            {
                // Whatever went wrong, start the next batch on a fresh connection.
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
        var repeats = AppendBatch.Repeats(batch);
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
                p.Member.Parameters[0].Value = m.ConversationId;
                p.Member.Parameters[1].Value = m.SenderId;
                using (var reader = p.Member.ExecuteReader())
                {
                    member = reader.Read();
                    if (member && !conversation.Loaded)
                    {
                        conversation.Next = reader.GetInt64(0) + 1;
                        conversation.Loaded = true;
                    }
                }

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
                p.Bump.Parameters[0].Value = conversation.Count;
                p.Bump.Parameters[1].Value = conversation.LastSentAt;
                p.Bump.Parameters[2].Value = id;
                p.Bump.ExecuteNonQuery();
            }
        }

        // Sending reads everything up to one's own message: once per (conversation, sender).
        foreach (var ((conversationId, senderId), seq) in _readTo)
        {
            p.Read.Parameters[0].Value = seq;
            p.Read.Parameters[1].Value = conversationId;
            p.Read.Parameters[2].Value = senderId;
            p.Read.ExecuteNonQuery();
        }

        AppendBatch.FillRepeats(results, repeats);
        return results;
    }

    private static MessageRow? Find(Prepared p, NewMessage m)
    {
        p.Find.Parameters[0].Value = m.SenderId;
        p.Find.Parameters[1].Value = m.ClientMsgId;
        using var reader = p.Find.ExecuteReader();
        return reader.Read() ? reader.GetRowParser<MessageRow>()(reader) : null;
    }

    /// <summary>Inserts the message with its files and mentions; false when its clientMsgId is already stored (nothing written).</summary>
    private bool Insert(Prepared p, NewMessage m, long seq)
    {
        var values = p.Insert.Parameters;
        values[0].Value = m.ConversationId;
        values[1].Value = seq;
        values[2].Value = m.SenderId;
        values[3].Value = m.ClientMsgId;
        values[4].Value = m.Type;
        values[5].Value = m.Content;
        values[6].Value = (object?)m.ReplyTo ?? DBNull.Value;
        values[7].Value = (object?)m.Mentions ?? DBNull.Value;
        values[8].Value = m.SentAt;
        if (p.Insert.ExecuteNonQuery() == 0)
        {
            return false;
        }

        // Members of the conversation may read these files from now on.
        if (m.FileIds.Count > 0)
        {
            _files.Clear();
            foreach (var fileId in m.FileIds)
            {
                if (_files.Add(fileId))
                {
                    p.File.Parameters[0].Value = fileId;
                    p.File.Parameters[1].Value = m.ConversationId;
                    p.File.Parameters[2].Value = seq;
                    p.File.ExecuteNonQuery();
                }
            }
        }

        // A mention marker moves to the newest message that mentions its member (every other member for "all").
        if (m.MentionsAll)
        {
            p.MentionAll.Parameters[0].Value = seq;
            p.MentionAll.Parameters[1].Value = m.ConversationId;
            p.MentionAll.Parameters[2].Value = m.SenderId;
            p.MentionAll.ExecuteNonQuery();
        }
        else
        {
            foreach (var userId in m.MentionedUserIds)
            {
                p.Mention.Parameters[0].Value = seq;
                p.Mention.Parameters[1].Value = m.ConversationId;
                p.Mention.Parameters[2].Value = userId;
                p.Mention.ExecuteNonQuery();
            }
        }

        return true;
    }

    /// <summary>Pages this connection wrote to the WAL since the last call (what the checkpointer measures the WAL by).</summary>
    private static int PagesWritten(SqliteConnection connection) =>
        raw.sqlite3_db_status(connection.Handle, raw.SQLITE_DBSTATUS_CACHE_WRITE, out var pages, out _, 1) == raw.SQLITE_OK ? pages : 0;

    public void Dispose()
    {
        _prepared?.Dispose();
    }

    private async Task<Prepared> PrepareAsync(CancellationToken cancellationToken)
    {
        var connection = (SqliteConnection)await database.OpenWriterAsync(cancellationToken);
        try
        {
            PagesWritten(connection); // start counting from zero
            return new Prepared(
                connection,
                Find: Command(connection, $"SELECT {AppendBatch.MessageColumns} FROM messages WHERE sender_id = @s AND client_msg_id = @c", ("@s", SqliteType.Integer), ("@c", SqliteType.Text)),
                Member: Command(
                    connection,
                    "SELECT c.max_seq FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = @s WHERE c.id = @v",
                    ("@v", SqliteType.Integer),
                    ("@s", SqliteType.Integer)),
                Bump: Command(
                    connection,
                    "UPDATE conversations SET max_seq = max_seq + @n, last_activity_at = @t WHERE id = @v",
                    ("@n", SqliteType.Integer),
                    ("@t", SqliteType.Integer),
                    ("@v", SqliteType.Integer)),
                Insert: Command(
                    connection,
                    // A clientMsgId already stored inserts nothing (and takes no seq): the retry gets the original.
                    $"INSERT INTO messages ({AppendBatch.MessageColumns}) VALUES (@v, @q, @s, @c, @y, @b, @r, @m, @t, NULL, NULL) ON CONFLICT (sender_id, client_msg_id) DO NOTHING",
                    ("@v", SqliteType.Integer),
                    ("@q", SqliteType.Integer),
                    ("@s", SqliteType.Integer),
                    ("@c", SqliteType.Text),
                    ("@y", SqliteType.Text),
                    ("@b", SqliteType.Text),
                    ("@r", SqliteType.Integer),
                    ("@m", SqliteType.Text),
                    ("@t", SqliteType.Integer)),
                File: Command(
                    connection,
                    "INSERT INTO message_files (file_id, conversation_id, seq) VALUES (@f, @v, @q) ON CONFLICT DO NOTHING",
                    ("@f", SqliteType.Integer),
                    ("@v", SqliteType.Integer),
                    ("@q", SqliteType.Integer)),
                Read: Command(
                    connection,
                    "UPDATE conversation_members SET read_seq = @q WHERE conversation_id = @v AND user_id = @s AND read_seq < @q",
                    ("@q", SqliteType.Integer),
                    ("@v", SqliteType.Integer),
                    ("@s", SqliteType.Integer)),
                Mention: Command(
                    connection,
                    "UPDATE conversation_members SET mention_seq = @q WHERE conversation_id = @v AND user_id = @u AND mention_seq < @q",
                    ("@q", SqliteType.Integer),
                    ("@v", SqliteType.Integer),
                    ("@u", SqliteType.Integer)),
                MentionAll: Command(
                    connection,
                    "UPDATE conversation_members SET mention_seq = @q WHERE conversation_id = @v AND user_id <> @s AND mention_seq < @q",
                    ("@q", SqliteType.Integer),
                    ("@v", SqliteType.Integer),
                    ("@s", SqliteType.Integer)));
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, SqliteType Type)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, type) in parameters)
        {
            command.Parameters.Add(name, type);
        }

        return command;
    }

    /// <summary>A conversation's new messages in this batch, and the seq the next of them takes (once its max_seq is loaded).</summary>
    private record struct Conversation(int Count, long LastSentAt, long Next, bool Loaded);

    private sealed record Prepared(
        SqliteConnection Connection,
        SqliteCommand Find,
        SqliteCommand Member,
        SqliteCommand Bump,
        SqliteCommand Insert,
        SqliteCommand File,
        SqliteCommand Read,
        SqliteCommand Mention,
        SqliteCommand MentionAll) : IDisposable
    {
        private IEnumerable<SqliteCommand> Commands => [Find, Member, Bump, Insert, File, Read, Mention, MentionAll];

        public void Use(SqliteTransaction transaction)
        {
            foreach (var command in Commands)
            {
                command.Transaction = transaction;
            }
        }

        public void Dispose()
        {
            foreach (var command in Commands)
            {
                command.Dispose();
            }

            Connection.Dispose();
        }
    }
}
