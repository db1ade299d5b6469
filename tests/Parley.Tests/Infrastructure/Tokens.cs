using System.Security.Cryptography;
using System.Text;

namespace Parley.Tests.Infrastructure;

/// <summary>Hand-made JWTs for negative tests.</summary>
public static class Tokens
{
    public static string SignHs256(string header, string payload, byte[] key)
    {
        var signature = HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(header + "." + payload));
        return header + "." + payload + "." + Base64Url(signature);
    }

    public static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
