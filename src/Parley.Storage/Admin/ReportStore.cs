using Dapper;

namespace Parley.Storage.Admin;

public sealed class ReportRow
{
    public long Id { get; init; }

    public long ConversationId { get; init; }

    public long Seq { get; init; }

    public long ReporterId { get; init; }

    public long SenderId { get; init; }

    public string MessageType { get; init; } = "";

    /// <summary>The message's content (JSON) when it was reported; null if it was already recalled.</summary>
    public string? Content { get; init; }

    public string Reason { get; init; } = "";

    public long CreatedAt { get; init; }

    public long? ResolvedAt { get; init; }

    public string? ResolvedNote { get; init; }
}

public enum ReportState
{
    Open,
    Resolved,
    All,
}

/// <summary>Members' reports about messages, and the operator's resolutions.</summary>
public sealed class ReportStore(Database database)
{
    private const string Columns = "id, conversation_id, seq, reporter_id, sender_id, message_type, content, reason, created_at, resolved_at, resolved_note";

    /// <summary>Stores the report; false when this reporter already reported this message (nothing changes then).</summary>
    public async Task<bool> CreateAsync(ReportRow report, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return 1 == await connection.ExecuteAsync(new CommandDefinition(
            $"""
            INSERT INTO reports ({Columns})
            VALUES (@Id, @ConversationId, @Seq, @ReporterId, @SenderId, @MessageType, @Content, @Reason, @CreatedAt, NULL, NULL)
            ON CONFLICT (reporter_id, conversation_id, seq) DO NOTHING
            """,
            report,
            cancellationToken: cancellationToken));
    }

    /// <summary>Reports in the state, newest first, before <paramref name="beforeId"/>.</summary>
    public async Task<IReadOnlyList<ReportRow>> ListAsync(ReportState state, long beforeId, int limit, CancellationToken cancellationToken)
    {
        var filter = state switch
        {
            ReportState.Open => " AND resolved_at IS NULL",
            ReportState.Resolved => " AND resolved_at IS NOT NULL",
            _ => "",
        };
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<ReportRow>(new CommandDefinition(
            $"SELECT {Columns} FROM reports WHERE id < @beforeId{filter} ORDER BY id DESC LIMIT @limit",
            new { beforeId, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>Marks the report resolved (the first resolution's time and note stay); null when there is no such report.</summary>
    public async Task<ReportRow?> ResolveAsync(long id, string? note, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE reports SET resolved_at = @now, resolved_note = @note WHERE id = @id AND resolved_at IS NULL",
            new { id, note, now },
            cancellationToken: cancellationToken));
        return await connection.QuerySingleOrDefaultAsync<ReportRow>(new CommandDefinition(
            $"SELECT {Columns} FROM reports WHERE id = @id", new { id }, cancellationToken: cancellationToken));
    }
}

/// <summary>The counts of the admin stats call.</summary>
public readonly record struct StoredCounts(long Users, long Groups, long MessagesSince);

public sealed class AdminCountsStore(Database database)
{
    /// <summary>
    /// Users, groups, and messages sent since <paramref name="since"/>. The last is counted only over conversations
    /// active since then (messages has no index on sent_at, on purpose: it would cost every message a page write),
    /// so the scan is over the recent conversations' messages, not the whole table.
    /// </summary>
    public async Task<StoredCounts> CountAsync(long since, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var users = await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM users", cancellationToken: cancellationToken));
        var groups = await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM groups", cancellationToken: cancellationToken));
        var messages = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            SELECT COUNT(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE c.last_activity_at >= @since AND m.sent_at >= @since
            """,
            new { since },
            cancellationToken: cancellationToken));
        return new StoredCounts(users, groups, messages);
    }
}
