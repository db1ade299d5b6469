using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Parley.Server.Http;
using Parley.Storage;

namespace Parley.Server.Messaging;

/// <summary>A validated message: content as compact JSON, and the file ids it references (to be access-checked).</summary>
public readonly record struct ValidatedContent(string Json, IReadOnlyList<long> FileIds);

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
    /// <param name="serverTypes">The server itself writes the message: <c>call</c> (a call's record) is allowed too.</param>
    public static Result<ValidatedContent> Validate(string? type, JsonElement content, MessagingOptions options, bool serverTypes = false)
    {
        if (type == "call")
        {
            return serverTypes ? ValidateCall(content) : CallIsServerOnly;
        }

        if (type is null || !Types.Contains(type))
        {
            return Refusal.Invalid("type", "must be one of text, image, file, audio, video, location, link, custom");
        }

        if (content.ValueKind != JsonValueKind.Object)
        {
            return Refusal.Invalid("content", "must be a JSON object");
        }

        // Deeply nested content would break other members' JSON parsers (many stop at 64 levels).
        var unstorable = false;
        if (Depth(content, 1, ref unstorable) > MaxDepth)
        {
            return Refusal.Invalid("content", $"may nest at most {MaxDepth} levels");
        }

        // What the socket's frame parser refuses too: the contract allows no U+0000 in any string, and a lone
        // surrogate is no text at all (reading it as a string throws).
        if (unstorable)
        {
            return Refusal.Invalid("content", "strings must be valid Unicode without NUL characters");
        }

        List<long>? files = null; // made for the first file id: a text message needs none
        var v = new Validation();
        switch (type)
        {
            case "text":
                if (!content.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                {
                    v.Add("content.text", "is required and must be a string");
                }
                else if (TextBytes(text) is var bytes && (bytes == 0 || bytes > options.MaxTextBytes))
                {
                    v.Add("content.text", $"must be 1 to {options.MaxTextBytes} bytes");
                }

                break;
            case "image":
                FileId(v, content, "fileId", ref files, required: true);
                OptionalNumber(v, content, "width", 1, 100_000);
                OptionalNumber(v, content, "height", 1, 100_000);
                break;
            case "file":
                FileId(v, content, "fileId", ref files, required: true);
                var name = RequiredString(v, content, "name");
                if (name is not null && (name.Length is 0 or > 255 || name.Any(char.IsControl)))
                {
                    v.Add("content.name", "must be 1-255 characters without control characters");
                }

                RequiredNumber(v, content, "size", 0, long.MaxValue);
                break;
            case "audio":
                FileId(v, content, "fileId", ref files, required: true);
                RequiredNumber(v, content, "durationMs", 0, 24L * 3600 * 1000);
                break;
            case "video":
                FileId(v, content, "fileId", ref files, required: true);
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
                FileId(v, content, "imageFileId", ref files, required: false);
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

        return new ValidatedContent(json, files is null ? Array.Empty<long>() : files);
    }

    public const int MaxDepth = 16;

    private static readonly Refusal CallIsServerOnly = Refusal.Invalid("type", "call messages are written by the server only");

    private static readonly string[] CallOutcomes = ["completed", "missed", "rejected", "busy", "unavailable", "failed"];

    /// <summary><c>call {callId, media, outcome, durationMs?}</c>: what the calls feature writes (checked all the same).</summary>
    private static Result<ValidatedContent> ValidateCall(JsonElement content)
    {
        if (content.ValueKind != JsonValueKind.Object)
        {
            return Refusal.Invalid("content", "must be a JSON object");
        }

        var v = new Validation();
        var callId = RequiredString(v, content, "callId");
        if (callId is not null && !Parley.Protocol.SendCommand.TryParseId(callId, out _))
        {
            v.Add("content.callId", "must be an id");
        }

        if (RequiredString(v, content, "media") is { } media && media is not ("audio" or "video"))
        {
            v.Add("content.media", "must be audio or video");
        }

        if (RequiredString(v, content, "outcome") is { } outcome && !CallOutcomes.Contains(outcome))
        {
            v.Add("content.outcome", "must be completed, missed, rejected, busy, unavailable or failed");
        }

        OptionalNumber(v, content, "durationMs", 0, long.MaxValue);
        return v.ToRefusal() is { } invalid ? invalid : new ValidatedContent(content.GetRawText(), Array.Empty<long>());
    }

    /// <summary>
    /// A validated text message through the blocked-words filter: the same content when clean, the content with
    /// its <c>text</c> masked (other members kept as sent), or null when the filter rejects it.
    /// </summary>
    public static ValidatedContent? ModerateText(JsonElement content, ValidatedContent validated, Moderation.Moderator moderation)
    {
        var element = content.GetProperty("text");
        // The common case, a clean text without escapes, is checked on a pooled copy of its characters: no allocation.
        var raw = JsonMarshal.GetRawUtf8Value(element);
        if (raw.Length >= 2 && raw[0] == (byte)'"' && raw[^1] == (byte)'"')
        {
            raw = raw[1..^1];
        }

        if (raw.IndexOf((byte)'\\') < 0)
        {
            var chars = ArrayPool<char>.Shared.Rent(Encoding.UTF8.GetMaxCharCount(raw.Length));
            try
            {
                if (!moderation.Matches(chars.AsSpan(0, Encoding.UTF8.GetChars(raw, chars))))
                {
                    return validated;
                }
            }
            finally
            {
                ArrayPool<char>.Shared.Return(chars);
            }
        }

        var text = element.GetString()!;
        var checkedText = moderation.Check(text);
        if (checkedText is null)
        {
            return null;
        }

        if (ReferenceEquals(checkedText, text))
        {
            return validated;
        }

        var buffer = new ArrayBufferWriter<byte>(validated.Json.Length + 16);
        // Relaxed escaping: the stored JSON keeps CJK and other text as UTF-8, as clients sent it (it is JSON, never HTML).
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            foreach (var property in content.EnumerateObject())
            {
                if (property.NameEquals("text"))
                {
                    writer.WriteString("text", checkedText);
                }
                else
                {
                    property.WriteTo(writer);
                }
            }

            writer.WriteEndObject();
        }

        return new ValidatedContent(Encoding.UTF8.GetString(buffer.WrittenSpan), validated.FileIds);
    }

    /// <summary>
    /// The UTF-8 bytes of a JSON string's value. Without escapes they are the raw bytes between the quotes (no copy);
    /// with escapes the value is decoded to count them.
    /// </summary>
    private static int TextBytes(JsonElement value)
    {
        var raw = JsonMarshal.GetRawUtf8Value(value);
        if (raw.Length >= 2 && raw[0] == (byte)'"' && raw[^1] == (byte)'"')
        {
            raw = raw[1..^1];
        }

        return raw.IndexOf((byte)'\\') < 0 ? raw.Length : Encoding.UTF8.GetByteCount(value.GetString()!);
    }

    /// <summary>How deep <paramref name="element"/> nests; sets <paramref name="unstorable"/> when a string or name in it is not storable text.</summary>
    private static int Depth(JsonElement element, int depth, ref bool unstorable)
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
                    unstorable |= !IsStorableText(JsonMarshal.GetRawUtf8PropertyName(property));
                    deepest = Math.Max(deepest, Depth(property.Value, depth + 1, ref unstorable));
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    deepest = Math.Max(deepest, Depth(item, depth + 1, ref unstorable));
                }

                break;
            case JsonValueKind.String:
                unstorable |= !IsStorableText(JsonMarshal.GetRawUtf8Value(element));
                break;
        }

        return deepest;
    }

    /// <summary>
    /// False when a JSON string, as written (escapes not yet decoded), escapes U+0000 or a surrogate without its
    /// pair. Only escapes can: the parser has already refused raw control characters and invalid UTF-8. Reads
    /// the raw bytes, so an ordinary string costs one vectorized search and nothing throws.
    /// </summary>
    private static bool IsStorableText(ReadOnlySpan<byte> raw)
    {
        var at = raw.IndexOf((byte)'\\');
        while (at >= 0)
        {
            var rest = raw[at..];
            if (rest.Length < 2 || rest[1] != (byte)'u')
            {
                // \" \\ \/ \b \f \n \r \t: two bytes.
                raw = rest[Math.Min(2, rest.Length)..];
            }
            else
            {
                var unit = Hex(rest.Slice(2, 4));
                if (unit == 0 || char.IsLowSurrogate((char)unit))
                {
                    return false;
                }

                if (char.IsHighSurrogate((char)unit))
                {
                    if (rest.Length < 12 || rest[6] != (byte)'\\' || rest[7] != (byte)'u' || !char.IsLowSurrogate((char)Hex(rest.Slice(8, 4))))
                    {
                        return false;
                    }

                    raw = rest[12..];
                }
                else
                {
                    raw = rest[6..];
                }
            }

            at = raw.IndexOf((byte)'\\');
        }

        return true;
    }

    /// <summary>The four hex digits of a \u escape, which the JSON parser has already checked.</summary>
    private static int Hex(ReadOnlySpan<byte> digits) =>
        int.Parse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

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

    private static void FileId(Validation v, JsonElement content, string name, ref List<long>? files, bool required)
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
            (files ??= []).Add(id);
        }
        else
        {
            v.Add("content." + name, "must be a file id");
        }
    }
}
