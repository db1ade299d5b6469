using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Server.Xmpp.Sasl;

/// <summary>
/// The server side of one SASL SCRAM-SHA-256 exchange (RFC 5802, RFC 7677), a state machine of two steps:
/// <see cref="StartAsync"/> takes the client-first-message and answers the server-first-message;
/// <see cref="FinishAsync"/> takes the client-final-message and answers the server-final-message (<c>v=...</c>, the
/// additional data of <c>&lt;success/&gt;</c>). Any failure ends the exchange; every later call fails. Not thread-safe:
/// one per stream, called in order.
/// <list type="bullet">
/// <item>GS2 header: <c>n,,</c> and <c>y,,</c> (the client could bind but we offer no -PLUS mechanism) are accepted;
/// <c>p=</c> (channel binding) is refused with malformed-request: there is no tls-server-end-point or tls-exporter yet.
/// The authzid (<c>a=</c>) must be the username or <c>username@domain</c>, else invalid-authzid.</item>
/// <item>Attributes are parsed strictly in the RFC's order; <c>m=</c> (mandatory extensions) is refused; optional
/// extensions are ignored; base64 must be canonical. Any syntax error is malformed-request.</item>
/// <item>Nonce: the client's followed by 24 random bytes in base64 (printable, no comma). The client-final's nonce
/// must be exactly that, else not-authorized (a replayed final from another exchange fails here).</item>
/// <item>A username without stored keys (no such user, or keys not made yet) gets a fake salt, HMAC(server secret,
/// username) truncated to 16 bytes, and the configured iteration count, so the first step looks the same for every
/// name; the proof then cannot match (not-authorized). The proof is checked with a constant-time compare.</item>
/// <item>A right proof of a disabled account is account-disabled (told only to whoever knows the password).</item>
/// <item>Throttling: <see cref="ISaslAttempts.BeginAsync"/> once the first message parsed (a refused attempt is
/// temporary-auth-failure with <see cref="SaslStep.RetryAfterSeconds"/>); success takes the count back, a wrong proof or
/// a malformed final keeps it, <see cref="AbortAsync"/> (client abort or stream closed between the steps) takes it back.</item>
/// </list>
/// </summary>
public sealed class ScramSha256Server
{
    /// <summary>The longest client message taken (a username is at most 64 characters; nonces are short).</summary>
    public const int MaxMessageBytes = 4096;

    private const int ServerNonceBytes = 24;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly IScramCredentials _credentials;
    private readonly ISaslAttempts? _attempts;
    private readonly byte[] _fakeSaltKey;
    private readonly int _iterations;
    private readonly string? _domain;
    private readonly Func<string> _serverNonce;

    private State _state;
    private string _gs2Header = "";
    private string _clientFirstBare = "";
    private string _serverFirst = "";
    private string _nonce = "";
    private string _username = "";
    private ScramAccount? _account;
    private ScramCredential? _credential;

    /// <param name="credentials">Where the stored keys are read.</param>
    /// <param name="attempts">The login throttle (null: none, for tests of the mechanism alone).</param>
    /// <param name="fakeSaltKey">The secret fake salts are made with.</param>
    /// <param name="iterations">The iteration count fake credentials show (<c>Auth:ScramIterations</c>).</param>
    /// <param name="domain">The XMPP domain, for an authzid that is a bare JID; null to accept only the username.</param>
    /// <param name="serverNonce">Makes the server's part of the nonce (tests pass RFC 7677's); random when null.</param>
    public ScramSha256Server(IScramCredentials credentials, ISaslAttempts? attempts, byte[] fakeSaltKey, int iterations, string? domain, Func<string>? serverNonce = null)
    {
        _credentials = credentials;
        _attempts = attempts;
        _fakeSaltKey = fakeSaltKey;
        _iterations = iterations;
        _domain = domain;
        _serverNonce = serverNonce ?? (() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(ServerNonceBytes)));
    }

    private enum State
    {
        New,
        AwaitingFinal,
        Done,
    }

    /// <summary>After a successful <see cref="FinishAsync"/>: the user who authenticated (the stored username's letter case).</summary>
    public ScramAccount? Authenticated { get; private set; }

    public async ValueTask<SaslStep> StartAsync(ReadOnlyMemory<byte> clientFirstMessage, CancellationToken cancellationToken)
    {
        if (_state != State.New)
        {
            return End(SaslFailure.MalformedRequest);
        }

        _state = State.Done; // until this step succeeds
        if (!TryDecode(clientFirstMessage.Span, out var message))
        {
            return SaslStep.Fail(SaslFailure.MalformedRequest);
        }

        var parsed = ParseClientFirst(message, out var gs2Length, out var username, out var authzid, out var clientNonce);
        if (parsed != SaslFailure.None)
        {
            return SaslStep.Fail(parsed);
        }

        if (authzid is not null && !IsSelf(authzid, username))
        {
            return SaslStep.Fail(SaslFailure.InvalidAuthzid);
        }

        if (_attempts is not null && await _attempts.BeginAsync(username) is { } retryAfter)
        {
            return SaslStep.Fail(SaslFailure.TemporaryAuthFailure, retryAfter);
        }

        _username = username;
        try
        {
            // A name SASLprep refuses or longer than any username is nobody's: no lookup, the same fake answer.
            _account = username.Length <= 64 ? await _credentials.FindAsync(username, cancellationToken) : null;
        }
        catch
        {
            await NotCheckedAsync();
            throw;
        }

        _credential = _account?.Credential ?? Fake(username);
        _gs2Header = message[..gs2Length];
        _clientFirstBare = message[gs2Length..];
        _nonce = clientNonce + _serverNonce();
        _serverFirst = string.Create(CultureInfo.InvariantCulture, $"r={_nonce},s={Convert.ToBase64String(_credential.Salt)},i={_credential.Iterations}");
        _state = State.AwaitingFinal;
        return SaslStep.Send(Encoding.UTF8.GetBytes(_serverFirst));
    }

    public async ValueTask<SaslStep> FinishAsync(ReadOnlyMemory<byte> clientFinalMessage)
    {
        if (_state != State.AwaitingFinal)
        {
            return End(SaslFailure.MalformedRequest);
        }

        _state = State.Done;
        if (!TryDecode(clientFinalMessage.Span, out var message))
        {
            return SaslStep.Fail(SaslFailure.MalformedRequest);
        }

        // client-final-message = channel-binding "," nonce ["," extensions] "," proof
        var proofAt = message.LastIndexOf(",p=", StringComparison.Ordinal);
        if (proofAt < 0)
        {
            return SaslStep.Fail(SaslFailure.MalformedRequest);
        }

        var withoutProof = message[..proofAt];
        var attributes = withoutProof.Split(',');
        if (attributes.Length < 2
            || !attributes[0].StartsWith("c=", StringComparison.Ordinal) || !ScramCredential.TryBase64(attributes[0][2..], out var channelBinding)
            || !attributes[1].StartsWith("r=", StringComparison.Ordinal) || !IsPrintable(attributes[1].AsSpan(2))
            || !attributes.Skip(2).All(IsExtension)
            || !ScramCredential.TryBase64(message[(proofAt + 3)..], out var proof) || proof.Length != ScramCredential.KeySize)
        {
            return SaslStep.Fail(SaslFailure.MalformedRequest);
        }

        // Without channel binding, c= is the GS2 header itself: n,, or y,, (with the authzid) exactly as the client sent it.
        if (!CryptographicOperations.FixedTimeEquals(channelBinding, Encoding.UTF8.GetBytes(_gs2Header)))
        {
            return SaslStep.Fail(SaslFailure.MalformedRequest);
        }

        if (!string.Equals(attributes[1][2..], _nonce, StringComparison.Ordinal))
        {
            return SaslStep.Fail(SaslFailure.NotAuthorized);
        }

        var credential = _credential!;
        var authMessage = Encoding.UTF8.GetBytes(_clientFirstBare + "," + _serverFirst + "," + withoutProof);
        var clientSignature = HMACSHA256.HashData(credential.StoredKey, authMessage);
        var clientKey = new byte[ScramCredential.KeySize];
        for (var i = 0; i < clientKey.Length; i++)
        {
            clientKey[i] = (byte)(proof[i] ^ clientSignature[i]);
        }

        // The same work for a fake credential, whose random StoredKey no proof matches.
        var matches = CryptographicOperations.FixedTimeEquals(SHA256.HashData(clientKey), credential.StoredKey);
        CryptographicOperations.ZeroMemory(clientKey);
        if (!matches || _account?.Credential is null)
        {
            return SaslStep.Fail(SaslFailure.NotAuthorized);
        }

        if (_attempts is not null)
        {
            await _attempts.SucceededAsync(_username);
        }

        if (_account.Disabled)
        {
            return SaslStep.Fail(SaslFailure.AccountDisabled);
        }

        Authenticated = _account;
        return SaslStep.Send(Encoding.UTF8.GetBytes("v=" + Convert.ToBase64String(HMACSHA256.HashData(credential.ServerKey, authMessage))));
    }

    /// <summary>
    /// Ends the exchange (the client sent <c>&lt;abort/&gt;</c>, or the stream closed): a first message that was answered
    /// but never followed by a proof is taken back from the throttle, since nothing was checked. Safe to call at any time.
    /// </summary>
    public async ValueTask AbortAsync()
    {
        var pending = _state == State.AwaitingFinal;
        _state = State.Done;
        if (pending)
        {
            await NotCheckedAsync();
        }
    }

    private async ValueTask NotCheckedAsync()
    {
        if (_attempts is not null)
        {
            await _attempts.NotCheckedAsync(_username);
        }
    }

    private SaslStep End(SaslFailure failure)
    {
        _state = State.Done;
        return SaslStep.Fail(failure);
    }

    /// <summary>
    /// gs2-header client-first-message-bare: ("n" / "y") "," ["a=" saslname] "," ["m=" ... refused] "n=" saslname ","
    /// "r=" c-nonce ["," extensions].
    /// </summary>
    private static SaslFailure ParseClientFirst(string message, out int gs2Length, out string username, out string? authzid, out string nonce)
    {
        gs2Length = 0;
        username = nonce = "";
        authzid = null;
        if (message.StartsWith("p=", StringComparison.Ordinal))
        {
            return SaslFailure.MalformedRequest; // channel binding is not offered
        }

        if (message.Length < 2 || message[0] is not ('n' or 'y') || message[1] != ',')
        {
            return SaslFailure.MalformedRequest;
        }

        var authzidEnd = message.IndexOf(',', 2);
        if (authzidEnd < 0)
        {
            return SaslFailure.MalformedRequest;
        }

        if (authzidEnd > 2)
        {
            var field = message[2..authzidEnd];
            if (!field.StartsWith("a=", StringComparison.Ordinal) || !TryDecodeSaslName(field[2..], out var decoded))
            {
                return SaslFailure.MalformedRequest;
            }

            authzid = decoded;
        }

        gs2Length = authzidEnd + 1;
        var attributes = message[gs2Length..].Split(',');
        if (attributes.Length < 2
            || !attributes[0].StartsWith("n=", StringComparison.Ordinal) || !TryDecodeSaslName(attributes[0][2..], out var name)
            || !attributes[1].StartsWith("r=", StringComparison.Ordinal) || !IsPrintable(attributes[1].AsSpan(2))
            || !attributes.Skip(2).All(IsExtension))
        {
            // m= in front of n= (a mandatory extension) lands here too: none is supported.
            return SaslFailure.MalformedRequest;
        }

        username = SaslPrep.TryPrepare(name, out var prepared) ? prepared : name;
        nonce = attributes[1][2..];
        return SaslFailure.None;
    }

    /// <summary>saslname: no NUL, "," or "=" except as "=2C" and "=3D"; at least one character.</summary>
    private static bool TryDecodeSaslName(string text, out string name)
    {
        name = "";
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\0')
            {
                return false;
            }

            if (c == '=')
            {
                if (string.CompareOrdinal(text, i + 1, "2C", 0, 2) == 0 && i + 2 < text.Length)
                {
                    builder.Append(',');
                }
                else if (string.CompareOrdinal(text, i + 1, "3D", 0, 2) == 0 && i + 2 < text.Length)
                {
                    builder.Append('=');
                }
                else
                {
                    return false;
                }

                i += 2;
                continue;
            }

            builder.Append(c);
        }

        name = builder.ToString();
        return name.Length > 0;
    }

    /// <summary>printable = %x21-2B / %x2D-7E (no comma), at least one.</summary>
    private static bool IsPrintable(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '\x21' or > '\x7E' or ',')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>An optional extension: attr-val = ALPHA "=" value; never one of the attributes SCRAM itself defines.</summary>
    private static bool IsExtension(string attribute) =>
        attribute.Length >= 3 && char.IsAsciiLetter(attribute[0]) && attribute[1] == '=' && !"nrcpsimve".Contains(attribute[0], StringComparison.Ordinal);

    private bool IsSelf(string authzid, string username) =>
        string.Equals(authzid, username, StringComparison.OrdinalIgnoreCase)
        || (_domain is not null && string.Equals(authzid, username + "@" + _domain, StringComparison.OrdinalIgnoreCase));

    private static bool TryDecode(ReadOnlySpan<byte> bytes, out string text)
    {
        text = "";
        if (bytes.IsEmpty || bytes.Length > MaxMessageBytes)
        {
            return false;
        }

        try
        {
            text = StrictUtf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>
    /// What a username without keys is shown: a salt that depends only on the name (in any letter case) and the server's
    /// secret, so asking twice tells nothing; keys nobody knows.
    /// </summary>
    private ScramCredential Fake(string username)
    {
        var salt = HMACSHA256.HashData(_fakeSaltKey, Encoding.UTF8.GetBytes(Parley.Storage.Accounts.UserStore.UsernameKey(username)))[..ScramKeys.SaltSize];
        return new ScramCredential(_iterations, salt, RandomNumberGenerator.GetBytes(ScramCredential.KeySize), RandomNumberGenerator.GetBytes(ScramCredential.KeySize));
    }
}
