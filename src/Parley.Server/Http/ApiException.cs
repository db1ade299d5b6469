namespace Parley.Server.Http;

/// <summary>The contract's error codes (problem+json member <c>code</c>).</summary>
public static class ErrorCodes
{
    public const string Invalid = "invalid";
    public const string Unauthorized = "unauthorized";
    public const string TokenExpired = "token_expired";
    public const string TokenReused = "token_reused";
    public const string Forbidden = "forbidden";
    public const string NotFound = "not_found";
    public const string Conflict = "conflict";
    public const string UsernameTaken = "username_taken";
    public const string InvalidCredentials = "invalid_credentials";
    public const string Blocked = "blocked";
    public const string NotFriends = "not_friends";
    public const string Muted = "muted";
    public const string RecallWindowPassed = "recall_window_passed";
    public const string TooLarge = "too_large";
    public const string UnsupportedMediaType = "unsupported_media_type";
    public const string RateLimited = "rate_limited";
    public const string Unavailable = "unavailable";
    public const string Rejected = "rejected";
    public const string Internal = "internal";

    /// <summary>The code a bare status gets when nothing more specific was said (routing 404s, Kestrel's 413...).</summary>
    public static string ForStatus(int status) => status switch
    {
        400 => Invalid,
        401 => Unauthorized,
        403 => Forbidden,
        404 => NotFound,
        409 => Conflict,
        413 => TooLarge,
        415 => UnsupportedMediaType,
        429 => RateLimited,
        >= 500 => Internal,
        _ => Invalid,
    };
}

/// <summary>
/// A client-facing failure. Thrown by handlers and services on the control plane (HTTP) and turned into
/// problem+json by <see cref="ProblemMiddleware"/>; never used for flow on the messaging hot path.
/// </summary>
public sealed class ApiException(int status, string code, string detail, IReadOnlyDictionary<string, string[]>? errors = null)
    : Exception(detail)
{
    public int Status { get; } = status;

    public string Code { get; } = code;

    public IReadOnlyDictionary<string, string[]>? Errors { get; } = errors;

    /// <summary>Seconds the client should wait (429, 503), sent as Retry-After.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiException Invalid(string field, string message) =>
        new(400, ErrorCodes.Invalid, $"{field}: {message}", new Dictionary<string, string[]> { [field] = [message] });

    public static ApiException NotFound(string what) => new(404, ErrorCodes.NotFound, $"{what} not found.");

    public static ApiException Unauthorized(string detail, string code = ErrorCodes.Unauthorized) => new(401, code, detail);

    public static ApiException Forbidden(string detail, string code = ErrorCodes.Forbidden) => new(403, code, detail);

    /// <summary>503 unavailable: the server is at a capacity bound; try again after <paramref name="retryAfterSeconds"/>.</summary>
    public static ApiException Unavailable(string detail, int retryAfterSeconds) =>
        new(503, ErrorCodes.Unavailable, detail) { RetryAfterSeconds = retryAfterSeconds };
}

/// <summary>Collects field errors so a request is answered with all of them at once.</summary>
public sealed class Validation
{
    private Dictionary<string, string[]>? _errors;

    public bool IsValid => _errors is null;

    public void Add(string field, string message)
    {
        _errors ??= new Dictionary<string, string[]>(StringComparer.Ordinal);
        _errors[field] = _errors.TryGetValue(field, out var existing) ? [.. existing, message] : [message];
    }

    public void ThrowIfInvalid()
    {
        if (ToRefusal() is { } refusal)
        {
            throw refusal.ToException();
        }
    }

    /// <summary>All field errors as one 400 refusal; null when there are none.</summary>
    public Refusal? ToRefusal() =>
        _errors is null ? null : new Refusal(400, ErrorCodes.Invalid, $"Invalid fields: {string.Join(", ", _errors.Keys)}.", _errors);
}
