using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Parley.Server.Http;

/// <summary>
/// A client's request refused with a contract error (status, code, detail): what the messaging operations
/// return instead of throwing, so a refused or invalid send, sync or read costs no exception on either
/// transport (an exception per refusal shows up in <c>dotnet_exceptions_total</c> and costs a stack walk).
/// HTTP writes it as problem+json (<see cref="ProblemResult"/>), the gateway as an <c>error</c> frame.
/// </summary>
public sealed record Refusal(int Status, string Code, string Detail, IReadOnlyDictionary<string, string[]>? Errors = null)
{
    /// <summary>Seconds the client should wait (429), sent as Retry-After.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static Refusal Invalid(string field, string message) =>
        new(400, ErrorCodes.Invalid, $"{field}: {message}", new Dictionary<string, string[]> { [field] = [message] });

    public static Refusal NotFound(string what) => new(404, ErrorCodes.NotFound, $"{what} not found.");

    public static Refusal Forbidden(string detail, string code = ErrorCodes.Forbidden) => new(403, code, detail);

    /// <summary>For callers on the control plane that still answer by throwing.</summary>
    public ApiException ToException() => new(Status, Code, Detail, Errors) { RetryAfterSeconds = RetryAfterSeconds };
}

/// <summary>The value of an operation, or why the client's request was refused.</summary>
public readonly struct Result<T>
{
    private readonly T? _value;

    private Result(T? value, Refusal? refusal)
    {
        _value = value;
        Refusal = refusal;
    }

    public Refusal? Refusal { get; }

    public static implicit operator Result<T>(T value) => new(value, null);

    public static implicit operator Result<T>(Refusal refusal) => new(default, refusal);

    public bool TryGetValue([MaybeNullWhen(false)] out T value, [NotNullWhen(false)] out Refusal? refusal)
    {
        value = _value;
        refusal = Refusal;
        return refusal is null;
    }

    /// <summary>The value, or the refusal thrown as an <see cref="ApiException"/> (control-plane callers).</summary>
    public T ValueOrThrow() => Refusal is null ? _value! : throw Refusal.ToException();
}

/// <summary>A refusal written as the contract's problem+json, without an exception.</summary>
public sealed class ProblemResult(Refusal refusal) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext)
    {
        if (refusal.RetryAfterSeconds is { } retry)
        {
            httpContext.Response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
        }

        return ProblemWriter.WriteAsync(httpContext, refusal.Status, refusal.Code, refusal.Detail, refusal.Errors);
    }
}
