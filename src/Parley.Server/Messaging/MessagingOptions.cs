namespace Parley.Server.Messaging;

/// <summary>Settings section <c>Messaging</c>.</summary>
public sealed class MessagingOptions
{
    public const string Section = "Messaging";

    /// <summary><c>friends</c> (default): direct messages need friendship; <c>anyone</c>: any user not blocked.</summary>
    public string DirectMessages { get; set; } = "friends";

    public int RecallWindowSeconds { get; set; } = 120;

    /// <summary>UTF-8 bytes of a text message's text.</summary>
    public int MaxTextBytes { get; set; } = 16 * 1024;

    /// <summary>UTF-8 bytes of any message's content object.</summary>
    public int MaxContentBytes { get; set; } = 64 * 1024;

    /// <summary>Sustained sends per user per second before <c>rate_limited</c>.</summary>
    public double SendRatePerSecond { get; set; } = 20;

    /// <summary>Sends a user may make in a burst above the sustained rate.</summary>
    public int SendBurst { get; set; } = 50;

    /// <summary>Days a message is kept; 0 keeps messages forever.</summary>
    public int RetentionDays { get; set; }

    /// <summary>
    /// About how many bytes of messages one page of history holds (HTTP and a WebSocket <c>sync</c>): a page
    /// that would be bigger has fewer items and <c>hasMore</c>. It always holds at least one message.
    /// </summary>
    public int MaxPageBytes { get; set; } = 1024 * 1024;

    /// <summary>Most messages committed in one transaction (group commit).</summary>
    public int MaxBatch { get; set; } = 256;

    /// <summary>
    /// Conversations whose send-check view (members, roles, mutes, friendship and blocks) is held in memory; past
    /// this the cache is emptied and refills as conversations are used.
    /// </summary>
    public int ViewCacheConversations { get; set; } = 100_000;
}
