namespace Parley.Storage.Groups;

public sealed class GroupRow
{
    public long Id { get; init; }

    public long ConversationId { get; init; }

    public string Name { get; set; } = "";

    public string Description { get; set; } = "";

    public string Announcement { get; set; } = "";

    public long OwnerId { get; set; }

    public string JoinPolicy { get; set; } = "open";

    public string Visibility { get; set; } = "public";

    public bool MembersCanInvite { get; set; }

    public int MemberCount { get; set; }

    public bool Temporary { get; init; }

    public long? IdleTtlSeconds { get; set; }

    public long LastActivityAt { get; set; }

    public long? ExpiresAt { get; set; }

    public long CreatedAt { get; init; }

    public long UpdatedAt { get; set; }

    public IReadOnlyList<string> Tags { get; set; } = [];

    public long? AvatarFileId { get; set; }
}

public sealed class GroupMemberRow
{
    public long GroupId { get; init; }

    public long UserId { get; init; }

    public string Role { get; set; } = "member";

    public long JoinedAt { get; init; }

    public long? MutedUntil { get; set; }
}

public sealed class JoinRequestRow
{
    public long Id { get; init; }

    public long GroupId { get; init; }

    public long UserId { get; init; }

    public string? Message { get; init; }

    public string Status { get; set; } = "pending";

    public long CreatedAt { get; init; }

    public long? DecidedBy { get; set; }

    public long? DecidedAt { get; set; }
}
