using Dapper;

namespace Parley.Storage.Accounts;

/// <summary>A code's row as a try sees it, after the try was counted.</summary>
public sealed class EmailCodeRow
{
    public string Email { get; init; } = "";

    public string CodeHash { get; init; } = "";

    /// <summary>Tries so far, this one included.</summary>
    public int Attempts { get; init; }

    public long ExpiresAt { get; init; }
}

public enum VerifyOutcome
{
    Verified,

    /// <summary>The code was used or replaced meanwhile.</summary>
    Gone,

    /// <summary>Another account verified this address first.</summary>
    AddressTaken,
}

/// <summary>
/// Mailed codes for email verification and password reset (migration 0013_email): one live code per account and
/// purpose, stored as an HMAC only, with a try counter and an expiry; and, in the same table, each account's window
/// of failed reset confirmations (purpose <see cref="ResetFailures"/>).
/// </summary>
public sealed class EmailCodeStore(Database database)
{
    public const string Verify = "verify";
    public const string Reset = "reset";

    /// <summary>Not a code: the account's failed reset confirmations in the current window (<see cref="CountResetTryAsync"/>).</summary>
    public const string ResetFailures = "reset-fail";

    /// <summary>The account whose verified address this is (lower-cased key), or null.</summary>
    public async Task<long?> FindVerifiedAsync(string emailKey, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT id FROM users WHERE verified_email_key = @emailKey", new { emailKey }, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Stores a new code for the account and purpose, replacing any earlier one (and its tries); drops expired codes.
    /// With <paramref name="keepLiveBelowTries"/> set, a live code (unexpired, fewer tries than that) is kept with its
    /// tries instead, and nothing is stored: returns whether the new code was stored.
    /// </summary>
    public async Task<bool> PutAsync(long userId, string purpose, string email, string codeHash, long now, long expiresAt, int? keepLiveBelowTries, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM email_codes WHERE expires_at <= @now", new { now }, transaction, cancellationToken: cancellationToken));
        var stored = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO email_codes (user_id, purpose, email, code_hash, attempts, created_at, expires_at)
            VALUES (@userId, @purpose, @email, @codeHash, 0, @now, @expiresAt)
            ON CONFLICT (user_id, purpose) DO UPDATE SET
                email = excluded.email, code_hash = excluded.code_hash, attempts = 0,
                created_at = excluded.created_at, expires_at = excluded.expires_at
            WHERE email_codes.expires_at <= @now OR email_codes.attempts >= @keepBelow
            """,
            new { userId, purpose, email, codeHash, now, expiresAt, keepBelow = keepLiveBelowTries ?? 0 },
            transaction,
            cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return stored == 1;
    }

    /// <summary>
    /// Counts one try of the account's code (committed before the caller compares, so concurrent guesses cannot
    /// share a count) and returns the code as it is now; null when there is none.
    /// </summary>
    public async Task<EmailCodeRow?> CountTryAsync(long userId, string purpose, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<EmailCodeRow>(new CommandDefinition(
            """
            UPDATE email_codes SET attempts = attempts + 1
            WHERE user_id = @userId AND purpose = @purpose
            RETURNING email, code_hash, attempts, expires_at
            """,
            new { userId, purpose },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Counts one try of the account's reset code and one failure in the account's <see cref="ResetFailures"/> window
    /// (<paramref name="windowMs"/> long from its first failure), in one transaction committed before the caller
    /// compares: concurrent guesses share both counts. A right code takes its failure back
    /// (<see cref="CompleteResetAsync"/>). Returns the code as it is now (null when there is none) and the failures in
    /// the window, this try included (0 for no account: user 0 gets no row, but the statements are the same).
    /// </summary>
    public async Task<(EmailCodeRow? Code, int Failures)> CountResetTryAsync(long userId, long now, long windowMs, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        var code = await connection.QuerySingleOrDefaultAsync<EmailCodeRow>(new CommandDefinition(
            """
            UPDATE email_codes SET attempts = attempts + 1
            WHERE user_id = @userId AND purpose = @purpose
            RETURNING email, code_hash, attempts, expires_at
            """,
            new { userId, purpose = Reset },
            transaction,
            cancellationToken: cancellationToken));
        // The failure window is a row of its own (purpose 'reset-fail', attempts = failures, expires_at = end of the
        // window), so it is in the database: shared by every node, gone with the account, dropped once expired.
        var failures = await connection.ExecuteScalarAsync<int?>(new CommandDefinition(
            """
            INSERT INTO email_codes (user_id, purpose, email, code_hash, attempts, created_at, expires_at)
            SELECT @userId, @purpose, '', '', 1, @now, @windowEnd WHERE EXISTS (SELECT 1 FROM users WHERE id = @userId)
            ON CONFLICT (user_id, purpose) DO UPDATE SET
                attempts = CASE WHEN email_codes.expires_at <= @now THEN 1 ELSE email_codes.attempts + 1 END,
                created_at = CASE WHEN email_codes.expires_at <= @now THEN excluded.created_at ELSE email_codes.created_at END,
                expires_at = CASE WHEN email_codes.expires_at <= @now THEN excluded.expires_at ELSE email_codes.expires_at END
            RETURNING attempts
            """,
            new { userId, purpose = ResetFailures, now, windowEnd = now + windowMs },
            transaction,
            cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return (code, failures ?? 0);
    }

    /// <summary>Uses up the verification code <paramref name="codeHash"/> and marks its address verified, in one transaction.</summary>
    public async Task<VerifyOutcome> CompleteVerificationAsync(long userId, string codeHash, string email, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        try
        {
            if (!await TakeAsync(connection, transaction, userId, Verify, codeHash, cancellationToken))
            {
                return VerifyOutcome.Gone;
            }

            await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE users SET email = @email, email_verified_at = @now, verified_email_key = @emailKey, updated_at = @now
                WHERE id = @userId
                """,
                new { userId, email, emailKey = EmailKey(email), now },
                transaction,
                cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
            return VerifyOutcome.Verified;
        }
        catch (Exception e) when (Database.IsUniqueViolation(e))
        {
            return VerifyOutcome.AddressTaken;
        }
    }

    /// <summary>
    /// Uses up the reset code <paramref name="codeHash"/>, sets the new password hash with its SCRAM-SHA-256 credentials
    /// (null: none, the old ones are dropped) and revokes every session of the account, in one transaction. Returns the
    /// sessions revoked, or null when the code was used or replaced meanwhile.
    /// </summary>
    public async Task<IReadOnlyList<long>?> CompleteResetAsync(long userId, string codeHash, string newPasswordHash, string? newScramSha256, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        if (!await TakeAsync(connection, transaction, userId, Reset, codeHash, cancellationToken))
        {
            return null;
        }

        // The right code was counted as a failure before it was compared: take that back (earlier failures stay).
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE email_codes SET attempts = attempts - 1 WHERE user_id = @userId AND purpose = @purpose AND attempts > 0",
            new { userId, purpose = ResetFailures },
            transaction,
            cancellationToken: cancellationToken));

        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE users SET password_hash = @newPasswordHash, scram_sha256 = @newScramSha256, updated_at = @now WHERE id = @userId",
            new { userId, newPasswordHash, newScramSha256, now },
            transaction,
            cancellationToken: cancellationToken));
        var revoked = (await connection.QueryAsync<long>(new CommandDefinition(
            """
            UPDATE device_sessions SET revoked_at = @now, revoked_reason = 'password_reset'
            WHERE user_id = @userId AND revoked_at IS NULL
            RETURNING id
            """,
            new { userId, now },
            transaction,
            cancellationToken: cancellationToken))).AsList();
        await transaction.CommitAsync(cancellationToken);
        return revoked;
    }

    /// <summary>How verified addresses are compared: trimmed and lower-cased (invariant).</summary>
    public static string EmailKey(string email) => email.Trim().ToLowerInvariant();

    private static async Task<bool> TakeAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, long userId, string purpose, string codeHash, CancellationToken cancellationToken) =>
        1 == await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM email_codes WHERE user_id = @userId AND purpose = @purpose AND code_hash = @codeHash",
            new { userId, purpose, codeHash },
            transaction,
            cancellationToken: cancellationToken));
}
