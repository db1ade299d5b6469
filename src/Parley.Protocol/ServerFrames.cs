using System.Buffers;
using System.Text.Json;

namespace Parley.Protocol;

/// <summary>
/// Builds the frames the server sends, each one JSON object as UTF-8 bytes ready for a text frame. A frame is built
/// once and the same bytes go to every recipient.
/// </summary>
/// <remarks>
/// A null <c>refJson</c> leaves <c>ref</c> out (the contract's <c>{type:"error", code, message}</c> for a frame
/// with no ref); otherwise it is written verbatim, so the client gets back exactly the value it sent.
/// Message objects arrive already serialized (the server serializes each message once) and are embedded as they
/// are; raw JSON is still validated as it is written (a <see cref="JsonException"/> otherwise), so a bug upstream
/// fails here instead of at every client.
/// </remarks>
public static class ServerFrames
{
    private static readonly byte[] PongFrame = """{"type":"pong"}"""u8.ToArray();

    /// <summary><c>{type:"hello", userId, deviceId, serverTime, heartbeatMs}</c>, the first frame of a connection.</summary>
    public static byte[] Hello(string userId, string deviceId, long serverTime, int heartbeatMs)
    {
        var w = Writer.Start(FrameTypes.Hello);
        w.Json.WriteString("userId"u8, userId);
        w.Json.WriteString("deviceId"u8, deviceId);
        w.Json.WriteNumber("serverTime"u8, serverTime);
        w.Json.WriteNumber("heartbeatMs"u8, heartbeatMs);
        return w.Finish();
    }

    /// <summary><c>{type:"pong"}</c>. One shared array: write it, never modify it.</summary>
    public static byte[] Pong() => PongFrame;

    /// <summary><c>{type:"sent", ref, message}</c>: the sending connection's acknowledgement of a committed message.</summary>
    public static byte[] Sent(string? refJson, ReadOnlySpan<byte> messageJson)
    {
        var w = Writer.Start(FrameTypes.Sent);
        w.Ref(refJson);
        w.Json.WritePropertyName("message"u8);
        w.Json.WriteRawValue(messageJson);
        return w.Finish();
    }

    /// <summary><c>{type:"error", ref, code, message}</c>; the connection stays open.</summary>
    public static byte[] Error(string? refJson, string code, string message)
    {
        var w = Writer.Start(FrameTypes.Error);
        w.Ref(refJson);
        w.Json.WriteString("code"u8, code);
        w.Json.WriteString("message"u8, message);
        return w.Finish();
    }

    /// <summary><c>{type:"messages", ref, conversationId, items, hasMore, maxSeq}</c>, the answer to <c>sync</c>.</summary>
    public static byte[] Messages(string? refJson, string conversationId, IReadOnlyList<ReadOnlyMemory<byte>> itemsJson, bool hasMore, long maxSeq)
    {
        var w = Writer.Start(FrameTypes.Messages);
        w.Ref(refJson);
        w.Json.WriteString("conversationId"u8, conversationId);
        w.Json.WriteStartArray("items"u8);
        foreach (var item in itemsJson)
        {
            w.Json.WriteRawValue(item.Span);
        }

        w.Json.WriteEndArray();
        w.Json.WriteBoolean("hasMore"u8, hasMore);
        w.Json.WriteNumber("maxSeq"u8, maxSeq);
        return w.Finish();
    }

    /// <summary><c>{type:"message", message}</c>, the live push to every other device of every member.</summary>
    public static byte[] Message(ReadOnlySpan<byte> messageJson)
    {
        var w = Writer.Start(FrameTypes.Message);
        w.Json.WritePropertyName("message"u8);
        w.Json.WriteRawValue(messageJson);
        return w.Finish();
    }

    /// <summary>What <see cref="Message"/> writes before the message object: a message serialized after it (and before
    /// <see cref="MessageFrameTail"/>) is its <c>message</c> frame without a second copy.</summary>
    public static ReadOnlySpan<byte> MessageFrameHead => """{"type":"message","message":"""u8;

    /// <summary>What <see cref="Message"/> writes after the message object.</summary>
    public static ReadOnlySpan<byte> MessageFrameTail => "}"u8;

    /// <summary><c>{type:"recalled", conversationId, seq, by}</c>.</summary>
    public static byte[] Recalled(string conversationId, long seq, string by)
    {
        var w = Writer.Start(FrameTypes.Recalled);
        w.Json.WriteString("conversationId"u8, conversationId);
        w.Json.WriteNumber("seq"u8, seq);
        w.Json.WriteString("by"u8, by);
        return w.Finish();
    }

    /// <summary><c>{type:"read", conversationId, userId, seq}</c>.</summary>
    public static byte[] Read(string conversationId, string userId, long seq)
    {
        var w = Writer.Start(FrameTypes.Read);
        w.Json.WriteString("conversationId"u8, conversationId);
        w.Json.WriteString("userId"u8, userId);
        w.Json.WriteNumber("seq"u8, seq);
        return w.Finish();
    }

    /// <summary><c>{type:"typing", conversationId, userId}</c>.</summary>
    public static byte[] Typing(string conversationId, string userId)
    {
        var w = Writer.Start(FrameTypes.Typing);
        w.Json.WriteString("conversationId"u8, conversationId);
        w.Json.WriteString("userId"u8, userId);
        return w.Finish();
    }

    /// <summary><c>{type:"presence", userId, online, lastSeenAt}</c>; <c>lastSeenAt</c> is written as null when unknown.</summary>
    public static byte[] Presence(string userId, bool online, long? lastSeenAt)
    {
        var w = Writer.Start(FrameTypes.Presence);
        w.Json.WriteString("userId"u8, userId);
        w.Json.WriteBoolean("online"u8, online);
        if (lastSeenAt is { } at)
        {
            w.Json.WriteNumber("lastSeenAt"u8, at);
        }
        else
        {
            w.Json.WriteNull("lastSeenAt"u8);
        }

        return w.Finish();
    }

    /// <summary><c>{type:"notify", kind, data}</c>.</summary>
    public static byte[] Notify(string kind, JsonElement data)
    {
        var w = Writer.Start(FrameTypes.Notify);
        w.Json.WriteString("kind"u8, kind);
        w.Json.WritePropertyName("data"u8);
        data.WriteTo(w.Json);
        return w.Finish();
    }

    /// <summary>
    /// <c>{type:"resync", conversationIds?}</c>: the device may have missed live pushes (cluster bus trouble) and catches
    /// up by <c>after=</c> for the listed conversations, or for every one it holds when <paramref name="conversationIds"/> is null.
    /// </summary>
    public static byte[] Resync(IReadOnlyList<string>? conversationIds)
    {
        var w = Writer.Start(FrameTypes.Resync);
        if (conversationIds is not null)
        {
            w.Json.WriteStartArray("conversationIds"u8);
            foreach (var id in conversationIds)
            {
                w.Json.WriteStringValue(id);
            }

            w.Json.WriteEndArray();
        }

        return w.Finish();
    }

    /// <summary><c>{type:"call.invited", ref, callId}</c>: the inviting connection's answer.</summary>
    public static byte[] CallInvited(string? refJson, string callId)
    {
        var w = Writer.Start(FrameTypes.CallInvited);
        w.Ref(refJson);
        w.Json.WriteString("callId"u8, callId);
        return w.Finish();
    }

    /// <summary><c>{type:"call.ring", callId, conversationId, from, fromDeviceId, media}</c>, to every device of the callee.</summary>
    public static byte[] CallRing(string callId, string conversationId, string from, string fromDeviceId, string media)
    {
        var w = Writer.Start(FrameTypes.CallRing);
        w.Json.WriteString("callId"u8, callId);
        w.Json.WriteString("conversationId"u8, conversationId);
        w.Json.WriteString("from"u8, from);
        w.Json.WriteString("fromDeviceId"u8, fromDeviceId);
        w.Json.WriteString("media"u8, media);
        return w.Finish();
    }

    /// <summary><c>{type:"call.accepted", callId, by, deviceId}</c>, to the caller's inviting device.</summary>
    public static byte[] CallAccepted(string callId, string by, string deviceId)
    {
        var w = Writer.Start(FrameTypes.CallAccepted);
        w.Json.WriteString("callId"u8, callId);
        w.Json.WriteString("by"u8, by);
        w.Json.WriteString("deviceId"u8, deviceId);
        return w.Finish();
    }

    /// <summary><c>{type:"call.signal", callId, data}</c>: <paramref name="dataJson"/> relayed as the other device wrote it.</summary>
    public static byte[] CallSignal(string callId, ReadOnlySpan<byte> dataJson)
    {
        var w = Writer.Start(FrameTypes.CallSignal);
        w.Json.WriteString("callId"u8, callId);
        w.Json.WritePropertyName("data"u8);
        w.Json.WriteRawValue(dataJson, skipInputValidation: true); // the parser validated it as one JSON value
        return w.Finish();
    }

    /// <summary><c>{type:"call.ended", callId, reason}</c>.</summary>
    public static byte[] CallEnded(string callId, string reason)
    {
        var w = Writer.Start(FrameTypes.CallEnded);
        w.Json.WriteString("callId"u8, callId);
        w.Json.WriteString("reason"u8, reason);
        return w.Finish();
    }

    /// <summary>
    /// A buffer and JSON writer kept per thread and reused, so building a frame allocates only its result. Building
    /// is synchronous, so a thread never uses two at once; one left behind by an exception is simply replaced.
    /// </summary>
    private sealed class Writer
    {
        // A thread that once built a huge sync page should not keep that buffer for ever.
        private const int MaxRetainedBytes = 256 * 1024;

        [ThreadStatic]
        private static Writer? t_cached;

        private readonly ArrayBufferWriter<byte> _buffer = new(1024);

        private Writer() => Json = new Utf8JsonWriter(_buffer);

        public Utf8JsonWriter Json { get; }

        public static Writer Start(string type)
        {
            var w = t_cached ?? new Writer();
            t_cached = null;
            w._buffer.ResetWrittenCount();
            w.Json.Reset(w._buffer);
            w.Json.WriteStartObject();
            w.Json.WriteString("type"u8, type);
            return w;
        }

        public void Ref(string? refJson)
        {
            if (refJson is not null)
            {
                Json.WritePropertyName("ref"u8);
                Json.WriteRawValue(refJson);
            }
        }

        public byte[] Finish()
        {
            Json.WriteEndObject();
            Json.Flush();
            var bytes = _buffer.WrittenSpan.ToArray();
            if (_buffer.Capacity <= MaxRetainedBytes)
            {
                t_cached = this;
            }

            return bytes;
        }
    }
}
