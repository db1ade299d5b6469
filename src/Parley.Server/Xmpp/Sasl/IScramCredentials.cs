using Parley.Storage.Accounts;

namespace Parley.Server.Xmpp.Sasl;

/// <summary>A user as SCRAM sees it: <see cref="Credential"/> is null while the user has no (well-formed) keys stored.</summary>
public sealed record ScramAccount(long UserId, string Username, ScramCredential? Credential, bool Disabled);

/// <summary>Where <see cref="ScramSha256Server"/> finds a user's stored SCRAM-SHA-256 credentials.</summary>
public interface IScramCredentials
{
    /// <summary>The user named <paramref name="username"/> (any letter case), or null when there is none.</summary>
    Task<ScramAccount?> FindAsync(string username, CancellationToken cancellationToken);
}

/// <summary>The stored credentials (users.scram_sha256); a value that does not parse counts as none.</summary>
public sealed class StoredScramCredentials(UserStore users) : IScramCredentials
{
    public async Task<ScramAccount?> FindAsync(string username, CancellationToken cancellationToken)
    {
        var row = await users.FindScramAsync(username, cancellationToken);
        return row is null
            ? null
            : new ScramAccount(row.Id, row.Username, ScramCredential.TryParse(row.ScramSha256, out var credential) ? credential : null, row.DisabledAt is not null);
    }
}
