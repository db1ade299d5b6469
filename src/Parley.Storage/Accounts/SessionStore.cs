using Dapper;

namespace Parley.Storage.Accounts;

public sealed class SessionRow
{
    public long Id { get; init; }

    public long UserId { get; init; }

    public string? DeviceName { get; init; }

    public long CreatedAt { get; init; }

    public long LastUsedAt { get; init; }

    public long? RevokedAt { get; init; }

    public string? RevokedReason { get; init; }
}

public enum RefreshOutcome
{
    Rotated,
    NotFound,
    Expired,
    Revoked,
    /// <summary>The token had already been used: the session is now revoked.</summary>
    Reused,
    /// <summary>The user's account is disabled (its sessions were revoked with it).</summary>
    Disabled,
}

public readonly record struct RefreshResult(RefreshOutcome Outcome, long SessionId, long UserId);

/// <summary>Device sessions and their refresh tokens (stored only as hashes).</summary>
public sealed class SessionStore(Database database)
{
    /// <summary>
    /// Opens a device session, but only if the user's password hash is still <paramref name="verifiedPasswordHash"/>
    /// (the one the login checked). The user's row is locked first, so a login racing a password change either
    /// finishes before the change (and is then revoked by it) or sees the new hash and fails.
    /// </summary>
    public async Task<bool> CreateAsync(SessionRow session, string verifiedPasswordHash, string refreshTokenHash, long refreshExpiresAt, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        var current = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            // A disabled account opens no session: a login checked before the disable committed loses here.
            $"SELECT password_hash FROM users WHERE id = @UserId AND disabled_at IS NULL{database.ForUpdate}",
            new { session.UserId },
            transaction,
            cancellationToken: cancellationToken));
        if (current != verifiedPasswordHash)
        {
            return false;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO device_sessions (id, user_id, device_name, created_at, last_used_at)
            VALUES (@Id, @UserId, @DeviceName, @CreatedAt, @CreatedAt)
            """,
            session,
            transaction,
            cancellationToken: cancellationToken));
        await InsertTokenAsync(connection, transaction, session.Id, refreshTokenHash, session.CreatedAt, refreshExpiresAt, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Sets a new password hash with its SCRAM-SHA-256 credentials (null: none, the old ones are dropped) and revokes
    /// every other live session of the user, in one transaction that holds the user's row lock; returns the ids revoked.
    /// </summary>
    public async Task<IReadOnlyList<long>> ChangePasswordAsync(long userId, string newPasswordHash, string? newScramSha256, long keepSessionId, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE users SET password_hash = @newPasswordHash, scram_sha256 = @newScramSha256, updated_at = @now WHERE id = @userId",
            new { userId, newPasswordHash, newScramSha256, now },
            transaction,
            cancellationToken: cancellationToken));
        var revoked = (await connection.QueryAsync<long>(new CommandDefinition(
            """
            UPDATE device_sessions SET revoked_at = @now, revoked_reason = 'password_changed'
            WHERE user_id = @userId AND id <> @keepSessionId AND revoked_at IS NULL
            RETURNING id
            """,
            new { userId, keepSessionId, now },
            transaction,
            cancellationToken: cancellationToken))).AsList();
        await transaction.CommitAsync(cancellationToken);
        return revoked;
    }

    public async Task<SessionRow?> GetAsync(long sessionId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<SessionRow>(new CommandDefinition(
            "SELECT id, user_id, device_name, created_at, last_used_at, revoked_at, revoked_reason FROM device_sessions WHERE id = @sessionId",
            new { sessionId },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Retires the presented token and stores its successor, in one transaction. A token that was already
    /// retired revokes the whole session (someone else holds a copy); so does losing a race to retire it.
    /// </summary>
    public async Task<RefreshResult> RotateAsync(string presentedHash, string newHash, long now, long newExpiresAt, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        var token = await connection.QuerySingleOrDefaultAsync<TokenView>(new CommandDefinition(
            """
            SELECT t.session_id, t.expires_at, t.retired_at, s.user_id, s.revoked_at, u.disabled_at
            FROM refresh_tokens t JOIN device_sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id
            WHERE t.token_hash = @presentedHash
            """,
            new { presentedHash },
            transaction,
            cancellationToken: cancellationToken));
        if (token is null)
        {
            return new RefreshResult(RefreshOutcome.NotFound, 0, 0);
        }

        if (token.DisabledAt is not null)
        {
            return new RefreshResult(RefreshOutcome.Disabled, token.SessionId, token.UserId);
        }

        if (token.RevokedAt is not null)
        {
            return new RefreshResult(RefreshOutcome.Revoked, token.SessionId, token.UserId);
        }

        var retired = token.RetiredAt is null && await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE refresh_tokens SET retired_at = @now WHERE token_hash = @presentedHash AND retired_at IS NULL",
            new { presentedHash, now },
            transaction,
            cancellationToken: cancellationToken)) == 1;
        if (!retired)
        {
            await RevokeAsync(connection, transaction, token.SessionId, "token_reused", now, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return new RefreshResult(RefreshOutcome.Reused, token.SessionId, token.UserId);
        }

        if (token.ExpiresAt <= now)
        {
            // Nothing to keep: the retirement above is rolled back with the transaction.
            return new RefreshResult(RefreshOutcome.Expired, token.SessionId, token.UserId);
        }

        // Revoked since the read above (a logout or password change on PostgreSQL's READ COMMITTED): no new pair.
        if (await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE device_sessions SET last_used_at = @now WHERE id = @SessionId AND revoked_at IS NULL",
                new { now, token.SessionId },
                transaction,
                cancellationToken: cancellationToken)) == 0)
        {
            return new RefreshResult(RefreshOutcome.Revoked, token.SessionId, token.UserId);
        }

        await InsertTokenAsync(connection, transaction, token.SessionId, newHash, now, newExpiresAt, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new RefreshResult(RefreshOutcome.Rotated, token.SessionId, token.UserId);
    }

    /// <summary>Revokes the session that a refresh token (current or retired) belongs to; returns it, if any.</summary>
    public async Task<SessionRow?> RevokeByTokenAsync(string tokenHash, string reason, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        var session = await connection.QuerySingleOrDefaultAsync<SessionRow>(new CommandDefinition(
            """
            SELECT s.id, s.user_id, s.revoked_at FROM refresh_tokens t JOIN device_sessions s ON s.id = t.session_id
            WHERE t.token_hash = @tokenHash
            """,
            new { tokenHash },
            transaction,
            cancellationToken: cancellationToken));
        if (session is null)
        {
            return null;
        }

        await RevokeAsync(connection, transaction, session.Id, reason, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return session;
    }

    /// <summary>
    /// Revokes every live session of the user and, when <paramref name="disabled"/> is given, sets or clears the
    /// account's disabled mark in the same transaction (true: disabled now, false: enabled). Returns the sessions
    /// revoked, or null when the user does not exist.
    /// </summary>
    public async Task<IReadOnlyList<long>?> RevokeAllAsync(long userId, string reason, bool? disabled, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        var found = await connection.ExecuteAsync(new CommandDefinition(
            disabled switch
            {
                true => "UPDATE users SET disabled_at = COALESCE(disabled_at, @now), updated_at = @now WHERE id = @userId",
                false => "UPDATE users SET disabled_at = NULL, updated_at = @now WHERE id = @userId",
                // Locks the user's row as a login's session insert does, so no session opens between these statements.
                null => "UPDATE users SET updated_at = updated_at WHERE id = @userId",
            },
            new { userId, now },
            transaction,
            cancellationToken: cancellationToken));
        if (found == 0)
        {
            return null;
        }

        IReadOnlyList<long> revoked = disabled == false
            ? []
            : (await connection.QueryAsync<long>(new CommandDefinition(
                """
                UPDATE device_sessions SET revoked_at = @now, revoked_reason = @reason
                WHERE user_id = @userId AND revoked_at IS NULL
                RETURNING id
                """,
                new { userId, reason, now },
                transaction,
                cancellationToken: cancellationToken))).AsList();
        await transaction.CommitAsync(cancellationToken);
        return revoked;
    }

    /// <summary>Deletes refresh-token rows past their expiry (they can no longer be rotated nor reused).</summary>
    public async Task<int> DeleteExpiredTokensAsync(long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM refresh_tokens WHERE expires_at < @now", new { now }, cancellationToken: cancellationToken));
    }

    private static Task InsertTokenAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, long sessionId, string hash, long now, long expiresAt, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES (@hash, @sessionId, @now, @expiresAt)",
            new { hash, sessionId, now, expiresAt },
            transaction,
            cancellationToken: cancellationToken));

    private static Task RevokeAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, long sessionId, string reason, long now, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            "UPDATE device_sessions SET revoked_at = @now, revoked_reason = @reason WHERE id = @sessionId AND revoked_at IS NULL",
            new { sessionId, reason, now },
            transaction,
            cancellationToken: cancellationToken));

    private sealed class TokenView
    {
        public long SessionId { get; init; }

        public long ExpiresAt { get; init; }

        public long? RetiredAt { get; init; }

        public long UserId { get; init; }

        public long? RevokedAt { get; init; }

        public long? DisabledAt { get; init; }
    }
}
