using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Parley.Client;

/// <summary>
/// A message's content, typed by the contract's message type. Read it with <see cref="Message.GetContent"/> (then
/// pattern-match) or the <c>TryGet…</c> methods of <see cref="Message"/>; send one with
/// <see cref="ParleyClient.SendMessageAsync(string, MessageContent, string?, long?, IReadOnlyList{string}?, CancellationToken)"/>
/// or <see cref="ParleySocket.SendAsync(string, MessageContent, string?, long?, IReadOnlyList{string}?, CancellationToken)"/>.
/// </summary>
public abstract record MessageContent
{
    private protected MessageContent()
    {
    }

    /// <summary>The message type this content goes with (<c>text</c>, <c>image</c>, ...).</summary>
    [JsonIgnore]
    public abstract string Type { get; }

    /// <summary>The content as the JSON object the server takes.</summary>
    public abstract JsonElement ToJson();

    /// <summary>
    /// The typed content of a message of <paramref name="type"/>; null for a recalled message (no content) and for
    /// content that does not have the type's required fields. A type this client does not know is
    /// <see cref="UnknownContent"/>, so newer servers' types still come through.
    /// </summary>
    public static MessageContent? From(string type, JsonElement? content)
    {
        if (content is not { ValueKind: JsonValueKind.Object } json)
        {
            return null;
        }

        try
        {
            return type switch
            {
                "text" => Read(json, ContentJson.Default.TextContent),
                "image" => Read(json, ContentJson.Default.ImageContent),
                "file" => Read(json, ContentJson.Default.FileContent),
                "audio" => Read(json, ContentJson.Default.AudioContent),
                "video" => Read(json, ContentJson.Default.VideoContent),
                "location" => Read(json, ContentJson.Default.LocationContent),
                "link" => Read(json, ContentJson.Default.LinkContent),
                "call" => Read(json, ContentJson.Default.CallContent),
                "custom" => new CustomContent(json.Clone()),
                _ => new UnknownContent(type, json.Clone()),
            };
        }
        catch (JsonException)
        {
            return null; // a required field missing, or of the wrong kind
        }
    }

    private static T? Read<T>(JsonElement json, JsonTypeInfo<T> type)
        where T : MessageContent =>
        json.Deserialize(type);

    private protected static JsonElement Write<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.SerializeToElement(value, type);
}

/// <summary><c>text {text}</c>.</summary>
public sealed record TextContent(string Text) : MessageContent
{
    [JsonIgnore]
    public override string Type => "text";

    public override JsonElement ToJson() => Write(this, ContentJson.Default.TextContent);
}

/// <summary><c>image {fileId, width?, height?}</c>.</summary>
public sealed record ImageContent(string FileId, int? Width = null, int? Height = null) : MessageContent
{
    [JsonIgnore]
    public override string Type => "image";

    public override JsonElement ToJson() => Write(this, ContentJson.Default.ImageContent);
}

/// <summary><c>file {fileId, name, size}</c>.</summary>
public sealed record FileContent(string FileId, string Name, long Size) : MessageContent
{
    [JsonIgnore]
    public override string Type => "file";

    public override JsonElement ToJson() => Write(this, ContentJson.Default.FileContent);
}

/// <summary><c>audio {fileId, durationMs}</c>.</summary>
public sealed record AudioContent(string FileId, long DurationMs) : MessageContent
{
    [JsonIgnore]
    public override string Type => "audio";

    public override JsonElement ToJson() => Write(this, ContentJson.Default.AudioContent);
}

/// <summary><c>video {fileId, durationMs?, width?, height?}</c>.</summary>
public sealed record VideoContent(string FileId, long? DurationMs = null, int? Width = null, int? Height = null) : MessageContent
{
    [JsonIgnore]
    public override string Type => "video";

    public override JsonElement ToJson() => Write(this, ContentJson.Default.VideoContent);
}

/// <summary><c>location {latitude, longitude, title?}</c>.</summary>
public sealed record LocationContent(double Latitude, double Longitude, string? Title = null) : MessageContent
{
    [JsonIgnore]
    public override string Type => "location";

    public override JsonElement ToJson() => Write(this, ContentJson.Default.LocationContent);
}

/// <summary><c>link {url, title?, description?, imageFileId?}</c>.</summary>
public sealed record LinkContent(string Url, string? Title = null, string? Description = null, string? ImageFileId = null) : MessageContent
{
    [JsonIgnore]
    public override string Type => "link";

    public override JsonElement ToJson() => Write(this, ContentJson.Default.LinkContent);
}

/// <summary><c>call {callId, media, outcome, durationMs?}</c>: written by the server only, when a call ends.</summary>
public sealed record CallContent(string CallId, string Media, string Outcome, long? DurationMs = null) : MessageContent
{
    [JsonIgnore]
    public override string Type => "call";

    public override JsonElement ToJson() => Write(this, ContentJson.Default.CallContent);
}

/// <summary><c>custom {any JSON object}</c>: <see cref="Data"/> is the object as sent.</summary>
public sealed record CustomContent(JsonElement Data) : MessageContent
{
    [JsonIgnore]
    public override string Type => "custom";

    public override JsonElement ToJson() => Data;
}

/// <summary>Content of a message type this client does not know (added by a newer server).</summary>
public sealed record UnknownContent(string TypeName, JsonElement Data) : MessageContent
{
    [JsonIgnore]
    public override string Type => TypeName;

    public override JsonElement ToJson() => Data;
}

/// <summary>
/// Content records, strictly: a required field missing or null is an error (read as "not this type"), and optional
/// fields left null are not written.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(TextContent))]
[JsonSerializable(typeof(ImageContent))]
[JsonSerializable(typeof(FileContent))]
[JsonSerializable(typeof(AudioContent))]
[JsonSerializable(typeof(VideoContent))]
[JsonSerializable(typeof(LocationContent))]
[JsonSerializable(typeof(LinkContent))]
[JsonSerializable(typeof(CallContent))]
internal sealed partial class ContentJson : JsonSerializerContext;
