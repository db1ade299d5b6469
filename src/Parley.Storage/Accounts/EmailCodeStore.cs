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
/// purpose, stored as an HMAC only, with a try counter and an expiry.
/// </summary>
public sealed class EmailCodeStore(Database database)
{
    public const string Verify = "verify";
    public const string Reset = "reset";

    /// <summary>The account whose verified address this is (lower-cased key), or null.</summary>
    public async Task<long?> FindVerifiedAsync(string emailKey, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT id FROM users WHERE verified_email_key = @emailKey", new { emailKey }, cancellationToken: cancellationToken));
    }

    /// <summary>Stores a new code for the account and purpose, replacing any earlier one (and its tries); drops expired codes.</summary>
    public async Task PutAsync(long userId, string purpose, string email, string codeHash, long now, long expiresAt, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM email_codes WHERE expires_at <= @now", new { now }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO email_codes (user_id, purpose, email, code_hash, attempts, created_at, expires_at)
            VALUES (@userId, @purpose, @email, @codeHash, 0, @now, @expiresAt)
            ON CONFLICT (user_id, purpose) DO UPDATE SET
                email = excluded.email, code_hash = excluded.code_hash, attempts = 0,
                created_at = excluded.created_at, expires_at = excluded.expires_at
            """,
            new { userId, purpose, email, codeHash, now, expiresAt },
            transaction,
            cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
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
    /// Uses up the reset code <paramref name="codeHash"/>, sets the new password hash and revokes every session of the
    /// account, in one transaction. Returns the sessions revoked, or null when the code was used or replaced meanwhile.
    /// </summary>
    public async Task<IReadOnlyList<long>?> CompleteResetAsync(long userId, string codeHash, string newPasswordHash, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        if (!await TakeAsync(connection, transaction, userId, Reset, codeHash, cancellationToken))
        {
            return null;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE users SET password_hash = @newPasswordHash, updated_at = @now WHERE id = @userId",
            new { userId, newPasswordHash, now },
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
