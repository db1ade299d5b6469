using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Parley.Server.Http;
using Parley.Storage;

namespace Parley.Server.Accounts;

/// <summary>Who is calling: the user and the device session (deviceId) of the access token.</summary>
public readonly record struct Caller(long UserId, long SessionId);

public static class CallerExtensions
{
    internal const string ItemKey = "parley.caller";

    /// <summary>The authenticated caller; only valid on endpoints that require authorization.</summary>
    public static Caller Caller(this HttpContext context) =>
        context.Items.TryGetValue(ItemKey, out var value) && value is Caller caller
            ? caller
            : throw new InvalidOperationException("The endpoint does not require authorization.");
}

/// <summary>
/// Bearer access tokens: signature, issuer, type and expiry (against the injected clock), then the device
/// session must still be alive. Failures answer 401 problem+json with <c>token_expired</c> or <c>unauthorized</c>.
/// </summary>
public sealed class BearerAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    TokenService tokens,
    SessionGuard guard)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "Bearer";
    private const string FailureKey = "parley.auth.failure";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = ReadToken(Request);
        if (token is null)
        {
            return AuthenticateResult.NoResult();
        }

        var check = await tokens.ValidateAccessTokenAsync(token);
        switch (check.Status)
        {
            case AccessTokenStatus.Expired:
                return Failure(ErrorCodes.TokenExpired, "The access token has expired; refresh it.");
            case AccessTokenStatus.Malformed:
                return Failure(ErrorCodes.Unauthorized, "The access token is not valid.");
        }

        if (!await guard.IsActiveAsync(check.SessionId, check.UserId, Context.RequestAborted))
        {
            return Failure(ErrorCodes.Unauthorized, "The session has been revoked.");
        }

        Context.Items[CallerExtensions.ItemKey] = new Caller(check.UserId, check.SessionId);
        var identity = new ClaimsIdentity(
            [new Claim("sub", Ids.Format(check.UserId)), new Claim("sid", Ids.Format(check.SessionId))],
            SchemeName,
            "sub",
            null);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var (code, detail) = Context.Items.TryGetValue(FailureKey, out var value) && value is (string c, string d)
            ? (c, d)
            : (ErrorCodes.Unauthorized, "An access token is required.");
        Response.Headers.WWWAuthenticate = code == ErrorCodes.TokenExpired
            ? "Bearer error=\"invalid_token\", error_description=\"expired\""
            : "Bearer";
        return ProblemWriter.WriteAsync(Context, 401, code, detail);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ProblemWriter.WriteAsync(Context, 403, ErrorCodes.Forbidden, "Not allowed.");

    /// <summary>The Authorization header, or for WebSocket upgrades (browsers cannot set headers) ?access_token=.</summary>
    internal static string? ReadToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var value = header["Bearer ".Length..].Trim();
            return value.Length == 0 ? null : value;
        }

        if (request.Path.StartsWithSegments("/ws") && request.Query.TryGetValue("access_token", out var query) && query.Count == 1)
        {
            return query[0];
        }

        return header.Length > 0 ? "" : null; // another scheme in the header is a malformed token, not "no token"
    }

    private AuthenticateResult Failure(string code, string detail)
    {
        Context.Items[FailureKey] = (code, detail);
        return AuthenticateResult.Fail(detail);
    }
}
