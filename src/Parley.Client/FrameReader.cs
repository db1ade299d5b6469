using System.Text.Json;

namespace Parley.Client;

/// <summary>Reads server frames into the client's records.</summary>
internal static class FrameReader
{
    public static Message Message(JsonElement e) => new(
        e.GetProperty("conversationId").GetString()!,
        e.GetProperty("seq").GetInt64(),
        e.GetProperty("clientMsgId").GetString()!,
        e.GetProperty("senderId").GetString()!,
        e.GetProperty("type").GetString()!,
        e.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Object ? content.Clone() : null,
        e.TryGetProperty("replyTo", out var replyTo) && replyTo.ValueKind == JsonValueKind.Number ? replyTo.GetInt64() : null,
        e.TryGetProperty("mentions", out var mentions) && mentions.ValueKind == JsonValueKind.Array && mentions.GetArrayLength() > 0
            ? mentions.EnumerateArray().Select(m => m.GetString()!).ToArray()
            : [],
        e.GetProperty("sentAt").GetInt64(),
        e.TryGetProperty("recalled", out var recalled) && recalled.ValueKind == JsonValueKind.True);

    public static MessagePage Page(JsonElement e) => new(
        e.GetProperty("items").EnumerateArray().Select(Message).ToArray(),
        e.GetProperty("hasMore").GetBoolean(),
        e.GetProperty("maxSeq").GetInt64());

    public static ServerEvent? Push(string type, JsonElement e) => type switch
    {
        "message" => new MessageEvent(Message(e.GetProperty("message"))),
        "recalled" => new RecalledEvent(e.GetProperty("conversationId").GetString()!, e.GetProperty("seq").GetInt64(), e.GetProperty("by").GetString()!),
        "read" => new ReadEvent(e.GetProperty("conversationId").GetString()!, e.GetProperty("userId").GetString()!, e.GetProperty("seq").GetInt64()),
        "typing" => new TypingEvent(e.GetProperty("conversationId").GetString()!, e.GetProperty("userId").GetString()!),
        "presence" => new PresenceEvent(
            e.GetProperty("userId").GetString()!,
            e.GetProperty("online").GetBoolean(),
            e.TryGetProperty("lastSeenAt", out var seen) && seen.ValueKind == JsonValueKind.Number ? seen.GetInt64() : null),
        "notify" => Notify(e.GetProperty("kind").GetString()!, e.TryGetProperty("data", out var data) ? data.Clone() : default),
        "error" => new ErrorEvent(e.GetProperty("code").GetString()!, e.TryGetProperty("message", out var text) ? text.GetString() ?? "" : ""),
        _ => null, // a frame type this client does not know yet: ignored, as the protocol allows additions
    };

    private static NotifyEvent Notify(string kind, JsonElement data) =>
        kind == "user.updated" && data.ValueKind == JsonValueKind.Object && data.TryGetProperty("user", out var user) && user.ValueKind == JsonValueKind.Object
            ? new UserUpdatedEvent(user.Deserialize(ClientJson.Default.User)!, data)
            : new NotifyEvent(kind, data);
}
