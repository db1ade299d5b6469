namespace Parley.Protocol;

/// <summary>The sizes the contract fixes for WebSocket frames and their members.</summary>
public static class ProtocolLimits
{
    /// <summary>The default largest frame, in bytes, a client may send; a bigger one closes the connection with 1009.</summary>
    public const int MaxFrameBytes = 128 * 1024;

    /// <summary>Ids are decimal strings of positive 64-bit numbers, so 19 digits would do; 20 leaves room.</summary>
    public const int MaxIdLength = 20;

    public const int MaxClientMsgIdLength = 64;
    public const int MaxMsgTypeLength = 32;
    public const int MaxMentions = 100;

    /// <summary>The page size of a <c>sync</c> that gives no <c>limit</c>, and the largest it may ask for.</summary>
    public const int DefaultSyncLimit = 50;
    public const int MaxSyncLimit = 200;

    /// <summary>Nesting deeper than this is refused before any of it is looked at (System.Text.Json's own default).</summary>
    public const int MaxDepth = 64;
}
