using System.Text.Json;
using Parley.Server.Accounts;
using Parley.Storage;
using Parley.Storage.Groups;

namespace Parley.Server.Groups;

public sealed record CreateGroupBody(
    string? Name,
    string? Description,
    JsonElement Tags,
    string? Announcement,
    string? JoinPolicy,
    string? Visibility,
    bool? MembersCanInvite,
    IReadOnlyList<string>? MemberIds,
    bool? Temporary,
    long? IdleTtlSeconds,
    string? AvatarFileId);

/// <summary>PATCH of a group: JsonElement members tell "absent" (Undefined) from a value.</summary>
public sealed record GroupPatch(
    JsonElement Name,
    JsonElement Description,
    JsonElement Tags,
    JsonElement Announcement,
    JsonElement JoinPolicy,
    JsonElement Visibility,
    JsonElement MembersCanInvite,
    JsonElement IdleTtlSeconds,
    JsonElement AvatarFileId);

public sealed record JoinBody(string? Message);

public sealed record UserIdsBody(IReadOnlyList<string>? UserIds);

public sealed record MemberPatch(JsonElement Role, JsonElement MutedUntil);

public sealed record OwnerBody(string? UserId);

public sealed record JoinResult(string Status);

public sealed record CreateInviteCodeBody(long? ExpiresInSeconds, int? MaxUses);

public sealed record JoinByCodeBody(string? Code);

/// <summary>An invite code as its creator gets it; the code itself is shown only then (the server keeps its hash).</summary>
public sealed record InviteCodeDto(string Code, long ExpiresAt, int? MaxUses, int Uses);

public sealed record GroupDto(
    string Id,
    string ConversationId,
    string Name,
    string Description,
    IReadOnlyList<string> Tags,
    string Announcement,
    string OwnerId,
    string JoinPolicy,
    string Visibility,
    bool MembersCanInvite,
    int MemberCount,
    bool Temporary,
    long? ExpiresAt,
    long CreatedAt,
    string? AvatarFileId)
{
    public static GroupDto From(GroupRow g) => new(
        Ids.Format(g.Id),
        Ids.Format(g.ConversationId),
        g.Name,
        g.Description,
        g.Tags,
        g.Announcement,
        Ids.Format(g.OwnerId),
        g.JoinPolicy,
        g.Visibility,
        g.MembersCanInvite,
        g.MemberCount,
        g.Temporary,
        g.ExpiresAt,
        g.CreatedAt,
        Ids.Format(g.AvatarFileId));
}

public sealed record MemberEntry(PublicUser User, string Role, long JoinedAt, long? MutedUntil);

public sealed record JoinRequestDto(string Id, string GroupId, PublicUser User, string? Message, string Status, long CreatedAt);

public sealed record GroupInvitedData(GroupDto Group, string By);

public sealed record GroupMemberData(string GroupId, string UserId);

public sealed record GroupRemovedData(string GroupId, string UserId, string By);

public sealed record GroupUpdatedData(GroupDto Group);

public sealed record GroupRoleData(string GroupId, string UserId, string Role, long? MutedUntil);

public sealed record GroupDissolvedData(string GroupId);
