using System.Diagnostics;
using System.Text.Json.Serialization;

namespace Parley.Server.Http;

/// <summary>RFC 7807 problem details with the contract's <c>code</c>.</summary>
public sealed record Problem(
    string Type,
    string Title,
    int Status,
    string Detail,
    string Code,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyDictionary<string, string[]>? Errors,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? TraceId);

public static class ProblemWriter
{
    public const string ContentType = "application/problem+json";

    public static string Title(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => status >= 500 ? "Internal Server Error" : "Error",
    };

    /// <summary>What a status means when nothing more specific was said: every problem carries a <c>detail</c>.</summary>
    public static string DefaultDetail(int status) => status switch
    {
        400 => "The request could not be read.",
        401 => "An access token is required.",
        403 => "Not allowed.",
        404 => "No such resource.",
        405 => "Method not allowed on this resource.",
        411 => "The request needs a Content-Length.",
        413 => "The request body is too large.",
        415 => "The content type of the body is not accepted here.",
        429 => "Too many requests; retry later.",
        >= 500 => "An unexpected error occurred.",
        _ => Title(status) + ".",
    };

    public static Task WriteAsync(HttpContext context, int status, string code, string? detail, IReadOnlyDictionary<string, string[]>? errors = null)
    {
        detail = string.IsNullOrEmpty(detail) ? DefaultDetail(status) : detail;
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = ContentType;
        response.Headers.CacheControl = "no-store";
        var problem = new Problem(
            "about:blank",
            Title(status),
            status,
            detail,
            code,
            errors,
            // The request's trace id: what its log lines end with and what a trace backend finds it by.
            status >= 500 ? Activity.Current?.TraceId.ToHexString() ?? context.TraceIdentifier : null);
        return response.WriteAsJsonAsync(problem, ParleyJson.Default.Problem, ContentType, context.RequestAborted);
    }
}
