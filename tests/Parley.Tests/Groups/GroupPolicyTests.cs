using Parley.Server.Groups;

namespace Parley.Tests.Groups;

/// <summary>The permission table of groups, as docs/api.md states it; <c>null</c> is a non-member.</summary>
[Trait("Tier", "Unit")]
public sealed class GroupPolicyTests
{
    private const GroupRole Owner = GroupRole.Owner;
    private const GroupRole Admin = GroupRole.Admin;
    private const GroupRole Member = GroupRole.Member;

    [Theory]
    [InlineData(null, false)]
    [InlineData(Member, true)]
    [InlineData(Admin, true)]
    [InlineData(Owner, true)]
    public void Members_read(GroupRole? actor, bool allowed) => Assert.Equal(allowed, GroupPolicy.CanRead(actor));

    [Theory]
    [InlineData(null, false)]
    [InlineData(Member, false)]
    [InlineData(Admin, true)]
    [InlineData(Owner, true)]
    public void Owner_and_admins_update_and_manage_requests(GroupRole? actor, bool allowed)
    {
        Assert.Equal(allowed, GroupPolicy.CanUpdate(actor));
        Assert.Equal(allowed, GroupPolicy.CanManageRequests(actor));
        Assert.Equal(allowed, GroupPolicy.IsManager(actor));
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData(Member, false)]
    [InlineData(Admin, false)]
    [InlineData(Owner, true)]
    public void Only_the_owner_dissolves_and_transfers(GroupRole? actor, bool allowed)
    {
        Assert.Equal(allowed, GroupPolicy.CanDissolve(actor));
        Assert.Equal(allowed, GroupPolicy.CanTransferOwnership(actor));
    }

    [Theory]
    [InlineData(null, false, false)]
    [InlineData(null, true, false)]
    [InlineData(Member, false, false)]
    [InlineData(Member, true, true)]
    [InlineData(Admin, false, true)]
    [InlineData(Admin, true, true)]
    [InlineData(Owner, false, true)]
    [InlineData(Owner, true, true)]
    public void Adding_members_is_for_managers_or_members_when_allowed(GroupRole? actor, bool membersCanInvite, bool allowed) =>
        Assert.Equal(allowed, GroupPolicy.CanAddMembers(actor, membersCanInvite));

    [Theory]
    // the owner removes anyone but themself
    [InlineData(Owner, Admin, false, true)]
    [InlineData(Owner, Member, false, true)]
    [InlineData(Owner, Owner, true, false)]
    // an admin removes members only: not the owner (an admin kicking the owner), not other admins, not themself
    [InlineData(Admin, Member, false, true)]
    [InlineData(Admin, Admin, false, false)]
    [InlineData(Admin, Owner, false, false)]
    [InlineData(Admin, Admin, true, false)]
    // members and non-members remove nobody
    [InlineData(Member, Member, false, false)]
    [InlineData(Member, Admin, false, false)]
    [InlineData(Member, Owner, false, false)]
    [InlineData(Member, Member, true, false)]
    [InlineData(null, Member, false, false)]
    [InlineData(null, Owner, false, false)]
    public void Removing(GroupRole? actor, GroupRole target, bool self, bool allowed) =>
        Assert.Equal(allowed, GroupPolicy.CanRemove(actor, target, self));

    [Theory]
    // the owner promotes and demotes others
    [InlineData(Owner, Member, Admin, false, true)]
    [InlineData(Owner, Admin, Member, false, true)]
    [InlineData(Owner, Member, Member, false, true)]
    [InlineData(Owner, Admin, Admin, false, true)]
    // ownership moves only by transfer; the owner never changes their own role
    [InlineData(Owner, Member, Owner, false, false)]
    [InlineData(Owner, Admin, Owner, false, false)]
    [InlineData(Owner, Owner, Admin, true, false)]
    [InlineData(Owner, Owner, Member, true, false)]
    // an admin promoting, demoting or touching the owner; members; non-members
    [InlineData(Admin, Member, Admin, false, false)]
    [InlineData(Admin, Admin, Member, false, false)]
    [InlineData(Admin, Owner, Member, false, false)]
    [InlineData(Admin, Admin, Member, true, false)]
    [InlineData(Member, Member, Admin, false, false)]
    [InlineData(Member, Member, Admin, true, false)]
    [InlineData(null, Member, Admin, false, false)]
    public void Setting_roles(GroupRole? actor, GroupRole target, GroupRole newRole, bool self, bool allowed) =>
        Assert.Equal(allowed, GroupPolicy.CanSetRole(actor, target, newRole, self));

    [Theory]
    [InlineData(Owner, Admin, false, true)]
    [InlineData(Owner, Member, false, true)]
    [InlineData(Owner, Owner, true, false)]
    [InlineData(Admin, Member, false, true)]
    [InlineData(Admin, Admin, false, false)]
    [InlineData(Admin, Owner, false, false)]
    [InlineData(Admin, Admin, true, false)]
    [InlineData(Member, Member, false, false)]
    [InlineData(Member, Admin, false, false)]
    [InlineData(Member, Member, true, false)]
    [InlineData(null, Member, false, false)]
    public void Muting(GroupRole? actor, GroupRole target, bool self, bool allowed) =>
        Assert.Equal(allowed, GroupPolicy.CanMute(actor, target, self));

    [Theory]
    [InlineData(Member, 2, true)]
    [InlineData(Member, 100_000, true)]
    [InlineData(Admin, 2, true)]
    [InlineData(Owner, 2, false)]
    [InlineData(Owner, 100_000, false)]
    [InlineData(Owner, 1, true)]
    [InlineData(null, 1, false)]
    [InlineData(null, 5, false)]
    public void Leaving_the_owner_only_as_the_last_member(GroupRole? actor, int memberCount, bool allowed) =>
        Assert.Equal(allowed, GroupPolicy.CanLeave(actor, memberCount));

    [Theory]
    [InlineData(Owner, "owner")]
    [InlineData(Admin, "admin")]
    [InlineData(Member, "member")]
    public void Roles_round_trip_through_their_wire_names(GroupRole role, string wire)
    {
        Assert.Equal(wire, GroupPolicy.ToWire(role));
        Assert.Equal(role, GroupPolicy.FromWire(wire));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("wizard")]
    [InlineData("Admin")]
    [InlineData(" admin")]
    public void Unknown_wire_roles_are_null(string? wire) => Assert.Null(GroupPolicy.FromWire(wire));
}
