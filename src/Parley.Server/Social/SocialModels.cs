using Parley.Server.Accounts;

namespace Parley.Server.Social;

public sealed record FriendRequestBody(string? UserId, string? Message);

public sealed record RemarkBody(string? Remark);

public sealed record FriendRequestDto(
    string Id,
    string FromUserId,
    string ToUserId,
    PublicUser From,
    PublicUser To,
    string? Message,
    string Status,
    long CreatedAt,
    long UpdatedAt);

public sealed record FriendEntry(PublicUser User, string? Remark, long Since, bool Online);

public sealed record BlockEntry(PublicUser User, long Since);

/// <summary>Payload of <c>friend.removed</c>: the other side of the ended friendship.</summary>
public sealed record FriendRemovedData(string UserId);
