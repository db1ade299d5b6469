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
}
