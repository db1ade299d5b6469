using System.Text;

namespace Parley.Storage.Messaging;

public class ConversationRow
{
    public long Id { get; init; }

    public string Type { get; init; } = "";

    public long? GroupId { get; init; }

    public long? UserLow { get; init; }

    public long? UserHigh { get; init; }

    public long MaxSeq { get; init; }

    public long LastActivityAt { get; init; }

    public long CreatedAt { get; init; }

    /// <summary>For a direct conversation, the user that is not <paramref name="me"/>.</summary>
    public long? PeerOf(long me) => Type == "direct" ? (UserLow == me ? UserHigh : UserLow) : null;
}

/// <summary>A conversation as the send, ack, read and typing checks see it (<see cref="MessageStore.LoadViewAsync"/>).</summary>
public sealed class ConversationViewRow
{
    public long Id { get; init; }

    public string Type { get; init; } = "";

    public long? GroupId { get; init; }

    public long? UserLow { get; init; }

    public long? UserHigh { get; init; }

    public long MaxSeq { get; init; }

    /// <summary>The conversation row's <c>members_version</c> (moved by every committed membership or pair change on PostgreSQL).</summary>
    public long MembersVersion { get; init; }

    /// <summary>The group's visibility (null for a direct conversation).</summary>
    public string? Visibility { get; init; }

    public long? Temporary { get; init; }

    public bool LowFriendsHigh { get; init; }

    public bool HighFriendsLow { get; init; }

    public bool LowBlocksHigh { get; init; }

    public bool HighBlocksLow { get; init; }

    /// <summary>Every member, by user id.</summary>
    public IReadOnlyList<ViewMemberRow> Members { get; set; } = [];
}

/// <summary>One member of a conversation: where they joined, and for a group their role and mute.</summary>
public sealed class ViewMemberRow
{
    public long UserId { get; init; }

    public long JoinedSeq { get; init; }

    public string? Role { get; init; }

    public long? MutedUntil { get; init; }
}

/// <summary>A conversation as one member (on one device) sees it.</summary>
public sealed class MemberConversationRow : ConversationRow
{
    public long JoinedSeq { get; init; }

    public long ReadSeq { get; init; }

    public long MentionSeq { get; init; }

    /// <summary>Non-zero when the member muted the conversation (no offline notifications for it).</summary>
    public long Muted { get; init; }

    public long AckSeq { get; init; }

    public long UnreadCount { get; init; }

    /// <summary>For a direct conversation, how far the peer has read (null for a group).</summary>
    public long? PeerReadSeq { get; init; }
}

public sealed class MessageRow
{
    public long ConversationId { get; init; }

    public long Seq { get; init; }

    public long SenderId { get; init; }

    public string ClientMsgId { get; init; } = "";

    public string Type { get; init; } = "";

    /// <summary>The content object as JSON text; null once recalled.</summary>
    public string? Content { get; init; }

    public long? ReplyTo { get; init; }

    /// <summary>JSON array of mentioned user ids or ["all"]; null when none.</summary>
    public string? Mentions { get; init; }

    public long SentAt { get; init; }

    public long? RecalledAt { get; init; }

    public long? RecalledBy { get; init; }

    /// <summary>
    /// About how many bytes this message takes as JSON (its content and mentions are stored as JSON and sent as
    /// they are; the rest is ids, numbers and field names): what bounds a page of history by bytes.
    /// </summary>
    public int ApproximateJsonBytes() =>
        256 + Encoding.UTF8.GetByteCount(Content ?? "") + Encoding.UTF8.GetByteCount(Mentions ?? "") + Encoding.UTF8.GetByteCount(ClientMsgId) + Encoding.UTF8.GetByteCount(Type);
}

/// <summary>A message to append: everything but its seq, which the store assigns.</summary>
public sealed record NewMessage(
    long ConversationId,
    long SenderId,
    string ClientMsgId,
    string Type,
    string Content,
    long? ReplyTo,
    string? Mentions,
    /// <summary>Users whose mention marker moves to this message (all other members for ["all"]).</summary>
    IReadOnlyList<long> MentionedUserIds,
    bool MentionsAll,
    long SentAt,
    /// <summary>Files the content references: members of the conversation may read them from now on.</summary>
    IReadOnlyList<long> FileIds)
{
    /// <summary>
    /// The conversation's <c>members_version</c> the send was checked against; the PostgreSQL writer stores the message
    /// only while the row still holds it (cluster mode: another node may have changed the members or blocks meanwhile).
    /// Negative (the default): not checked.
    /// </summary>
    public long MembersVersion { get; init; } = -1;
}

/// <summary>
/// The stored message, and whether this append created it (false: a retry of an earlier one). Message is
/// null when the sender was not a member of the conversation at commit time (nothing was stored).
/// </summary>
public readonly record struct AppendResult(MessageRow? Message, bool Created);
