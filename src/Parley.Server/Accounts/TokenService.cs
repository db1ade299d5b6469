using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Parley.Storage;

namespace Parley.Server.Accounts;

public enum AccessTokenStatus
{
    Valid,
    Malformed,
    Expired,
}

public readonly record struct AccessTokenCheck(AccessTokenStatus Status, long UserId, long SessionId);

/// <summary>
/// Access tokens: HS256 JWTs (<c>sub</c> = user id, <c>sid</c> = device session id, typ <c>at+jwt</c>).
/// Refresh tokens: 256 random bits, handed out once and stored only as a SHA-256 hash.
/// </summary>
public sealed class TokenService
{
    private const string AccessTokenType = "at+jwt";
    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };
    private readonly SigningCredentials _credentials;
    private readonly TokenValidationParameters _validation;
    private readonly TimeProvider _time;
    private readonly AuthOptions _options;

    public TokenService(SigningKey key, IOptions<AuthOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
        var securityKey = new SymmetricSecurityKey(key.Bytes) { KeyId = key.KeyId };
        _credentials = new SigningCredentials(securityKey, SecurityAlgorithms.HmacSha256);
        _validation = new TokenValidationParameters
        {
            ValidIssuer = _options.Issuer,
            ValidAudience = _options.Issuer,
            IssuerSigningKey = securityKey,
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ValidTypes = [AccessTokenType],
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            // Expiry is checked below against the injected clock, so tests can move time.
            ValidateLifetime = false,
        };
    }

    public TimeSpan AccessTokenLifetime => TimeSpan.FromMinutes(_options.AccessTokenMinutes);

    public TimeSpan RefreshTokenLifetime => TimeSpan.FromDays(_options.RefreshTokenDays);

    public (string Token, long ExpiresAt) IssueAccessToken(long userId, long sessionId)
    {
        var now = _time.GetUtcNow();
        var expires = now + AccessTokenLifetime;
        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = _options.Issuer,
            Audience = _options.Issuer,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            TokenType = AccessTokenType,
            SigningCredentials = _credentials,
            Claims = new Dictionary<string, object>
            {
                [JwtRegisteredClaimNames.Sub] = Ids.Format(userId),
                ["sid"] = Ids.Format(sessionId),
            },
        });
        return (token, expires.ToUnixTimeMilliseconds());
    }

    public async ValueTask<AccessTokenCheck> ValidateAccessTokenAsync(string token)
    {
        if (token.Length > 4096)
        {
            return new AccessTokenCheck(AccessTokenStatus.Malformed, 0, 0);
        }

        TokenValidationResult result;
        try
        {
            result = await _handler.ValidateTokenAsync(token, _validation);
        }
        catch (ArgumentException)
        {
            return new AccessTokenCheck(AccessTokenStatus.Malformed, 0, 0);
        }

        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt
            || !jwt.TryGetPayloadValue<string>(JwtRegisteredClaimNames.Sub, out var sub) || !Ids.TryParse(sub, out var userId)
            || !jwt.TryGetPayloadValue<string>("sid", out var sid) || !Ids.TryParse(sid, out var sessionId)
            || !jwt.TryGetPayloadValue<long>(JwtRegisteredClaimNames.Exp, out _))
        {
            return new AccessTokenCheck(AccessTokenStatus.Malformed, 0, 0);
        }

        return jwt.ValidTo <= _time.GetUtcNow().UtcDateTime
            ? new AccessTokenCheck(AccessTokenStatus.Expired, userId, sessionId)
            : new AccessTokenCheck(AccessTokenStatus.Valid, userId, sessionId);
    }

    public static (string Token, string Hash) NewRefreshToken()
    {
        var token = Base64Url(RandomNumberGenerator.GetBytes(32));
        return (token, HashRefreshToken(token));
    }

    public static string HashRefreshToken(string token) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>The HMAC key for access tokens: from settings, or generated once and kept under DataDir.</summary>
public sealed class SigningKey
{
    private SigningKey(byte[] bytes)
    {
        Bytes = bytes;
        // A short fingerprint, so a key change shows in tokens' kid without revealing the key.
        KeyId = Convert.ToHexStringLower(SHA256.HashData(bytes).AsSpan(0, 8));
    }

    public byte[] Bytes { get; }

    public string KeyId { get; }

    public static SigningKey Load(string? configured, string dataDir)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(configured.Trim());
            }
            catch (FormatException)
            {
                throw new InvalidOperationException("Auth:SigningKey must be base64.");
            }

            return bytes.Length >= 32
                ? new SigningKey(bytes)
                : throw new InvalidOperationException("Auth:SigningKey must decode to at least 32 bytes.");
        }

        var dir = Path.Combine(dataDir, "keys");
        var path = Path.Combine(dir, "jwt-signing.key");
        if (!File.Exists(path))
        {
            PrivateFiles.CreateDirectory(dir);
            var temp = Path.Combine(dir, $".jwt-signing.{Guid.NewGuid():N}.tmp");
            // 0600 from its creation: written first and restricted after, the key was readable for a moment.
            using (var output = new StreamWriter(PrivateFiles.CreateNew(temp)))
            {
                output.Write(Convert.ToBase64String(RandomNumberGenerator.GetBytes(64)));
            }

            try
            {
                File.Move(temp, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                File.Delete(temp); // another process created it first: use theirs
            }
        }

        return new SigningKey(Convert.FromBase64String(File.ReadAllText(path).Trim()));
    }
}
