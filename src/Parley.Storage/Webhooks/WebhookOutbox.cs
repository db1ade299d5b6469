using System.Buffers;
using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Dapper;

namespace Parley.Storage.Webhooks;

/// <summary>An event waiting in the outbox (message.created: <see cref="Data"/> is null and the message is read by conversation and seq).</summary>
public sealed class OutboxRow
{
    public long Id { get; init; }

    public string Type { get; init; } = "";

    public long Stream { get; init; }

    public long? ConversationId { get; init; }

    public long? Seq { get; init; }

    public string? Data { get; init; }

    public long CreatedAt { get; init; }

    public int Attempts { get; init; }

    public long NextAttemptAt { get; init; }

    public long? FailedAt { get; init; }

    public string? LastError { get; init; }
}

/// <summary>
/// The webhooks' durable outbox: which event types are written (none when webhooks are off), the rows the stores
/// add inside their own transactions, and the queries the sender drains it with. Stores ask <see cref="Wants"/>
/// first, so with webhooks off nothing is built or written.
/// </summary>
public sealed class WebhookOutbox
{
    public const string MessageCreated = "message.created";
    public const string MessageRecalled = "message.recalled";
    public const string UserRegistered = "user.registered";
    public const string UserOnline = "user.online";
    public const string UserOffline = "user.offline";
    public const string FriendAccepted = "friend.accepted";
    public const string GroupCreated = "group.created";
    public const string GroupJoined = "group.joined";
    public const string GroupLeft = "group.left";
    public const string GroupDissolved = "group.dissolved";

    public static readonly IReadOnlyList<string> AllTypes =
    [
        MessageCreated, MessageRecalled, UserRegistered, UserOnline, UserOffline, FriendAccepted, GroupCreated, GroupJoined, GroupLeft, GroupDissolved,
    ];

    /// <summary>Webhooks off: nothing is written.</summary>
    public static readonly WebhookOutbox Off = new([]);

    private readonly HashSet<string> _types;
    private long _added;

    public WebhookOutbox(IEnumerable<string> types)
    {
        _types = new HashSet<string>(types, StringComparer.Ordinal);
        MessagesCreated = _types.Contains(MessageCreated);
    }

    /// <summary>Whether any event is written.</summary>
    public bool Enabled => _types.Count > 0;

    /// <summary>Whether the message appenders write a message.created row per new message (read once per batch).</summary>
    public bool MessagesCreated { get; }

    public bool Wants(string type) => _types.Contains(type);

    /// <summary>Rows written through <see cref="AddAsync"/> since startup (metrics; message.created rows are counted by the server).</summary>
    public long Added => Interlocked.Read(ref _added);

    /// <summary>Adds an event in the caller's transaction, when its type is wanted; <paramref name="data"/> builds the data object.</summary>
    public async Task AddAsync(DbConnection connection, DbTransaction transaction, string type, long stream, long now, Action<Utf8JsonWriter> data, CancellationToken cancellationToken)
    {
        if (!Wants(type))
        {
            return;
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            data(writer);
            writer.WriteEndObject();
        }

        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO webhook_outbox (type, stream, data, created_at, next_attempt_at) VALUES (@type, @stream, @data, @now, @now)",
            new { type, stream, data = Encoding.UTF8.GetString(buffer.WrittenSpan), now },
            transaction,
            cancellationToken: cancellationToken));
        Interlocked.Increment(ref _added);
    }

    /// <summary>Writes an id as the wire does: a decimal string.</summary>
    public static void WriteId(Utf8JsonWriter writer, string name, long id) => writer.WriteString(name, id.ToString(CultureInfo.InvariantCulture));

    private const string Columns = "id, type, stream, conversation_id, seq, data, created_at, attempts, next_attempt_at, failed_at, last_error";

    /// <summary>
    /// Events due now, oldest first, that no earlier pending event of their stream waits behind (a stream's
    /// events go out in order: one that failed holds back the later ones until it is delivered or moved aside).
    /// </summary>
    public static async Task<IReadOnlyList<OutboxRow>> DueAsync(Database database, long now, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<OutboxRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM webhook_outbox o
            WHERE o.failed_at IS NULL AND o.next_attempt_at <= @now
              AND NOT EXISTS (SELECT 1 FROM webhook_outbox p WHERE p.stream = o.stream AND p.id < o.id AND p.failed_at IS NULL AND p.next_attempt_at > @now)
            ORDER BY o.id LIMIT @limit
            """,
            new { now, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>The messages of a batch's message.created events, in one query (keyed by conversation and seq; gone ones are absent).</summary>
    public static async Task<Dictionary<(long, long), Messaging.MessageRow>> MessagesAsync(Database database, IReadOnlyList<OutboxRow> rows, CancellationToken cancellationToken)
    {
        var wanted = rows.Where(r => r.ConversationId is not null && r.Seq is not null).ToList();
        var found = new Dictionary<(long, long), Messaging.MessageRow>(wanted.Count);
        if (wanted.Count == 0)
        {
            return found;
        }

        var parameters = new DynamicParameters();
        var pairs = new string[wanted.Count];
        for (var i = 0; i < wanted.Count; i++)
        {
            parameters.Add("c" + i, wanted[i].ConversationId);
            parameters.Add("s" + i, wanted[i].Seq);
            pairs[i] = $"(conversation_id = @c{i} AND seq = @s{i})";
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        foreach (var row in await connection.QueryAsync<Messaging.MessageRow>(new CommandDefinition(
            $"SELECT {Messaging.AppendBatch.MessageColumns} FROM messages WHERE {string.Join(" OR ", pairs)}", parameters, cancellationToken: cancellationToken)))
        {
            found[(row.ConversationId, row.Seq)] = row;
        }

        return found;
    }

    /// <summary>Deletes delivered events.</summary>
    public static async Task DeleteAsync(Database database, IReadOnlyCollection<long> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return;
        }

        var (list, parameters) = Sql.InList("i", ids.ToList());
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition($"DELETE FROM webhook_outbox WHERE id IN ({list})", parameters, cancellationToken: cancellationToken));
    }

    /// <summary>Records a failed attempt: the next one at <paramref name="nextAttemptAt"/>, or (when null) the event moves aside.</summary>
    public static async Task FailAsync(Database database, long id, int attempts, long? nextAttemptAt, long now, string error, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE webhook_outbox SET attempts = @attempts, next_attempt_at = @next, failed_at = @failedAt, last_error = @error WHERE id = @id",
            new { id, attempts, next = nextAttemptAt ?? now, failedAt = nextAttemptAt is null ? now : (long?)null, error },
            cancellationToken: cancellationToken));
    }

    /// <summary>Events moved aside, newest first, below <paramref name="beforeId"/>.</summary>
    public static async Task<IReadOnlyList<OutboxRow>> FailedAsync(Database database, long beforeId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<OutboxRow>(new CommandDefinition(
            $"SELECT {Columns} FROM webhook_outbox WHERE failed_at IS NOT NULL AND id < @beforeId ORDER BY id DESC LIMIT @limit",
            new { beforeId, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>
    /// Puts events moved aside back in line (one, or every one when <paramref name="id"/> is null), only those of a
    /// type written now (<see cref="Wants"/>): one of a type no longer on stays on the failed list. How many.
    /// </summary>
    public async Task<int> ReplayAsync(Database database, long? id, long now, CancellationToken cancellationToken)
    {
        if (_types.Count == 0)
        {
            return 0;
        }

        var (list, parameters) = Sql.InList("t", _types.Order(StringComparer.Ordinal).ToList());
        parameters.Add("id", id, System.Data.DbType.Int64);
        parameters.Add("now", now, System.Data.DbType.Int64);
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            $"UPDATE webhook_outbox SET failed_at = NULL, attempts = 0, next_attempt_at = @now, last_error = NULL WHERE failed_at IS NOT NULL AND (@id IS NULL OR id = @id) AND type IN ({list})",
            parameters,
            cancellationToken: cancellationToken));
    }

    /// <summary>The type of a failed event, or null when there is none with that id.</summary>
    public static async Task<string?> FailedTypeAsync(Database database, long id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT type FROM webhook_outbox WHERE id = @id AND failed_at IS NOT NULL", new { id }, cancellationToken: cancellationToken));
    }

    /// <summary>Deletes events moved aside before <paramref name="cutoff"/> (so a receiver gone for good cannot grow the table without bound).</summary>
    public static async Task<int> PruneFailedAsync(Database database, long cutoff, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM webhook_outbox WHERE failed_at IS NOT NULL AND failed_at < @cutoff", new { cutoff }, cancellationToken: cancellationToken));
    }

    /// <summary>Pending and failed counts (tests, metrics); offline notifications' rows (type push, docs/push.md) are not counted.</summary>
    public static async Task<(long Pending, long Failed)> CountAsync(Database database, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleAsync<(long, long)>(new CommandDefinition(
            "SELECT COALESCE(SUM(CASE WHEN failed_at IS NULL THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN failed_at IS NULL THEN 0 ELSE 1 END), 0) FROM webhook_outbox WHERE type <> 'push'",
            cancellationToken: cancellationToken));
        return row;
    }
}
