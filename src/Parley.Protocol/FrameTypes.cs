namespace Parley.Protocol;

/// <summary>The <c>type</c> member of every WebSocket frame, both directions.</summary>
public static class FrameTypes
{
    // Client to server.
    public const string Send = "send";
    public const string Sync = "sync";
    public const string Ack = "ack";
    public const string Read = "read";
    public const string Typing = "typing";
    public const string Ping = "ping";
    public const string CallInvite = "call.invite";
    public const string CallAccept = "call.accept";
    public const string CallSignal = "call.signal"; // both directions: relayed as it came
    public const string CallReject = "call.reject";
    public const string CallHangup = "call.hangup";

    // Server to client ("read" and "typing" are shared with the client's frames of the same name).
    public const string Hello = "hello";
    public const string Pong = "pong";
    public const string Sent = "sent";
    public const string Messages = "messages";
    public const string Message = "message";
    public const string Recalled = "recalled";
    public const string Presence = "presence";
    public const string Notify = "notify";
    public const string Error = "error";
    public const string Resync = "resync";
    public const string CallInvited = "call.invited";
    public const string CallRing = "call.ring";
    public const string CallAccepted = "call.accepted";
    public const string CallEnded = "call.ended";
}
