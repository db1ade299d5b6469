using System.Text.Json;
using System.Text.Json.Serialization;
using Parley.Server.Accounts;

namespace Parley.Server.Messaging;

/// <summary>JSON text written as is: stored message content is already JSON, so it is never parsed to be sent.</summary>
[JsonConverter(typeof(RawJsonConverter))]
public readonly record struct RawJson(string Json);

public sealed class RawJsonConverter : JsonConverter<RawJson>
{
    public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return new RawJson(document.RootElement.GetRawText());
    }

    public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.Json, skipInputValidation: true);
}

public sealed record SendMessageBody(string? ClientMsgId, string? Type, JsonElement Content, long? ReplyTo, IReadOnlyList<string>? Mentions);

public sealed record DirectBody(string? UserId);

public sealed record ReadBody(long? Seq);

/// <summary>PATCH /api/conversations/{id}: the member's own settings of the conversation.</summary>
public sealed record ConversationPatch(bool? Muted);

public sealed record MessageDto(
    string ConversationId,
    long Seq,
    string ClientMsgId,
    string SenderId,
    string Type,
    RawJson? Content,
    long? ReplyTo,
    RawJson? Mentions,
    long SentAt,
    bool Recalled);

public sealed record GroupRef(string Id, string Name, string? AvatarFileId);

public sealed record ConversationDto(
    string Id,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] PublicUser? Peer,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GroupRef? Group,
    long MaxSeq,
    long ReadSeq,
    long AckSeq,
    long UnreadCount,
    bool Mentioned,
    bool Muted,
    MessageDto? LastMessage,
    /// <summary>Direct only: how far the peer has read, so every own message's receipt is known after a reload.</summary>
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? PeerReadSeq);

public sealed record MessagePage(IReadOnlyList<MessageDto> Items, bool HasMore, long MaxSeq);

public sealed record Receipts(IReadOnlyList<string> ReadBy, IReadOnlyList<string> UnreadBy);

