using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Server.Xmpp.Sasl;

/// <summary>
/// A user's SCRAM-SHA-256 credentials (RFC 5802 section 3, RFC 7677): salt, iteration count, StoredKey = H(ClientKey)
/// and ServerKey, where SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, i), ClientKey =
/// HMAC(SaltedPassword, "Client Key"), ServerKey = HMAC(SaltedPassword, "Server Key"). Stored in <c>users.scram_sha256</c>
/// as <c>$scram-sha-256$i=4096$&lt;base64 salt&gt;$&lt;base64 StoredKey&gt;$&lt;base64 ServerKey&gt;</c>.
/// <para>
/// Never log one: with StoredKey and ServerKey anyone can pose as this server to the user's clients, and a captured
/// exchange plus StoredKey yields ClientKey, which logs in as the user. They are protected like the password hash.
/// </para>
/// </summary>
public sealed record ScramCredential(int Iterations, byte[] Salt, byte[] StoredKey, byte[] ServerKey)
{
    public const int KeySize = 32; // SHA-256
    public const int MinSaltSize = 16;
    public const int MaxSaltSize = 64;

    /// <summary>RFC 7677 section 4: at least 4096.</summary>
    public const int MinIterations = 4096;

    /// <summary>The most iterations allowed: every client computes them too, once per login (10 million is seconds on a phone).</summary>
    public const int MaxIterations = 10_000_000;

    private const string Prefix = "$scram-sha-256$i=";

    /// <summary>
    /// The credentials of <paramref name="password"/> with <paramref name="salt"/>; null when SASLprep refuses the password
    /// (a control or other prohibited character: that user has no SCRAM, only PLAIN).
    /// </summary>
    public static ScramCredential? Derive(string password, byte[] salt, int iterations)
    {
        if (!SaslPrep.TryPrepare(password, out var prepared))
        {
            return null;
        }

        var bytes = Encoding.UTF8.GetBytes(prepared);
        var salted = Rfc2898DeriveBytes.Pbkdf2(bytes, salt, iterations, HashAlgorithmName.SHA256, KeySize);
        var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
        var credential = new ScramCredential(iterations, salt.ToArray(), SHA256.HashData(clientKey), HMACSHA256.HashData(salted, "Server Key"u8));
        CryptographicOperations.ZeroMemory(bytes);
        CryptographicOperations.ZeroMemory(salted);
        CryptographicOperations.ZeroMemory(clientKey);
        return credential;
    }

    public string Format() =>
        string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Iterations}${Convert.ToBase64String(Salt)}${Convert.ToBase64String(StoredKey)}${Convert.ToBase64String(ServerKey)}");

    /// <summary>Parses what <see cref="Format"/> wrote, and nothing else (canonical base64, sizes and range checked).</summary>
    public static bool TryParse(string? text, out ScramCredential credential)
    {
        credential = null!;
        if (text is null || text.Length > 512 || !text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var parts = text[Prefix.Length..].Split('$');
        if (parts.Length != 4
            || !TryIterations(parts[0], out var iterations)
            || !TryBase64(parts[1], out var salt) || salt.Length is < MinSaltSize or > MaxSaltSize
            || !TryBase64(parts[2], out var storedKey) || storedKey.Length != KeySize
            || !TryBase64(parts[3], out var serverKey) || serverKey.Length != KeySize)
        {
            return false;
        }

        credential = new ScramCredential(iterations, salt, storedKey, serverKey);
        return true;
    }

    /// <summary>Digits only, no leading zero, within [<see cref="MinIterations"/>, <see cref="MaxIterations"/>].</summary>
    internal static bool TryIterations(string text, out int iterations)
    {
        iterations = 0;
        return text.Length is > 0 and <= 9 && text[0] != '0' && text.All(char.IsAsciiDigit)
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out iterations)
            && iterations is >= MinIterations and <= MaxIterations;
    }

    /// <summary>Strict base64: padded, no whitespace, and canonical (it encodes back to the same text).</summary>
    internal static bool TryBase64(string text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length == 0 || text.Length % 4 != 0)
        {
            return false;
        }

        var buffer = new byte[text.Length / 4 * 3];
        if (!Convert.TryFromBase64String(text, buffer, out var written))
        {
            return false;
        }

        bytes = buffer[..written];
        return Convert.ToBase64String(bytes) == text;
    }
}
