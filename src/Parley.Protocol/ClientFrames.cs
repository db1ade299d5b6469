using System.Text.Json;

namespace Parley.Protocol;

/// <summary>
/// A frame a client sent, as <see cref="FrameParser.TryParse"/> produced it: every member already checked for
/// presence, type and range, so a handler only applies business rules.
/// </summary>
/// <remarks>
/// <c>RefJson</c>, where a frame has it, is the raw JSON text of the client's <c>ref</c> (any JSON value), or null
/// when the client sent none; the answer echoes it byte for byte.
/// </remarks>
public abstract record ClientFrame;

/// <summary><c>{type:"send", ref, conversationId, clientMsgId, msgType, content, replyTo?, mentions?}</c>: the send
/// command with the client's <c>ref</c>.</summary>
public sealed record SendFrame(string? RefJson, SendCommand Command) : ClientFrame;

/// <summary><c>{type:"sync", ref, conversationId, afterSeq, limit?}</c>; a null <paramref name="Limit"/> means the default page.</summary>
public sealed record SyncFrame(string? RefJson, string ConversationId, long AfterSeq, int? Limit) : ClientFrame;

/// <summary><c>{type:"ack", conversationId, seq}</c>: this device holds everything up to <paramref name="Seq"/>.</summary>
public sealed record AckFrame(string ConversationId, long Seq) : ClientFrame;

/// <summary><c>{type:"read", conversationId, seq}</c>: the user has read up to <paramref name="Seq"/>.</summary>
public sealed record ReadFrame(string ConversationId, long Seq) : ClientFrame;

/// <summary><c>{type:"typing", conversationId}</c>.</summary>
public sealed record TypingFrame(string ConversationId) : ClientFrame;

/// <summary><c>{type:"ping"}</c>; it carries nothing, so one instance serves every connection.</summary>
public sealed record PingFrame : ClientFrame
{
    public static PingFrame Instance { get; } = new();

    private PingFrame()
    {
    }
}

/// <summary><c>{type:"call.invite", ref, conversationId, media}</c>; <paramref name="Media"/> is <c>audio</c> or <c>video</c>.</summary>
public sealed record CallInviteFrame(string? RefJson, string ConversationId, string Media) : ClientFrame;

/// <summary><c>{type:"call.accept", ref, callId}</c>.</summary>
public sealed record CallAcceptFrame(string? RefJson, string CallId) : ClientFrame;

/// <summary>
/// <c>{type:"call.signal", ref?, callId, data}</c>: <paramref name="Data"/> is the raw JSON text of <c>data</c> (any JSON
/// value but null, as the client wrote it, copied out of the frame's buffer): relayed verbatim, never interpreted.
/// </summary>
public sealed record CallSignalFrame(string? RefJson, string CallId, byte[] Data) : ClientFrame;

/// <summary><c>{type:"call.reject", ref?, callId}</c>.</summary>
public sealed record CallRejectFrame(string? RefJson, string CallId) : ClientFrame;

/// <summary><c>{type:"call.hangup", ref?, callId}</c>.</summary>
public sealed record CallHangupFrame(string? RefJson, string CallId) : ClientFrame;

/// <summary>
/// Why a frame was refused: <see cref="Code"/> is <see cref="Invalid"/> or <see cref="UnknownType"/>, and
/// <see cref="RefJson"/> is the client's <c>ref</c> whenever the frame was well-formed enough to find it, so the
/// <c>error</c> answer can carry it. The default value (null members) is what a successful parse leaves.
/// </summary>
public readonly record struct FrameError(string Code, string Message, string? RefJson)
{
    public const string Invalid = "invalid";
    public const string UnknownType = "unknown_type";
}
