using System.Text;
using System.Text.Json;
using Parley.Server.Http;
using Parley.Storage;

namespace Parley.Server.Messaging;

/// <summary>A validated message: content as compact JSON, and the file ids it references (to be access-checked).</summary>
public sealed record ValidatedContent(string Json, IReadOnlyList<long> FileIds);

/// <summary>
/// The eight message types of the contract and what their content must hold. Pure: no I/O; whether the
/// sender may use a referenced file is asked separately.
/// </summary>
public static class MessageValidator
{
    public static readonly IReadOnlySet<string> Types = new HashSet<string>(StringComparer.Ordinal)
    {
        "text", "image", "file", "audio", "video", "location", "link", "custom",
    };

    /// <summary>The content checked against its type's rules; a refusal (never an exception) when it breaks one.</summary>
    public static Result<ValidatedContent> Validate(string? type, JsonElement content, MessagingOptions options)
    {
        if (type is null || !Types.Contains(type))
        {
            return Refusal.Invalid("type", "must be one of text, image, file, audio, video, location, link, custom");
        }

        if (content.ValueKind != JsonValueKind.Object)
        {
            return Refusal.Invalid("content", "must be a JSON object");
        }

        // Deeply nested content would break other members' JSON parsers (many stop at 64 levels).
        if (Depth(content, 1) > MaxDepth)
        {
            return Refusal.Invalid("content", $"may nest at most {MaxDepth} levels");
        }

        var files = new List<long>();
        var v = new Validation();
        switch (type)
        {
            case "text":
                var text = RequiredString(v, content, "text");
                if (text is not null && (text.Length == 0 || Encoding.UTF8.GetByteCount(text) > options.MaxTextBytes))
                {
                    v.Add("content.text", $"must be 1 to {options.MaxTextBytes} bytes");
                }

                break;
            case "image":
                FileId(v, content, "fileId", files, required: true);
                OptionalNumber(v, content, "width", 1, 100_000);
                OptionalNumber(v, content, "height", 1, 100_000);
                break;
            case "file":
                FileId(v, content, "fileId", files, required: true);
                var name = RequiredString(v, content, "name");
                if (name is not null && (name.Length is 0 or > 255 || name.Any(char.IsControl)))
                {
                    v.Add("content.name", "must be 1-255 characters without control characters");
                }

                RequiredNumber(v, content, "size", 0, long.MaxValue);
                break;
            case "audio":
                FileId(v, content, "fileId", files, required: true);
                RequiredNumber(v, content, "durationMs", 0, 24L * 3600 * 1000);
                break;
            case "video":
                FileId(v, content, "fileId", files, required: true);
                OptionalNumber(v, content, "durationMs", 0, 24L * 3600 * 1000);
                OptionalNumber(v, content, "width", 1, 100_000);
                OptionalNumber(v, content, "height", 1, 100_000);
                break;
            case "location":
                RequiredDouble(v, content, "latitude", -90, 90);
                RequiredDouble(v, content, "longitude", -180, 180);
                OptionalString(v, content, "title", 256);
                break;
            case "link":
                var url = RequiredString(v, content, "url");
                if (url is not null && (url.Length > 2048 || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)))
                {
                    v.Add("content.url", "must be an absolute http or https URL of at most 2048 characters");
                }

                OptionalString(v, content, "title", 256);
                OptionalString(v, content, "description", 1024);
                FileId(v, content, "imageFileId", files, required: false);
                break;
        }

        if (v.ToRefusal() is { } invalid)
        {
            return invalid;
        }

        var json = content.GetRawText();
        if (Encoding.UTF8.GetByteCount(json) > options.MaxContentBytes)
        {
            return new Refusal(413, ErrorCodes.TooLarge, $"The content may be at most {options.MaxContentBytes} bytes.");
        }

        return new ValidatedContent(json, files);
    }

    public const int MaxDepth = 16;

    private static int Depth(JsonElement element, int depth)
    {
        if (depth > MaxDepth)
        {
            return depth;
        }

        var deepest = depth;
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    deepest = Math.Max(deepest, Depth(property.Value, depth + 1));
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    deepest = Math.Max(deepest, Depth(item, depth + 1));
                }

                break;
        }

        return deepest;
    }

    private static string? RequiredString(Validation v, JsonElement content, string name)
    {
        if (content.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String)
        {
            return value.GetString();
        }

        v.Add("content." + name, "is required and must be a string");
        return null;
    }

    private static void OptionalString(Validation v, JsonElement content, string name, int max)
    {
        if (content.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            && (value.ValueKind != JsonValueKind.String || value.GetString()!.Length > max))
        {
            v.Add("content." + name, $"must be a string of at most {max} characters");
        }
    }

    private static void RequiredNumber(Validation v, JsonElement content, string name, long min, long max)
    {
        if (!content.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Number
            || !value.TryGetInt64(out var n) || n < min || n > max)
        {
            v.Add("content." + name, $"is required: a whole number from {min} to {max}");
        }
    }

    private static void OptionalNumber(Validation v, JsonElement content, string name, long min, long max)
    {
        if (content.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            && (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var n) || n < min || n > max))
        {
            v.Add("content." + name, $"must be a whole number from {min} to {max}");
        }
    }

    private static void RequiredDouble(Validation v, JsonElement content, string name, double min, double max)
    {
        if (!content.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Number
            || !value.TryGetDouble(out var n) || double.IsNaN(n) || n < min || n > max)
        {
            v.Add("content." + name, $"is required: a number from {min} to {max}");
        }
    }

    private static void FileId(Validation v, JsonElement content, string name, List<long> files, bool required)
    {
        if (!content.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                v.Add("content." + name, "is required: a file id");
            }

            return;
        }

        if (value.ValueKind == JsonValueKind.String && Ids.TryParse(value.GetString(), out var id))
        {
            files.Add(id);
        }
        else
        {
            v.Add("content." + name, "must be a file id");
        }
    }
}
