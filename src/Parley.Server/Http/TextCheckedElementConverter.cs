using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;

namespace Parley.Server.Http;

/// <summary>
/// JsonElement members (PATCH bodies that tell absent from null, message content) are kept raw and their strings
/// decoded later, where a string that is no Unicode text (invalid UTF-8 bytes, an escaped lone surrogate) would
/// throw outside the serializer. Checking every string and member name while the element is read makes it a 400
/// naming the field, as for string members, and nothing that is not text is ever stored or pushed. Member names
/// given twice in an object are refused here too, as the serializer refuses them in typed objects.
/// </summary>
public sealed class TextCheckedElementConverter : JsonConverter<JsonElement>
{
    public override JsonElement Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // The serializer hands a custom converter the whole value already buffered, so a copy of the reader can
        // walk it and leave the original where it is.
        var scan = reader;
        var depth = scan.CurrentDepth;
        List<HashSet<string>?>? names = null; // per open object (null for an array), the member names seen
        while (true)
        {
            switch (scan.TokenType)
            {
                case JsonTokenType.String or JsonTokenType.PropertyName when !IsText(ref scan):
                    throw new JsonTextException("must be valid Unicode text");
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    (names ??= []).Add(scan.TokenType == JsonTokenType.StartObject ? new HashSet<string>(StringComparer.Ordinal) : null);
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    names!.RemoveAt(names.Count - 1);
                    break;
                case JsonTokenType.PropertyName when !names![^1]!.Add(scan.GetString()!):
                    // The same as the serializer refuses for typed members: readers disagree on which one counts.
                    throw new JsonTextException("must not give a member name twice");
            }

            // Done at a primitive value, or at the token that closes the object or array we started on.
            if ((scan.CurrentDepth == depth && scan.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray)) || !scan.Read())
            {
                break;
            }
        }

        return JsonElement.ParseValue(ref reader);
    }

    public override void Write(Utf8JsonWriter writer, JsonElement value, JsonSerializerOptions options) => value.WriteTo(writer);

    /// <summary>
    /// Unescaped, the raw bytes are the text: one vectorized UTF-8 check (it refuses encoded surrogates too).
    /// Escaped, decoding is the check: it throws on a lone surrogate and on invalid bytes alike.
    /// </summary>
    internal static bool IsText(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return reader.HasValueSequence ? Utf8.IsValid(reader.ValueSequence.ToArray()) : Utf8.IsValid(reader.ValueSpan);
        }

        try
        {
            _ = reader.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}

/// <summary>A JSON string that is not text (or not text the contract allows); <see cref="RequestReader"/> names the field with <see cref="Reason"/>.</summary>
public sealed class JsonTextException(string reason) : JsonException(reason)
{
    public string Reason { get; } = reason;
}
