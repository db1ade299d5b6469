using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Events;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Accounts;
using Parley.Storage.Groups;
using Parley.Storage.Social;

namespace Parley.Server.Groups;

/// <summary>
/// Every group operation: validation, then the permission question to <see cref="GroupPolicy"/> inside a
/// transaction holding the group's lock, then the change, then (after commit) the events.
/// </summary>
public sealed class GroupService(
    GroupStore store,
    UserStore users,
    SocialStore social,
    Notifier notifier,
    IdGenerator ids,
    TimeProvider time,
    IFileAccess files,
    LookupThrottle lookups,
    UserQuotas quotas,
    IOptions<GroupOptions> options,
    Moderation.Moderator moderation)
{
    private readonly GroupOptions _options = options.Value;

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    public async Task<GroupDto> CreateAsync(long callerId, CreateGroupBody body, CancellationToken cancellationToken)
    {
        var v = new Validation();
        var name = GroupRules.CheckName(v, body.Name);
        var description = GroupRules.CheckText(v, "description", body.Description, GroupRules.MaxDescription);
        var announcement = GroupRules.CheckText(v, "announcement", body.Announcement, GroupRules.MaxAnnouncement);
        var tags = GroupRules.CheckTags(v, body.Tags) ?? [];
        var joinPolicy = body.JoinPolicy is null ? "open" : GroupRules.CheckJoinPolicy(v, body.JoinPolicy);
        var visibility = body.Visibility is null ? "public" : GroupRules.CheckVisibility(v, body.Visibility);
        var temporary = body.Temporary ?? false;
        var ttl = temporary ? GroupRules.CheckIdleTtl(v, body.IdleTtlSeconds ?? _options.DefaultIdleTtlSeconds) : null;
        var memberIds = GroupRules.CheckUserIds(v, "memberIds", body.MemberIds, _options.MaxMembersPerCall, allowEmpty: true)
            .Where(id => id != callerId).ToList();
        long? avatar = null;
        if (body.AvatarFileId is not null)
        {
            if (Ids.TryParse(body.AvatarFileId, out var fileId))
            {
                avatar = fileId;
            }
            else
            {
                v.Add("avatarFileId", "must be a file id or null");
            }
        }

        v.ThrowIfInvalid();
        if (moderation.Active)
        {
            name = moderation.Apply("name", name!);
            announcement = announcement.Length == 0 ? announcement : moderation.Apply("announcement", announcement);
        }

        await CheckAvatarAsync(callerId, avatar, cancellationToken);
        var invitees = await AddableUsersAsync(callerId, memberIds, "memberIds", cancellationToken);
        if (await quotas.GroupCreations.TryTakeAsync(callerId) is { } wait)
        {
            throw UserQuotas.Limited($"At most {_options.CreationsPerHour} new groups per hour; try again later.", wait);
        }

        var now = Now;
        var group = new GroupRow
        {
            Id = ids.Next(),
            ConversationId = ids.Next(),
            Name = name!,
            Description = description,
            Announcement = announcement,
            OwnerId = callerId,
            JoinPolicy = joinPolicy!,
            Visibility = visibility!,
            MembersCanInvite = body.MembersCanInvite ?? false,
            Temporary = temporary,
            IdleTtlSeconds = ttl,
            LastActivityAt = now,
            ExpiresAt = temporary ? now + (ttl!.Value * 1000) : null,
            CreatedAt = now,
            UpdatedAt = now,
            Tags = tags,
            AvatarFileId = avatar,
        };
        var added = new List<long>();
        try
        {
            await using var write = await store.CreateAsync(group, callerId, cancellationToken);
            foreach (var userId in invitees)
            {
                if (await write.AddMemberAsync(userId, "member", now, cancellationToken))
                {
                    added.Add(userId);
                }
            }

            await write.CommitAsync(cancellationToken);
        }
        catch
        {
            await quotas.GroupCreations.RefundAsync(callerId); // nothing was created
            throw;
        }

        var dto = GroupDto.From(group);
        Publish(NotifyKinds.GroupInvited, new GroupInvitedData(dto, Ids.Format(callerId)), ParleyJson.Default.GroupInvitedData, added);
        return dto;
    }

    public async Task<GroupDto> GetAsync(long callerId, string groupId, CancellationToken cancellationToken)
    {
        var (group, _) = await ReadAsMemberAsync(callerId, groupId, cancellationToken);
        return GroupDto.From(group);
    }

    public async Task<GroupDto> UpdateAsync(long callerId, string groupId, GroupPatch patch, CancellationToken cancellationToken)
    {
        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        var role = await RoleAsync(write, callerId, cancellationToken);
        Require(callerId, write.Group, role, GroupPolicy.CanUpdate(role), "Only the owner and admins can change the group.");

        var v = new Validation();
        var group = write.Group;
        var (hasName, name) = GroupRules.OptionalString(v, "name", patch.Name, nullable: false);
        if (hasName)
        {
            group.Name = GroupRules.CheckName(v, name) ?? group.Name;
        }

        var (hasDescription, description) = GroupRules.OptionalString(v, "description", patch.Description, nullable: true);
        if (hasDescription)
        {
            group.Description = GroupRules.CheckText(v, "description", description, GroupRules.MaxDescription);
        }

        var (hasAnnouncement, announcement) = GroupRules.OptionalString(v, "announcement", patch.Announcement, nullable: true);
        if (hasAnnouncement)
        {
            group.Announcement = GroupRules.CheckText(v, "announcement", announcement, GroupRules.MaxAnnouncement);
        }

        var (hasPolicy, policy) = GroupRules.OptionalString(v, "joinPolicy", patch.JoinPolicy, nullable: false);
        if (hasPolicy)
        {
            group.JoinPolicy = GroupRules.CheckJoinPolicy(v, policy) ?? group.JoinPolicy;
        }

        var (hasVisibility, visibility) = GroupRules.OptionalString(v, "visibility", patch.Visibility, nullable: false);
        if (hasVisibility)
        {
            group.Visibility = GroupRules.CheckVisibility(v, visibility) ?? group.Visibility;
        }

        switch (patch.MembersCanInvite.ValueKind)
        {
            case JsonValueKind.True or JsonValueKind.False:
                group.MembersCanInvite = patch.MembersCanInvite.GetBoolean();
                break;
            case not JsonValueKind.Undefined:
                v.Add("membersCanInvite", "must be true or false");
                break;
        }

        if (patch.IdleTtlSeconds.ValueKind != JsonValueKind.Undefined)
        {
            if (!group.Temporary)
            {
                v.Add("idleTtlSeconds", "only temporary groups have an idle time to live");
            }
            else if (patch.IdleTtlSeconds.ValueKind != JsonValueKind.Number || !patch.IdleTtlSeconds.TryGetInt64(out var ttl))
            {
                v.Add("idleTtlSeconds", "must be a whole number of seconds");
            }
            else if (GroupRules.CheckIdleTtl(v, ttl) is { } valid)
            {
                group.IdleTtlSeconds = valid;
                group.ExpiresAt = group.LastActivityAt + (valid * 1000);
            }
        }

        switch (patch.AvatarFileId.ValueKind)
        {
            case JsonValueKind.Null:
                group.AvatarFileId = null;
                break;
            case JsonValueKind.String when Ids.TryParse(patch.AvatarFileId.GetString(), out var fileId):
                group.AvatarFileId = fileId;
                break;
            case not JsonValueKind.Undefined:
                v.Add("avatarFileId", "must be a file id or null");
                break;
        }

        var tags = GroupRules.CheckTags(v, patch.Tags);
        v.ThrowIfInvalid();
        if (moderation.Active)
        {
            // Only what this patch sets: a name stored before a word was blocked does not fail an unrelated change.
            group.Name = hasName ? moderation.Apply("name", group.Name) : group.Name;
            group.Announcement = hasAnnouncement && group.Announcement.Length > 0 ? moderation.Apply("announcement", group.Announcement) : group.Announcement;
        }

        if (patch.AvatarFileId.ValueKind == JsonValueKind.String)
        {
            await CheckAvatarAsync(callerId, group.AvatarFileId, cancellationToken);
        }

        group.UpdatedAt = Now;
        await write.SaveAsync(cancellationToken);
        if (tags is not null)
        {
            await write.ReplaceTagsAsync(tags, cancellationToken);
        }

        var members = await write.MemberIdsAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);
        var dto = GroupDto.From(group);
        Publish(NotifyKinds.GroupUpdated, new GroupUpdatedData(dto), ParleyJson.Default.GroupUpdatedData, members);
        return dto;
    }

    public async Task DissolveAsync(long callerId, string groupId, CancellationToken cancellationToken)
    {
        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        var role = await RoleAsync(write, callerId, cancellationToken);
        Require(callerId, write.Group, role, GroupPolicy.CanDissolve(role), "Only the owner can dissolve the group.");
        await DissolveAsync(write, cancellationToken);
    }

    public async Task<JoinResult> JoinAsync(long callerId, string groupId, JoinBody body, CancellationToken cancellationToken)
    {
        var message = body.Message?.Trim();
        if (message is { Length: > 200 })
        {
            throw ApiException.Invalid("message", "must be at most 200 characters");
        }

        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        if (await write.GetMemberAsync(callerId, cancellationToken) is not null)
        {
            return new JoinResult("joined");
        }

        // A private group is joined only by invitation or with an invite code, whatever its join policy:
        // to anyone else it does not exist.
        if (write.Group.Visibility == "private")
        {
            throw GroupNotFound(callerId);
        }

        var now = Now;
        switch (write.Group.JoinPolicy)
        {
            case "open":
            {
                if (!await write.AddMemberAsync(callerId, "member", now, cancellationToken))
                {
                    throw GroupFull();
                }

                var managers = await write.ManagerIdsAsync(cancellationToken);
                await write.CommitAsync(cancellationToken);
                Publish(NotifyKinds.GroupJoined, new GroupMemberData(Ids.Format(write.Group.Id), Ids.Format(callerId)), ParleyJson.Default.GroupMemberData, [callerId, .. managers]);
                return new JoinResult("joined");
            }

            case "approval":
            {
                if (await write.GetPendingRequestAsync(callerId, cancellationToken) is not null)
                {
                    return new JoinResult("pending");
                }

                // Only a new request counts; the write is rolled back if this throws.
                if (await quotas.JoinRequests.TryTakeAsync(callerId) is { } wait)
                {
                    throw UserQuotas.Limited($"At most {_options.JoinRequestsPerHour} join requests per hour; try again later.", wait);
                }

                var request = await write.CreateRequestAsync(callerId, string.IsNullOrEmpty(message) ? null : message, now, cancellationToken);
                var managers = await write.ManagerIdsAsync(cancellationToken);
                await write.CommitAsync(cancellationToken);
                var user = await users.GetAsync(callerId, cancellationToken) ?? throw ApiException.NotFound("User");
                Publish(NotifyKinds.GroupRequest, ToDto(request, user), ParleyJson.Default.JoinRequestDto, managers);
                return new JoinResult("pending");
            }

            default:
                throw ApiException.Forbidden("This group is invite-only.");
        }
    }

    /// <summary>Makes an invite code (owner and admins): it joins whoever holds it, private groups too, whatever the
    /// join policy, until it expires, is used up or is revoked.</summary>
    public async Task<InviteCodeDto> CreateInviteCodeAsync(long callerId, string groupId, CreateInviteCodeBody body, CancellationToken cancellationToken)
    {
        var v = new Validation();
        var ttl = body.ExpiresInSeconds ?? _options.InviteCodeDefaultTtlSeconds;
        if (ttl is < GroupRules.MinIdleTtlSeconds or > GroupRules.MaxIdleTtlSeconds)
        {
            v.Add("expiresInSeconds", $"must be from {GroupRules.MinIdleTtlSeconds} to {GroupRules.MaxIdleTtlSeconds}");
        }

        if (body.MaxUses is < 1 or > GroupStore.MaxMembers)
        {
            v.Add("maxUses", $"must be from 1 to {GroupStore.MaxMembers}, or absent for any number");
        }

        v.ThrowIfInvalid();
        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        var role = await RoleAsync(write, callerId, cancellationToken);
        Require(callerId, write.Group, role, GroupPolicy.CanManageInviteCodes(role), "Only the owner and admins make invite codes.");
        var now = Now;
        if (await write.PurgeAndCountInviteCodesAsync(now, cancellationToken) >= _options.MaxInviteCodesPerGroup)
        {
            throw new ApiException(409, ErrorCodes.Conflict, $"The group has {_options.MaxInviteCodesPerGroup} live invite codes; revoke one first.");
        }

        var code = InviteCodes.New();
        var expiresAt = now + (ttl * 1000);
        await write.CreateInviteCodeAsync(InviteCodes.Hash(code), callerId, now, expiresAt, body.MaxUses, cancellationToken);
        await write.CommitAsync(cancellationToken);
        return new InviteCodeDto(code, expiresAt, body.MaxUses, 0);
    }

    public async Task RevokeInviteCodeAsync(long callerId, string groupId, string code, CancellationToken cancellationToken)
    {
        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        var role = await RoleAsync(write, callerId, cancellationToken);
        Require(callerId, write.Group, role, GroupPolicy.CanManageInviteCodes(role), "Only the owner and admins revoke invite codes.");
        if (!InviteCodes.IsWellFormed(code) || !await write.DeleteInviteCodeAsync(InviteCodes.Hash(code), cancellationToken))
        {
            throw ApiException.NotFound("Invite code");
        }

        await write.CommitAsync(cancellationToken);
    }

    /// <summary>Joins the group of a live invite code. Unknown, expired, used-up and revoked codes are all the same 404,
    /// counted by the lookup throttle; once that is exhausted every attempt is a 429, a valid code's too, so the
    /// answer tells nothing.</summary>
    public async Task<JoinResult> JoinByCodeAsync(long callerId, JoinByCodeBody body, CancellationToken cancellationToken)
    {
        if (body.Code is null)
        {
            throw ApiException.Invalid("code", "must be an invite code");
        }

        if (lookups.Exhausted(callerId) is { } limited)
        {
            throw limited.ToException();
        }

        if (!InviteCodes.IsWellFormed(body.Code))
        {
            throw CodeNotFound(callerId);
        }

        var hash = InviteCodes.Hash(body.Code);
        var groupId = await store.FindInviteCodeGroupAsync(hash, Now, cancellationToken) ?? throw CodeNotFound(callerId);
        await using var write = await store.OpenWriteAsync(groupId, cancellationToken) ?? throw CodeNotFound(callerId);
        if (await write.GetMemberAsync(callerId, cancellationToken) is not null)
        {
            return new JoinResult("joined"); // a member uses no use
        }

        // Under the group's lock, and itself conditional: of two joins racing for a code's last use, one wins.
        var now = Now;
        if (!await write.UseInviteCodeAsync(hash, now, cancellationToken))
        {
            throw CodeNotFound(callerId);
        }

        if (!await write.AddMemberAsync(callerId, "member", now, cancellationToken))
        {
            throw GroupFull(); // rolled back with the use
        }

        if (await write.GetPendingRequestAsync(callerId, cancellationToken) is { } pending)
        {
            await write.DecideRequestAsync(pending, "approved", null, now, cancellationToken);
        }

        var managers = await write.ManagerIdsAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);
        Publish(NotifyKinds.GroupJoined, new GroupMemberData(Ids.Format(write.Group.Id), Ids.Format(callerId)), ParleyJson.Default.GroupMemberData, [callerId, .. managers]);
        return new JoinResult("joined");
    }

    public async Task LeaveAsync(long callerId, string groupId, CancellationToken cancellationToken)
    {
        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        var role = await RoleAsync(write, callerId, cancellationToken);
        Require(callerId, write.Group, role, role is not null, "You are not a member of this group.");
        if (!GroupPolicy.CanLeave(role, write.Group.MemberCount))
        {
            throw new ApiException(409, ErrorCodes.Conflict, "The owner must transfer ownership before leaving.");
        }

        if (role == GroupRole.Owner)
        {
            await DissolveAsync(write, cancellationToken); // the last member leaving ends the group
            return;
        }

        await write.RemoveMemberAsync(callerId, Now, cancellationToken);
        var managers = await write.ManagerIdsAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);
        Publish(NotifyKinds.GroupLeft, new GroupMemberData(Ids.Format(write.Group.Id), Ids.Format(callerId)), ParleyJson.Default.GroupMemberData, [callerId, .. managers]);
    }

    public async Task<ListResponse<MemberEntry>> AddMembersAsync(long callerId, string groupId, UserIdsBody body, CancellationToken cancellationToken)
    {
        var v = new Validation();
        var requested = GroupRules.CheckUserIds(v, "userIds", body.UserIds, _options.MaxMembersPerCall, allowEmpty: false);
        v.ThrowIfInvalid();

        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        var role = await RoleAsync(write, callerId, cancellationToken);
        Require(callerId, write.Group, role, GroupPolicy.CanAddMembers(role, write.Group.MembersCanInvite), "You may not add members to this group.");
        var existing = await write.ExistingMembersAsync(requested, cancellationToken);
        var candidates = await AddableUsersAsync(callerId, requested.Where(id => !existing.Contains(id)).ToList(), "userIds", cancellationToken);

        var now = Now;
        var added = new List<long>();
        foreach (var userId in candidates)
        {
            if (!await write.AddMemberAsync(userId, "member", now, cancellationToken))
            {
                if (write.Group.MemberCount >= GroupStore.MaxMembers)
                {
                    throw GroupFull();
                }

                continue;
            }

            added.Add(userId);
            if (await write.GetPendingRequestAsync(userId, cancellationToken) is { } pending)
            {
                await write.DecideRequestAsync(pending, "approved", callerId, now, cancellationToken);
            }
        }

        await write.CommitAsync(cancellationToken);
        var dto = GroupDto.From(write.Group);
        Publish(NotifyKinds.GroupInvited, new GroupInvitedData(dto, Ids.Format(callerId)), ParleyJson.Default.GroupInvitedData, added);
        var profiles = await users.GetManyAsync(added, cancellationToken);
        var items = added.Where(profiles.ContainsKey)
            .Select(id => new MemberEntry(PublicUser.From(profiles[id]), "member", now, null)).ToList();
        return new ListResponse<MemberEntry>(items, null);
    }

    public async Task RemoveMemberAsync(long callerId, string groupId, string userId, CancellationToken cancellationToken)
    {
        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        var role = await RoleAsync(write, callerId, cancellationToken);
        Require(callerId, write.Group, role, role is not null, "You are not a member of this group.");
        var target = await TargetAsync(write, userId, cancellationToken);
        var targetRole = GroupPolicy.FromWire(target.Role) ?? GroupRole.Member;
        if (!GroupPolicy.CanRemove(role, targetRole, target.UserId == callerId))
        {
            throw ApiException.Forbidden(target.UserId == callerId
                ? "Use leave to leave a group."
                : "An admin removes members; only the owner removes admins.");
        }

        await write.RemoveMemberAsync(target.UserId, Now, cancellationToken);
        var managers = await write.ManagerIdsAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);
        Publish(
            NotifyKinds.GroupRemoved,
            new GroupRemovedData(Ids.Format(write.Group.Id), Ids.Format(target.UserId), Ids.Format(callerId)),
            ParleyJson.Default.GroupRemovedData,
            [target.UserId, .. managers]);
    }

    public async Task<MemberEntry> UpdateMemberAsync(long callerId, string groupId, string userId, MemberPatch patch, CancellationToken cancellationToken)
    {
        var v = new Validation();
        GroupRole? newRole = null;
        if (patch.Role.ValueKind != JsonValueKind.Undefined)
        {
            newRole = patch.Role.ValueKind == JsonValueKind.String ? GroupPolicy.FromWire(patch.Role.GetString()) : null;
            if (newRole is null or GroupRole.Owner)
            {
                v.Add("role", "must be admin or member (ownership moves through POST /owner)");
            }
        }

        var setMute = patch.MutedUntil.ValueKind != JsonValueKind.Undefined;
        long? mutedUntil = null;
        if (patch.MutedUntil.ValueKind == JsonValueKind.Number && patch.MutedUntil.TryGetInt64(out var until) && until >= 0)
        {
            mutedUntil = until;
        }
        else if (setMute && patch.MutedUntil.ValueKind != JsonValueKind.Null)
        {
            v.Add("mutedUntil", "must be a time in epoch milliseconds or null");
        }

        if (newRole is null && !setMute && v.IsValid)
        {
            v.Add("body", "give role or mutedUntil");
        }

        v.ThrowIfInvalid();
        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        var role = await RoleAsync(write, callerId, cancellationToken);
        Require(callerId, write.Group, role, role is not null, "You are not a member of this group.");
        var target = await TargetAsync(write, userId, cancellationToken);
        var targetRole = GroupPolicy.FromWire(target.Role) ?? GroupRole.Member;
        var self = target.UserId == callerId;
        if (newRole is { } r && !GroupPolicy.CanSetRole(role, targetRole, r, self))
        {
            throw ApiException.Forbidden("Only the owner sets roles, and not their own.");
        }

        if (setMute && !GroupPolicy.CanMute(role, targetRole, self))
        {
            throw ApiException.Forbidden("The owner mutes anyone else; admins mute members.");
        }

        if (newRole is { } assigned)
        {
            target.Role = GroupPolicy.ToWire(assigned);
            await write.SetRoleAsync(target.UserId, target.Role, cancellationToken);
        }

        if (setMute)
        {
            target.MutedUntil = mutedUntil;
            await write.SetMutedUntilAsync(target.UserId, mutedUntil, cancellationToken);
        }

        var managers = await write.ManagerIdsAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);
        Publish(
            NotifyKinds.GroupRole,
            new GroupRoleData(Ids.Format(write.Group.Id), Ids.Format(target.UserId), target.Role, target.MutedUntil),
            ParleyJson.Default.GroupRoleData,
            [target.UserId, .. managers]);
        var user = await users.GetAsync(target.UserId, cancellationToken) ?? throw ApiException.NotFound("Member");
        return new MemberEntry(PublicUser.From(user), target.Role, target.JoinedAt, target.MutedUntil);
    }

    public async Task<GroupDto> TransferOwnershipAsync(long callerId, string groupId, OwnerBody body, CancellationToken cancellationToken)
    {
        if (!Ids.TryParse(body.UserId, out var newOwnerId))
        {
            throw ApiException.Invalid("userId", "must be a user id");
        }

        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        var role = await RoleAsync(write, callerId, cancellationToken);
        Require(callerId, write.Group, role, GroupPolicy.CanTransferOwnership(role), "Only the owner can hand over the group.");
        if (newOwnerId == callerId)
        {
            throw ApiException.Invalid("userId", "you already own this group");
        }

        var target = await write.GetMemberAsync(newOwnerId, cancellationToken) ?? throw ApiException.NotFound("Member");
        await write.SetRoleAsync(target.UserId, "owner", cancellationToken);
        await write.SetRoleAsync(callerId, "admin", cancellationToken);
        write.Group.OwnerId = target.UserId;
        write.Group.UpdatedAt = Now;
        await write.SaveAsync(cancellationToken);
        var members = await write.MemberIdsAsync(cancellationToken);
        var managers = await write.ManagerIdsAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);

        var dto = GroupDto.From(write.Group);
        var groupWireId = Ids.Format(write.Group.Id);
        Publish(NotifyKinds.GroupRole, new GroupRoleData(groupWireId, Ids.Format(target.UserId), "owner", target.MutedUntil), ParleyJson.Default.GroupRoleData, managers);
        Publish(NotifyKinds.GroupRole, new GroupRoleData(groupWireId, Ids.Format(callerId), "admin", null), ParleyJson.Default.GroupRoleData, managers);
        Publish(NotifyKinds.GroupUpdated, new GroupUpdatedData(dto), ParleyJson.Default.GroupUpdatedData, members);
        return dto;
    }

    public async Task<ListResponse<MemberEntry>> ListMembersAsync(long callerId, string groupId, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var (afterJoinedAt, afterUserId) = cursor is null ? (-1L, 0L) : Paging.Pair(cursor);

        var (group, _) = await ReadAsMemberAsync(callerId, groupId, cancellationToken);
        var rows = await store.ListMembersAsync(group.Id, afterJoinedAt, afterUserId, limit + 1, cancellationToken);
        var profiles = await users.GetManyAsync(rows.Select(m => m.UserId), cancellationToken);
        return Paging.Page(
            rows,
            limit,
            m => profiles.TryGetValue(m.UserId, out var u) ? new MemberEntry(PublicUser.From(u), m.Role, m.JoinedAt, m.MutedUntil) : null,
            m => Paging.Pair(m.JoinedAt, m.UserId));
    }

    public async Task<ListResponse<JoinRequestDto>> ListRequestsAsync(long callerId, string groupId, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var after = Paging.Id(cursor);
        var (group, role) = await ReadAsMemberAsync(callerId, groupId, cancellationToken);
        Require(callerId, group, role, GroupPolicy.CanManageRequests(role), "Only the owner and admins see join requests.");
        var rows = await store.ListPendingRequestsAsync(group.Id, after, limit + 1, cancellationToken);
        var profiles = await users.GetManyAsync(rows.Select(r => r.UserId), cancellationToken);
        return Paging.Page(rows, limit, r => profiles.TryGetValue(r.UserId, out var u) ? ToDto(r, u) : null, r => Ids.Format(r.Id));
    }

    public async Task<JoinRequestDto> DecideRequestAsync(long callerId, string groupId, string requestId, bool approve, CancellationToken cancellationToken)
    {
        await using var write = await OpenAsync(callerId, groupId, cancellationToken);
        var role = await RoleAsync(write, callerId, cancellationToken);
        Require(callerId, write.Group, role, GroupPolicy.CanManageRequests(role), "Only the owner and admins decide join requests.");
        var request = (Ids.TryParse(requestId, out var rid) ? await write.GetRequestAsync(rid, cancellationToken) : null)
            ?? throw ApiException.NotFound("Join request");
        if (request.Status != "pending")
        {
            throw new ApiException(409, ErrorCodes.Conflict, $"The request is already {request.Status}.");
        }

        var now = Now;
        var joined = false;
        if (approve)
        {
            joined = await write.AddMemberAsync(request.UserId, "member", now, cancellationToken);
            if (!joined && write.Group.MemberCount >= GroupStore.MaxMembers)
            {
                throw GroupFull();
            }
        }

        await write.DecideRequestAsync(request, approve ? "approved" : "declined", callerId, now, cancellationToken);
        var managers = await write.ManagerIdsAsync(cancellationToken);
        await write.CommitAsync(cancellationToken);
        if (joined)
        {
            Publish(NotifyKinds.GroupJoined, new GroupMemberData(Ids.Format(write.Group.Id), Ids.Format(request.UserId)), ParleyJson.Default.GroupMemberData, [request.UserId, .. managers]);
        }

        var user = await users.GetAsync(request.UserId, cancellationToken) ?? throw ApiException.NotFound("User");
        return ToDto(request, user);
    }

    public async Task<ListResponse<GroupDto>> SearchAsync(string? q, string? tagText, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var v = new Validation();
        var text = q?.Trim();
        if (text is { Length: > AccountRules.MaxSearchText })
        {
            v.Add("q", $"must be at most {AccountRules.MaxSearchText} characters");
        }

        var tags = AccountRules.ParseTagQuery(v, tagText);
        v.ThrowIfInvalid();
        var rows = await store.SearchPublicAsync(text, tags, Paging.Id(cursor), limit + 1, cancellationToken);
        return Page(rows, limit);
    }

    public async Task<ListResponse<GroupDto>> MineAsync(long callerId, int limit, string? cursor, CancellationToken cancellationToken)
    {
        return Page(await store.ListForMemberAsync(callerId, Paging.Id(cursor), limit + 1, cancellationToken), limit);
    }

    /// <summary>Deletes a temporary group whose idle time ran out; false if it was active again meanwhile.</summary>
    public async Task<bool> ExpireAsync(long groupId, CancellationToken cancellationToken)
    {
        await using var write = await store.OpenWriteAsync(groupId, cancellationToken);
        if (write is null || write.Group.ExpiresAt is not { } expires || expires > Now)
        {
            return false;
        }

        await DissolveAsync(write, cancellationToken);
        return true;
    }

    private async Task DissolveAsync(GroupWrite write, CancellationToken cancellationToken)
    {
        var members = await write.MemberIdsAsync(cancellationToken);
        await write.DeleteAsync(Now, cancellationToken);
        await write.CommitAsync(cancellationToken);
        Publish(NotifyKinds.GroupDissolved, new GroupDissolvedData(Ids.Format(write.Group.Id)), ParleyJson.Default.GroupDissolvedData, members);
    }

    private static ListResponse<GroupDto> Page(IReadOnlyList<GroupRow> rows, int limit) =>
        Paging.Page(rows, limit, GroupDto.From, g => Ids.Format(g.Id));

    /// <summary>The users of <paramref name="candidates"/> that may be added by <paramref name="actorId"/>:
    /// unknown ids are a 400; users who have blocked the actor are left out.</summary>
    private async Task<IReadOnlyList<long>> AddableUsersAsync(long actorId, IReadOnlyList<long> candidates, string field, CancellationToken cancellationToken)
    {
        if (candidates.Count == 0)
        {
            return [];
        }

        var found = await users.GetManyAsync(candidates, cancellationToken);
        if (found.Count != candidates.Count)
        {
            throw ApiException.Invalid(field, "contains ids of users that do not exist");
        }

        var blockers = await social.WhoBlockedAsync(actorId, candidates, cancellationToken);
        return candidates.Where(id => !blockers.Contains(id)).ToList();
    }

    private async Task<(GroupRow Group, GroupRole? Role)> ReadAsMemberAsync(long callerId, string groupId, CancellationToken cancellationToken)
    {
        var group = (Ids.TryParse(groupId, out var id) ? await store.GetAsync(id, cancellationToken) : null) ?? throw GroupNotFound(callerId);
        var member = await store.GetMemberAsync(group.Id, callerId, cancellationToken);
        var role = member is null ? (GroupRole?)null : GroupPolicy.FromWire(member.Role);
        Require(callerId, group, role, GroupPolicy.CanRead(role), "Only members can see this group.");
        return (group, role);
    }

    private async Task<GroupWrite> OpenAsync(long callerId, string groupId, CancellationToken cancellationToken) =>
        (Ids.TryParse(groupId, out var id) ? await store.OpenWriteAsync(id, cancellationToken) : null) ?? throw GroupNotFound(callerId);

    /// <summary>The 404 of a group that does not exist or is private to the caller, counted by the lookup throttle
    /// (a 429 once the caller has missed too often).</summary>
    private ApiException GroupNotFound(long callerId) => lookups.Miss(callerId, GroupNotFoundRefusal).ToException();

    private static readonly Refusal GroupNotFoundRefusal = Refusal.NotFound("Group");

    private ApiException CodeNotFound(long callerId) => lookups.Miss(callerId, CodeNotFoundRefusal).ToException();

    private static readonly Refusal CodeNotFoundRefusal = Refusal.NotFound("Invite code");

    private static async Task<GroupRole?> RoleAsync(GroupWrite write, long userId, CancellationToken cancellationToken) =>
        await write.GetMemberAsync(userId, cancellationToken) is { } member ? GroupPolicy.FromWire(member.Role) : null;

    private static async Task<GroupMemberRow> TargetAsync(GroupWrite write, string userId, CancellationToken cancellationToken) =>
        (Ids.TryParse(userId, out var id) ? await write.GetMemberAsync(id, cancellationToken) : null) ?? throw ApiException.NotFound("Member");

    /// <summary>Refuses when <paramref name="allowed"/> is false: 404 to outsiders of a private group (its existence
    /// is not revealed), else 403.</summary>
    private void Require(long callerId, GroupRow group, GroupRole? role, bool allowed, string reason)
    {
        if (allowed)
        {
            return;
        }

        throw role is null && group.Visibility == "private" ? GroupNotFound(callerId) : ApiException.Forbidden(reason);
    }

    private static ApiException GroupFull() => new(409, ErrorCodes.Conflict, $"The group is full ({GroupStore.MaxMembers} members).");

    private static JoinRequestDto ToDto(JoinRequestRow row, UserRow user) =>
        new(Ids.Format(row.Id), Ids.Format(row.GroupId), PublicUser.From(user), row.Message, row.Status, row.CreatedAt);

    private void Publish<T>(string kind, T data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo, IEnumerable<long> userIds) =>
        notifier.Publish(kind, JsonSerializer.SerializeToElement(data, typeInfo), userIds);

    private async Task CheckAvatarAsync(long callerId, long? fileId, CancellationToken cancellationToken)
    {
        if (fileId is { } id && !await files.IsUsableImageAsync(callerId, id, cancellationToken))
        {
            throw ApiException.Invalid("avatarFileId", "must be an image you uploaded yourself");
        }
    }
}
