namespace Parley.Server.Realtime;

/// <summary>Settings section <c>Realtime</c>.</summary>
public sealed class RealtimeOptions
{
    public const string Section = "Realtime";

    /// <summary>How often clients must send something; a connection silent for twice this is closed (4000).</summary>
    public int HeartbeatMs { get; set; } = 30_000;

    /// <summary>Browser origins allowed to open /ws. Empty: only the server's own origin.</summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Frames queued for one connection before it counts as too slow and is disconnected.</summary>
    public int SendQueueFrames { get; set; } = 1024;

    /// <summary>Bytes queued for one connection before it counts as too slow and is disconnected.</summary>
    public int SendQueueBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Open sockets one user may hold on this node; an upgrade beyond it is refused with 429 <c>rate_limited</c>
    /// (the sockets already open are kept). 0 or less refuses every socket.
    /// </summary>
    public int MaxConnectionsPerUser { get; set; } = 20;

    /// <summary>Frames a client may send per second, sustained, before the connection is closed with 4008.</summary>
    public double FramesPerSecond { get; set; } = 50;

    /// <summary>Frames a client may send in a burst above the sustained rate.</summary>
    public int FrameBurst { get; set; } = 200;

    /// <summary>
    /// Serve plain HTTP/1.1 upgrades of /ws on the lean transport (own RFC 6455 framing on Kestrel's pipes, no
    /// HTTP state under the socket); false: every socket on ASP.NET Core's WebSockets.
    /// </summary>
    public bool LeanWebSockets { get; set; } = true;
}
