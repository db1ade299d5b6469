using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Server.Groups;

/// <summary>
/// Invite codes: 18 random bytes (144 bits) from the system's CSPRNG, written base64url (24 characters, safe in
/// URLs). The server stores only their SHA-256: whoever reads the database (a backup, a leak) cannot join with
/// what they find, and a code is only ever shown once, to its creator. A plain hash suffices, no salt or slow
/// hash, because the input is 144 random bits, not a password: there is nothing to guess from the hash.
/// </summary>
public static class InviteCodes
{
    public const int Bytes = 18;
    public const int Length = 24; // base64url of 18 bytes, no padding

    public static string New() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(Bytes));

    public static bool IsWellFormed(string code) =>
        code.Length == Length && code.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    public static string Hash(string code) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(code)));
}
