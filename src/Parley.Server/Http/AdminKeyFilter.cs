using System.Security.Cryptography;
using System.Text;

namespace Parley.Server.Http;

/// <summary>
/// A minimal X-Api-Key check for /api/admin/* (the contract's "App-server integration"): keys from the setting
/// Admin:ApiKeys; none set = the calls are off (404); a missing or wrong key is 401. Each key is compared in
/// constant time through SHA-256 hashes of equal length, and never logged. (Written by the webhooks branch for its
/// failed-events calls; the admin branch's full filter replaces it at merge.)
/// </summary>
public sealed class AdminKeyFilter : IEndpointFilter
{
    public const string Header = "X-Api-Key";

    private readonly byte[][] _keyHashes;

    public AdminKeyFilter(IConfiguration configuration)
    {
        var keys = configuration.GetSection("Admin:ApiKeys").Get<string[]>() ?? [];
        _keyHashes = keys.Where(k => !string.IsNullOrWhiteSpace(k)).Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k))).ToArray();
    }

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (_keyHashes.Length == 0)
        {
            throw ApiException.NotFound("Resource");
        }

        var given = context.HttpContext.Request.Headers[Header];
        if (given.Count != 1 || string.IsNullOrEmpty(given[0]))
        {
            throw ApiException.Unauthorized("An X-Api-Key header is required.");
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(given[0]!));
        var match = false;
        foreach (var key in _keyHashes)
        {
            match |= CryptographicOperations.FixedTimeEquals(hash, key); // every key compared: no early exit
        }

        return match ? next(context) : throw ApiException.Unauthorized("The API key is not valid.");
    }
}
