using System.Text.Json;
using System.Text.Json.Serialization;

namespace Parley.Server.Http;

/// <summary>
/// Every JSON string a client sends is refused if it holds U+0000: PostgreSQL cannot store it in text, and no
/// field of the contract needs it. Failing here makes it a 400 naming the field, on both engines alike. So is a
/// string that is no Unicode text (invalid UTF-8, an escaped lone surrogate), which decoding refuses.
/// </summary>
public sealed class NulFreeStringConverter : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName))
        {
            return reader.GetString(); // null, or the serializer's own error for a non-string token
        }

        if (!TextCheckedElementConverter.IsText(ref reader))
        {
            throw new JsonTextException("must be valid Unicode text");
        }

        var value = reader.GetString();
        return value is not null && value.Contains('\0', StringComparison.Ordinal)
            ? throw new JsonTextException("must not contain NUL characters")
            : value;
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

    public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Read(ref reader, typeToConvert, options) ?? "";

    public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WritePropertyName(value);
}
