using System.Net.WebSockets;

namespace Parley.Protocol;

/// <summary>
/// The close statuses of the contract, typed as <see cref="WebSocketCloseStatus"/> so the transport can pass them
/// straight to <see cref="WebSocket.CloseAsync"/>; the 4000-4999 range is the application's own.
/// </summary>
public static class CloseCodes
{
    /// <summary>The client was silent for two heartbeat intervals.</summary>
    public const WebSocketCloseStatus HeartbeatTimeout = (WebSocketCloseStatus)4000;

    /// <summary>The device session behind the connection was revoked (logout, password change, token reuse).</summary>
    public const WebSocketCloseStatus SessionRevoked = (WebSocketCloseStatus)4001;

    /// <summary>The client kept sending faster than it is allowed to.</summary>
    public const WebSocketCloseStatus RateLimited = (WebSocketCloseStatus)4008;

    /// <summary>A frame exceeded <see cref="ProtocolLimits.MaxFrameBytes"/> (RFC 6455's 1009).</summary>
    public const WebSocketCloseStatus MessageTooBig = WebSocketCloseStatus.MessageTooBig;
}
