using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Storage.Accounts;

namespace Parley.Server.Xmpp.Sasl;

/// <summary>
/// Makes the SCRAM-SHA-256 credentials stored beside the Argon2id hash: when a password is set (registration, import
/// with a password, change, email reset: written in the same statement as the hash) and when one is used (a login that
/// verified the hash and finds no keys, or keys of another iteration count than <c>Auth:ScramIterations</c>). The
/// PBKDF2 runs in a <see cref="PasswordHashing"/> slot, like the hash. Salts are 16 random bytes.
/// </summary>
public sealed class ScramKeys
{
    public const int SaltSize = 16;

    private readonly PasswordHashing _passwords;
    private readonly UserStore _users;

    public ScramKeys(IOptions<AuthOptions> options, PasswordHashing passwords, UserStore users)
    {
        Iterations = options.Value.ScramIterations;
        if (Iterations is < ScramCredential.MinIterations or > ScramCredential.MaxIterations)
        {
            throw new InvalidOperationException(
                $"Auth:ScramIterations must be between {ScramCredential.MinIterations} (RFC 7677's minimum) and {ScramCredential.MaxIterations}, not {Iterations}.");
        }

        _passwords = passwords;
        _users = users;
    }

    /// <summary>The iteration count new keys get (<c>Auth:ScramIterations</c>).</summary>
    public int Iterations { get; }

    /// <summary>The stored text of new keys for <paramref name="password"/> (fresh salt); null when SASLprep refuses it.</summary>
    public Task<string?> MakeAsync(string password, CancellationToken cancellationToken) =>
        _passwords.RunInSlotAsync(() => Make(password), cancellationToken);

    /// <summary>Whether <paramref name="stored"/> is well formed and of the configured iteration count.</summary>
    public bool IsCurrent(string? stored) => ScramCredential.TryParse(stored, out var credential) && credential.Iterations == Iterations;

    /// <summary>
    /// After a login verified <paramref name="password"/> against <paramref name="verifiedPasswordHash"/> (HTTP, or SASL
    /// PLAIN in the XMPP gateway): stores keys when the user has none or keys of another iteration count. Never fails
    /// the login: a busy hashing queue or a password changed meanwhile leaves the keys for the next one.
    /// </summary>
    public async Task RefreshAfterLoginAsync(string username, string verifiedPasswordHash, string password, CancellationToken cancellationToken)
    {
        var row = await _users.FindScramAsync(username, cancellationToken);
        if (row is null || IsCurrent(row.ScramSha256) || !SaslPrep.TryPrepare(password, out _))
        {
            return;
        }

        string? made;
        try
        {
            made = await MakeAsync(password, cancellationToken);
        }
        catch (ApiException e) when (e.Status == 503)
        {
            return;
        }

        if (made is not null)
        {
            await _users.SetScramAsync(row.Id, verifiedPasswordHash, made, cancellationToken);
        }
    }

    private string? Make(string password) =>
        ScramCredential.Derive(password, RandomNumberGenerator.GetBytes(SaltSize), Iterations)?.Format();
}
