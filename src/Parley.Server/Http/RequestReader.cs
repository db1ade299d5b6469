using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Parley.Server.Http;

public static class RequestReader
{
    /// <summary>Largest JSON body any control-plane call accepts.</summary>
    public const int MaxJsonBody = 1024 * 1024;

    /// <summary>
    /// Reads a JSON body with the contract's errors: 415 for a non-JSON content type, 413 for an oversize
    /// body, 400 <c>invalid</c> naming the offending JSON path for anything unreadable.
    /// </summary>
    public static async Task<T> ReadJsonAsync<T>(this HttpRequest request, JsonTypeInfo<T> typeInfo)
        where T : class
    {
        if (!request.HasJsonContentType())
        {
            throw new ApiException(415, ErrorCodes.UnsupportedMediaType, "The body must be application/json.");
        }

        // JSON is UTF-8 (RFC 8259); a body declared in another charset would be read as UTF-8 all the same.
        if (Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(request.ContentType, out var mediaType)
            && mediaType.Charset.HasValue
            && !Microsoft.Net.Http.Headers.HeaderUtilities.RemoveQuotes(mediaType.Charset).Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiException(415, ErrorCodes.UnsupportedMediaType, "The body must be application/json in UTF-8 (no other charset).");
        }

        if (request.ContentLength > MaxJsonBody)
        {
            throw new ApiException(413, ErrorCodes.TooLarge, $"The body may be at most {MaxJsonBody} bytes.");
        }

        var feature = request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false })
        {
            feature.MaxRequestBodySize = MaxJsonBody;
        }

        T? value;
        try
        {
            value = await JsonSerializer.DeserializeAsync(request.Body, typeInfo, request.HttpContext.RequestAborted);
        }
        catch (JsonException e)
        {
            var path = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "body" : e.Path.TrimStart('$', '.');
            throw ApiException.Invalid(path, e is JsonTextException text ? text.Reason : "is not valid JSON of the expected shape");
        }

        return value ?? throw ApiException.Invalid("body", "a JSON object is required");
    }

    /// <summary>The contract's paging: <c>limit</c> (default 50, at most 200) and an opaque <c>cursor</c>.</summary>
    public static (int Limit, string? Cursor) ReadPaging(this HttpRequest request) =>
        request.TryReadPaging(out var limit, out var cursor) is { } refusal ? throw refusal.ToException() : (limit, cursor);

    /// <summary>The paging of <see cref="ReadPaging"/> for callers that answer without throwing; null when valid, else why not.</summary>
    public static Refusal? TryReadPaging(this HttpRequest request, out int limit, out string? cursor)
    {
        limit = 50;
        var text = request.Query["cursor"].ToString();
        cursor = text.Length == 0 ? null : text;
        text = request.Query["limit"].ToString();
        if (text.Length > 0)
        {
            // Larger values are clamped to 200, however large; only non-numbers and values below 1 are refused.
            if (text.Length > 30 || !text.All(char.IsAsciiDigit) || !decimal.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < 1)
            {
                return InvalidLimit;
            }

            limit = (int)Math.Min(value, 200);
        }

        return null;
    }

    private static readonly Refusal InvalidLimit = Refusal.Invalid("limit", "must be a whole number from 1 to 200");

    /// <summary>A query parameter as text, refusing characters no stored text may hold (NUL, other controls).</summary>
    public static string QueryText(this HttpRequest request, string name)
    {
        var text = request.Query[name].ToString();
        if (text.Any(char.IsControl))
        {
            throw ApiException.Invalid(name, "must not contain control characters");
        }

        return text;
    }
}
