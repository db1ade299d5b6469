namespace Parley.Server.Groups;

public enum GroupRole
{
    Member,
    Admin,
    Owner,
}

/// <summary>
/// Every permission rule of groups, in one place. Inputs are the actor's role (null when not a member)
/// and, where it matters, the target's; the service asks before it changes anything.
/// </summary>
public static class GroupPolicy
{
    public static bool IsManager(GroupRole? role) => role is GroupRole.Owner or GroupRole.Admin;

    public static bool CanRead(GroupRole? actor) => actor is not null;

    public static bool CanUpdate(GroupRole? actor) => IsManager(actor);

    public static bool CanDissolve(GroupRole? actor) => actor == GroupRole.Owner;

    public static bool CanAddMembers(GroupRole? actor, bool membersCanInvite) =>
        IsManager(actor) || (actor == GroupRole.Member && membersCanInvite);

    /// <summary>An admin removes members; the owner removes anyone but themself.</summary>
    public static bool CanRemove(GroupRole? actor, GroupRole target, bool self) =>
        !self && (actor == GroupRole.Owner || (actor == GroupRole.Admin && target == GroupRole.Member));

    /// <summary>Only the owner assigns admin/member, never on themself; ownership moves by transfer only.</summary>
    public static bool CanSetRole(GroupRole? actor, GroupRole target, GroupRole newRole, bool self) =>
        actor == GroupRole.Owner && !self && target != GroupRole.Owner && newRole != GroupRole.Owner;

    /// <summary>The owner mutes anyone but themself; an admin mutes members only.</summary>
    public static bool CanMute(GroupRole? actor, GroupRole target, bool self) =>
        !self && (actor == GroupRole.Owner || (actor == GroupRole.Admin && target == GroupRole.Member));

    public static bool CanTransferOwnership(GroupRole? actor) => actor == GroupRole.Owner;

    public static bool CanManageRequests(GroupRole? actor) => IsManager(actor);

    public static bool CanManageInviteCodes(GroupRole? actor) => IsManager(actor);

    /// <summary>The owner may leave only as the last member (which dissolves the group).</summary>
    public static bool CanLeave(GroupRole? actor, int memberCount) =>
        actor is not null && (actor != GroupRole.Owner || memberCount == 1);

    public static string ToWire(GroupRole role) => role switch
    {
        GroupRole.Owner => "owner",
        GroupRole.Admin => "admin",
        _ => "member",
    };

    public static GroupRole? FromWire(string? role) => role switch
    {
        "owner" => GroupRole.Owner,
        "admin" => GroupRole.Admin,
        "member" => GroupRole.Member,
        _ => null,
    };
}
