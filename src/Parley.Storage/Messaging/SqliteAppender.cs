using Dapper;
using Microsoft.Data.Sqlite;

namespace Parley.Storage.Messaging;

/// <summary>
/// The message writer's own SQLite connection, with its four statements prepared once: per message they are only
/// re-bound and stepped, never parsed, copied or matched by parameter name again (Microsoft.Data.Sqlite prepares
/// a statement anew for every new command, which was most of a message's CPU and allocations). One batch at a
/// time; the connection is dropped and reopened after an error.
/// </summary>
internal sealed class SqliteAppender(Database database, string messageColumns) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Prepared? _prepared;

    public async Task<AppendResult[]> AppendAsync(IReadOnlyList<NewMessage> batch, Func<NewMessage, long, MessageRow> rowOf, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            _prepared ??= await PrepareAsync(cancellationToken);
            var p = _prepared;
            try
            {
                using var transaction = p.Connection.BeginTransaction(deferred: false);
                p.Use(transaction);
                var results = await MessageStore.AppendEachAsync(batch, m => FindAsync(p, m, cancellationToken), m => InsertAsync(p, m, rowOf, cancellationToken));
                await transaction.CommitAsync(cancellationToken);
                return results;
            }
            catch
            {
                // Whatever went wrong, start the next batch on a fresh connection.
                _prepared = null;
                p.Dispose();
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private static async Task<MessageRow?> FindAsync(Prepared p, NewMessage m, CancellationToken cancellationToken)
    {
        p.Find.Parameters[0].Value = m.SenderId;
        p.Find.Parameters[1].Value = m.ClientMsgId;
        await using var reader = await p.Find.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? reader.GetRowParser<MessageRow>()(reader) : null;
    }

    /// <summary>Assigns the seq (re-checking membership in the committing transaction), inserts, moves the sender's read marker; null when no longer a member.</summary>
    private static async Task<MessageRow?> InsertAsync(Prepared p, NewMessage m, Func<NewMessage, long, MessageRow> rowOf, CancellationToken cancellationToken)
    {
        p.Bump.Parameters[0].Value = m.ConversationId;
        p.Bump.Parameters[1].Value = m.SentAt;
        p.Bump.Parameters[2].Value = m.SenderId;
        if (await p.Bump.ExecuteScalarAsync(cancellationToken) is not long seq)
        {
            return null;
        }

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
        await p.Insert.ExecuteNonQueryAsync(cancellationToken);

        p.Read.Parameters[0].Value = seq;
        p.Read.Parameters[1].Value = m.ConversationId;
        p.Read.Parameters[2].Value = m.SenderId;
        await p.Read.ExecuteNonQueryAsync(cancellationToken);
        return rowOf(m, seq);
    }

    public void Dispose()
    {
        _prepared?.Dispose();
        _gate.Dispose();
    }

    private async Task<Prepared> PrepareAsync(CancellationToken cancellationToken)
    {
        var connection = (SqliteConnection)await database.OpenAsync(cancellationToken);
        try
        {
            return new Prepared(
                connection,
                Command(connection, $"SELECT {messageColumns} FROM messages WHERE sender_id = @s AND client_msg_id = @c", ("@s", SqliteType.Integer), ("@c", SqliteType.Text)),
                Command(
                    connection,
                    """
                    UPDATE conversations SET max_seq = max_seq + 1, last_activity_at = @t
                    WHERE id = @v AND EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = @v AND user_id = @s)
                    RETURNING max_seq
                    """,
                    ("@v", SqliteType.Integer),
                    ("@t", SqliteType.Integer),
                    ("@s", SqliteType.Integer)),
                Command(
                    connection,
                    $"INSERT INTO messages ({messageColumns}) VALUES (@v, @q, @s, @c, @y, @b, @r, @m, @t, NULL, NULL)",
                    ("@v", SqliteType.Integer),
                    ("@q", SqliteType.Integer),
                    ("@s", SqliteType.Integer),
                    ("@c", SqliteType.Text),
                    ("@y", SqliteType.Text),
                    ("@b", SqliteType.Text),
                    ("@r", SqliteType.Integer),
                    ("@m", SqliteType.Text),
                    ("@t", SqliteType.Integer)),
                Command(
                    connection,
                    "UPDATE conversation_members SET read_seq = @q WHERE conversation_id = @v AND user_id = @s AND read_seq < @q",
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

    private sealed record Prepared(SqliteConnection Connection, SqliteCommand Find, SqliteCommand Bump, SqliteCommand Insert, SqliteCommand Read) : IDisposable
    {
        public void Use(SqliteTransaction transaction)
        {
            Find.Transaction = Bump.Transaction = Insert.Transaction = Read.Transaction = transaction;
        }

        public void Dispose()
        {
            Find.Dispose();
            Bump.Dispose();
            Insert.Dispose();
            Read.Dispose();
            Connection.Dispose();
        }
    }
}
