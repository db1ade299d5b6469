using System.Security.Cryptography;
using Parley.Server.Accounts;

namespace Parley.Server.Xmpp.Sasl;

/// <summary>
/// SASL SCRAM-SHA-256 for the XMPP gateway (a singleton): <see cref="Start"/> makes the server side of one exchange,
/// counted against the login throttle of the client's address. Only the non-PLUS mechanism: no channel binding yet.
/// </summary>
public sealed class ScramSha256Mechanism
{
    public const string Name = "SCRAM-SHA-256";

    private readonly IScramCredentials _credentials;
    private readonly AuthThrottle _throttle;
    private readonly byte[] _fakeSaltKey;
    private readonly int _iterations;

    public ScramSha256Mechanism(IScramCredentials credentials, AuthThrottle throttle, ScramKeys keys, SigningKey signingKey)
    {
        _credentials = credentials;
        _throttle = throttle;
        _iterations = keys.Iterations;
        // A key of its own, derived from the signing key: the same fake salts on every node and after a restart.
        _fakeSaltKey = HMACSHA256.HashData(signingKey.Bytes, "parley scram fake salts"u8);
    }

    /// <summary>
    /// A new exchange for a client at <paramref name="clientAddress"/>; <paramref name="domain"/> (<c>Xmpp:Domain</c>) lets
    /// the authzid be the bare JID <c>user@domain</c> as well as the username.
    /// </summary>
    public ScramSha256Server Start(string clientAddress, string? domain) =>
        new(_credentials, new ThrottledSaslAttempts(_throttle, clientAddress), _fakeSaltKey, _iterations, domain);
}
