using System.Data.Common;
using Dapper;

namespace Parley.Storage.Push;

/// <summary>A registered push target (an endpoint of one device session).</summary>
public sealed class PushTargetRow
{
    public long Id { get; init; }

    public long UserId { get; init; }

    public long SessionId { get; init; }

    public string Kind { get; init; } = "";

    public string Endpoint { get; init; } = "";

    public long CreatedAt { get; init; }
}

/// <summary>A push to write: for every live target of <see cref="UserId"/>, unless they muted the conversation.</summary>
public readonly record struct PushRequest(long UserId, long ConversationId, string Data);

/// <summary>What registering an endpoint did.</summary>
public enum PushTargetOutcome
{
    Created,

    /// <summary>The user had this endpoint already: it now belongs to the calling session.</summary>
    Moved,

    /// <summary>The user has the most targets allowed.</summary>
    TooMany,
}

/// <summary>
/// Push targets (migration 0015) and the pushes written for them. A target belongs to a device session: one of a
/// revoked session is never pushed to (the queries join the session) and is deleted by <see cref="SweepAsync"/>.
/// Pushes are webhook outbox rows of type <see cref="OutboxType"/>, stream = the target's id (a failing endpoint holds
/// back only its own pushes), data = the JSON body posted.
/// </summary>
public sealed class PushStore(Database database)
{
    public const string OutboxType = "push";

    private const string Columns = "id, user_id, session_id, kind, endpoint, created_at";

    /// <summary>
    /// Registers <paramref name="endpoint"/> for the caller's session: a new target, or the user's target with that
    /// endpoint moved to this session; refused when the user already has <paramref name="maxPerUser"/> others.
    /// </summary>
    public async Task<(PushTargetOutcome Outcome, PushTargetRow? Target)> AddAsync(long id, long userId, long sessionId, string kind, string endpoint, long now, int maxPerUser, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        // The user's row locked (PostgreSQL), as a login's session insert does: two registrations cannot both pass the cap.
        await connection.ExecuteAsync(new CommandDefinition("UPDATE users SET updated_at = updated_at WHERE id = @userId", new { userId }, transaction, cancellationToken: cancellationToken));
        var existing = await connection.QuerySingleOrDefaultAsync<PushTargetRow>(new CommandDefinition(
            $"SELECT {Columns} FROM push_targets WHERE user_id = @userId AND endpoint = @endpoint", new { userId, endpoint }, transaction, cancellationToken: cancellationToken));
        if (existing is not null)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE push_targets SET session_id = @sessionId, kind = @kind WHERE id = @Id", new { existing.Id, sessionId, kind }, transaction, cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
            return (PushTargetOutcome.Moved, new PushTargetRow { Id = existing.Id, UserId = userId, SessionId = sessionId, Kind = kind, Endpoint = endpoint, CreatedAt = existing.CreatedAt });
        }

        var count = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM push_targets t JOIN device_sessions s ON s.id = t.session_id WHERE t.user_id = @userId AND s.revoked_at IS NULL", new { userId }, transaction, cancellationToken: cancellationToken));
        if (count >= maxPerUser)
        {
            return (PushTargetOutcome.TooMany, null);
        }

        var row = new PushTargetRow { Id = id, UserId = userId, SessionId = sessionId, Kind = kind, Endpoint = endpoint, CreatedAt = now };
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO push_targets (id, user_id, session_id, kind, endpoint, created_at) VALUES (@Id, @UserId, @SessionId, @Kind, @Endpoint, @CreatedAt)",
            row,
            transaction,
            cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return (PushTargetOutcome.Created, row);
    }

    /// <summary>The user's targets of live sessions, by id, after <paramref name="afterId"/> (at most <paramref name="limit"/>).</summary>
    public async Task<IReadOnlyList<PushTargetRow>> ListAsync(long userId, long afterId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<PushTargetRow>(new CommandDefinition(
            """
            SELECT t.id, t.user_id, t.session_id, t.kind, t.endpoint, t.created_at FROM push_targets t JOIN device_sessions s ON s.id = t.session_id
            WHERE t.user_id = @userId AND t.id > @afterId AND s.revoked_at IS NULL ORDER BY t.id LIMIT @limit
            """,
            new { userId, afterId, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>Deletes the user's target; false when they have none with that id (a revoked session's is gone already).</summary>
    public async Task<bool> DeleteAsync(long userId, long id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM push_targets WHERE id = @id AND user_id = @userId AND session_id IN (SELECT s.id FROM device_sessions s WHERE s.revoked_at IS NULL)",
            new { id, userId },
            cancellationToken: cancellationToken)) == 1;
    }

    /// <summary>Deletes a target whatever its owner (its endpoint answered that it is gone).</summary>
    public async Task DeleteAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM push_targets WHERE id = @id", new { id }, cancellationToken: cancellationToken));
    }

    /// <summary>The users with at least one target of a live session.</summary>
    public async Task<HashSet<long>> UsersAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return [.. await connection.QueryAsync<long>(new CommandDefinition(
            "SELECT DISTINCT t.user_id FROM push_targets t JOIN device_sessions s ON s.id = t.session_id WHERE s.revoked_at IS NULL",
            cancellationToken: cancellationToken))];
    }

    /// <summary>Deletes the targets of revoked sessions and of sessions whose every refresh token expired (they cannot come back); how many.</summary>
    public async Task<int> SweepAsync(long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            DELETE FROM push_targets WHERE session_id IN (SELECT s.id FROM device_sessions s WHERE s.revoked_at IS NOT NULL)
               OR NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = push_targets.session_id AND r.expires_at > @now)
            """,
            new { now },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Writes the pushes, in one transaction: one outbox row per live target of each request's user, none when the
    /// user muted the conversation (or has no live target any more). How many rows.
    /// </summary>
    public async Task<int> EnqueueAsync(IReadOnlyList<PushRequest> requests, long now, CancellationToken cancellationToken)
    {
        if (requests.Count == 0)
        {
            return 0;
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        var written = 0;
        foreach (var r in requests)
        {
            written += await connection.ExecuteAsync(new CommandDefinition(
                $"""
                INSERT INTO webhook_outbox (type, stream, data, created_at, next_attempt_at)
                SELECT '{OutboxType}', t.id, @Data, @now, @now
                FROM push_targets t JOIN device_sessions s ON s.id = t.session_id
                WHERE t.user_id = @UserId AND s.revoked_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM conversation_members m WHERE m.conversation_id = @ConversationId AND m.user_id = @UserId AND m.muted <> 0)
                """,
                new { r.UserId, r.ConversationId, r.Data, now },
                transaction,
                cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
        return written;
    }

    /// <summary>The endpoints of those targets that still exist and belong to a live session, by id.</summary>
    public async Task<Dictionary<long, string>> EndpointsAsync(IReadOnlyList<long> targetIds, CancellationToken cancellationToken)
    {
        var found = new Dictionary<long, string>(targetIds.Count);
        if (targetIds.Count == 0)
        {
            return found;
        }

        var (list, parameters) = Sql.InList("t", targetIds);
        await using var connection = await database.OpenAsync(cancellationToken);
        foreach (var (id, endpoint) in await connection.QueryAsync<(long, string)>(new CommandDefinition(
            $"SELECT t.id, t.endpoint FROM push_targets t JOIN device_sessions s ON s.id = t.session_id WHERE s.revoked_at IS NULL AND t.id IN ({list})",
            parameters,
            cancellationToken: cancellationToken)))
        {
            found[id] = endpoint;
        }

        return found;
    }

    /// <summary>Pending push rows (tests, metrics).</summary>
    public async Task<long> PendingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            $"SELECT COUNT(*) FROM webhook_outbox WHERE type = '{OutboxType}'", cancellationToken: cancellationToken));
    }
}
