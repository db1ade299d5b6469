using System.Data.Common;
using Dapper;
using Parley.Storage.Messaging;
using Parley.Storage.Webhooks;

namespace Parley.Storage.Groups;

/// <summary>
/// Groups, their members, membership history and join requests. Reads are plain queries; every change goes
/// through a <see cref="GroupWrite"/>, a transaction that holds the group's row lock, so permission checks
/// and the changes they allow see one consistent state and member counts never lose an update.
/// </summary>
public sealed class GroupStore(Database database, IdGenerator ids, MembershipVersions memberships)
{
    internal const string GroupColumns =
        "id, conversation_id, name, description, announcement, owner_id, join_policy, visibility, members_can_invite, member_count, temporary, idle_ttl_seconds, last_activity_at, expires_at, created_at, updated_at, avatar_file_id";

    internal const string MemberColumns = "group_id, user_id, role, joined_at, muted_until";

    internal const string RequestColumns = "id, group_id, user_id, message, status, created_at, decided_by, decided_at";

    public const int MaxMembers = 100_000;

    /// <summary>Inserts the group with its owner; further members are added through <see cref="OpenWriteAsync"/>.</summary>
    public async Task<GroupWrite> CreateAsync(GroupRow group, long ownerId, CancellationToken cancellationToken)
    {
        var write = (await BeginAsync(
            async (connection, transaction) =>
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    $"INSERT INTO groups ({GroupColumns}, search_text) VALUES (@Id, @ConversationId, @Name, @Description, @Announcement, @OwnerId, @JoinPolicy, @Visibility, @Invite, 0, @Temp, @IdleTtlSeconds, @LastActivityAt, @ExpiresAt, @CreatedAt, @UpdatedAt, @AvatarFileId, @SearchText)",
                    Parameters(group),
                    transaction,
                    cancellationToken: cancellationToken));
                await connection.ExecuteAsync(new CommandDefinition(
                    "INSERT INTO conversations (id, type, group_id, max_seq, last_activity_at, created_at) VALUES (@ConversationId, 'group', @Id, 0, @CreatedAt, @CreatedAt)",
                    new { group.ConversationId, group.Id, group.CreatedAt },
                    transaction,
                    cancellationToken: cancellationToken));
                await database.Outbox.AddAsync(connection, transaction, WebhookOutbox.GroupCreated, group.ConversationId, group.CreatedAt, w =>
                {
                    w.WriteStartObject("group");
                    WebhookOutbox.WriteId(w, "id", group.Id);
                    WebhookOutbox.WriteId(w, "conversationId", group.ConversationId);
                    w.WriteString("name", group.Name);
                    WebhookOutbox.WriteId(w, "ownerId", ownerId);
                    w.WriteString("joinPolicy", group.JoinPolicy);
                    w.WriteString("visibility", group.Visibility);
                    w.WriteBoolean("temporary", group.Temporary);
                    w.WriteEndObject();
                }, cancellationToken);
                return group;
            },
            cancellationToken))!;
        try
        {
            await write.ReplaceTagsAsync(group.Tags, cancellationToken);
            await write.AddMemberAsync(ownerId, "owner", group.CreatedAt, cancellationToken);
            return write;
        }
        catch
        {
            await write.DisposeAsync();
            throw;
        }
    }

    /// <summary>Begins a change to a group, holding its lock; null when the group does not exist.</summary>
    public Task<GroupWrite?> OpenWriteAsync(long groupId, CancellationToken cancellationToken) =>
        BeginAsync(
            async (connection, transaction) =>
            {
                var group = await connection.QuerySingleOrDefaultAsync<GroupRow>(new CommandDefinition(
                    $"SELECT {GroupColumns} FROM groups WHERE id = @groupId{database.ForUpdate}",
                    new { groupId },
                    transaction,
                    cancellationToken: cancellationToken));
                if (group is not null)
                {
                    await LoadTagsAsync(connection, transaction, [group], cancellationToken);
                }

                return group;
            },
            cancellationToken);

    public async Task<GroupRow?> GetAsync(long groupId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var group = await connection.QuerySingleOrDefaultAsync<GroupRow>(new CommandDefinition(
            $"SELECT {GroupColumns} FROM groups WHERE id = @groupId", new { groupId }, cancellationToken: cancellationToken));
        if (group is not null)
        {
            await LoadTagsAsync(connection, null, [group], cancellationToken);
        }

        return group;
    }

    public async Task<GroupMemberRow?> GetMemberAsync(long groupId, long userId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<GroupMemberRow>(new CommandDefinition(
            $"SELECT {MemberColumns} FROM group_members WHERE group_id = @groupId AND user_id = @userId",
            new { groupId, userId },
            cancellationToken: cancellationToken));
    }

    /// <summary>Members in join order, after the (joinedAt, userId) position given.</summary>
    public async Task<IReadOnlyList<GroupMemberRow>> ListMembersAsync(long groupId, long afterJoinedAt, long afterUserId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<GroupMemberRow>(new CommandDefinition(
            $"""
            SELECT {MemberColumns} FROM group_members
            WHERE group_id = @groupId AND (joined_at > @afterJoinedAt OR (joined_at = @afterJoinedAt AND user_id > @afterUserId))
            ORDER BY joined_at, user_id LIMIT @limit
            """,
            new { groupId, afterJoinedAt, afterUserId, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>The groups the user belongs to, in group-id order after <paramref name="afterGroupId"/>.</summary>
    public async Task<IReadOnlyList<GroupRow>> ListForMemberAsync(long userId, long afterGroupId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var groups = (await connection.QueryAsync<GroupRow>(new CommandDefinition(
            $"""
            SELECT {Sql.Prefixed(GroupColumns, "g")} FROM groups g JOIN group_members m ON m.group_id = g.id
            WHERE m.user_id = @userId AND g.id > @afterGroupId ORDER BY g.id LIMIT @limit
            """,
            new { userId, afterGroupId, limit },
            cancellationToken: cancellationToken))).AsList();
        await LoadTagsAsync(connection, null, groups, cancellationToken);
        return groups;
    }

    /// <summary>Public groups whose name or description contains <paramref name="text"/> and that carry every tag.</summary>
    public async Task<IReadOnlyList<GroupRow>> SearchPublicAsync(string? text, IReadOnlyList<string> tags, long afterGroupId, int limit, CancellationToken cancellationToken)
    {
        var parameters = new DynamicParameters();
        parameters.Add("afterGroupId", afterGroupId);
        parameters.Add("limit", limit);
        var sql = new System.Text.StringBuilder($"SELECT {Sql.Prefixed(GroupColumns, "g")} FROM groups g WHERE g.visibility = 'public' AND g.id > @afterGroupId");
        Sql.AppendSearchFilters(sql, parameters, text, ["g.search_text"], tags, "group_tags", "group_id", "g.id");
        sql.Append(" ORDER BY g.id LIMIT @limit");
        await using var connection = await database.OpenAsync(cancellationToken);
        var groups = (await connection.QueryAsync<GroupRow>(new CommandDefinition(sql.ToString(), parameters, cancellationToken: cancellationToken))).AsList();
        await LoadTagsAsync(connection, null, groups, cancellationToken);
        return groups;
    }

    public async Task<IReadOnlyList<JoinRequestRow>> ListPendingRequestsAsync(long groupId, long afterId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<JoinRequestRow>(new CommandDefinition(
            $"SELECT {RequestColumns} FROM group_join_requests WHERE group_id = @groupId AND status = 'pending' AND id > @afterId ORDER BY id LIMIT @limit",
            new { groupId, afterId, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>Ids of temporary groups whose idle time ran out by <paramref name="now"/>.</summary>
    public async Task<IReadOnlyList<long>> ListExpiredAsync(long now, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<long>(new CommandDefinition(
            "SELECT id FROM groups WHERE expires_at IS NOT NULL AND expires_at <= @now ORDER BY expires_at LIMIT @limit",
            new { now, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>The group of a live invite code (not expired at <paramref name="now"/>, not used up), by the code's hash.</summary>
    public async Task<long?> FindInviteCodeGroupAsync(string codeHash, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(
            "SELECT group_id FROM group_invite_codes WHERE code_hash = @codeHash AND expires_at > @now AND (max_uses IS NULL OR uses < max_uses)",
            new { codeHash, now },
            cancellationToken: cancellationToken));
    }

    /// <summary>Opens a write transaction and lets <paramref name="start"/> lock or create the group; the connection
    /// and transaction then belong to the returned write (or are released when there is no group).</summary>
    private async Task<GroupWrite?> BeginAsync(Func<DbConnection, DbTransaction, Task<GroupRow?>> start, CancellationToken cancellationToken)
    {
        var connection = await database.OpenAsync(cancellationToken);
        DbTransaction? transaction = null;
        try
        {
            transaction = await Database.BeginWriteAsync(connection, cancellationToken);
            if (await start(connection, transaction) is { } group)
            {
                if (database.Provider == StorageProvider.Postgres)
                {
                    // Moved first, so the write holds the conversation's row lock before it touches member rows (the
                    // order the message writer takes them in): a message checked against an older view is refused
                    // at its commit on any node (PostgresMessageAppender).
                    await connection.ExecuteAsync(new CommandDefinition(
                        "UPDATE conversations SET members_version = members_version + 1 WHERE id = @ConversationId",
                        new { group.ConversationId },
                        transaction,
                        cancellationToken: cancellationToken));
                }

                return new GroupWrite(connection, transaction, group, ids, database.ForUpdate, memberships, database.Outbox);
            }
        }
        catch
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync();
            }

            await connection.DisposeAsync();
            throw;
        }

        await transaction.DisposeAsync();
        await connection.DisposeAsync();
        return null;
    }

    internal static object Parameters(GroupRow group) => new
    {
        group.Id,
        group.ConversationId,
        group.Name,
        group.Description,
        group.Announcement,
        group.OwnerId,
        group.JoinPolicy,
        group.Visibility,
        Invite = group.MembersCanInvite ? 1 : 0,
        Temp = group.Temporary ? 1 : 0,
        group.IdleTtlSeconds,
        group.AvatarFileId,
        group.LastActivityAt,
        group.ExpiresAt,
        group.CreatedAt,
        group.UpdatedAt,
        SearchText = SearchText(group),
    };

    internal static string SearchText(GroupRow group) => (group.Name + "\n" + group.Description).ToLowerInvariant();

    internal static async Task LoadTagsAsync(DbConnection connection, DbTransaction? transaction, List<GroupRow> groups, CancellationToken cancellationToken)
    {
        if (groups.Count == 0)
        {
            return;
        }

        var (list, parameters) = Sql.InList("g", groups.Select(g => g.Id).ToArray());
        var rows = await connection.QueryAsync<(long GroupId, string Tag)>(new CommandDefinition(
            $"SELECT group_id, tag FROM group_tags WHERE group_id IN ({list}) ORDER BY group_id, tag",
            parameters,
            transaction,
            cancellationToken: cancellationToken));
        var byGroup = rows.ToLookup(r => r.GroupId, r => r.Tag);
        foreach (var group in groups)
        {
            group.Tags = byGroup[group.Id].ToArray();
        }
    }

}

/// <summary>One transaction on one group, holding the group's row lock until commit or dispose.</summary>
public sealed class GroupWrite : IAsyncDisposable
{
    private readonly DbConnection _connection;
    private readonly DbTransaction _transaction;
    private readonly IdGenerator _ids;
    private readonly string _forUpdate;
    private readonly MembershipVersions _memberships;
    private readonly WebhookOutbox _outbox;

    internal GroupWrite(DbConnection connection, DbTransaction transaction, GroupRow group, IdGenerator ids, string forUpdate, MembershipVersions memberships, WebhookOutbox outbox)
    {
        _outbox = outbox;
        _connection = connection;
        _transaction = transaction;
        _ids = ids;
        _forUpdate = forUpdate;
        _memberships = memberships;
        Group = group;
    }

    /// <summary>The group as locked (member count kept current by this write's own changes).</summary>
    public GroupRow Group { get; }

    public Task<GroupMemberRow?> GetMemberAsync(long userId, CancellationToken cancellationToken) =>
        _connection.QuerySingleOrDefaultAsync<GroupMemberRow>(Command(
            $"SELECT {GroupStore.MemberColumns} FROM group_members WHERE group_id = @GroupId AND user_id = @userId",
            new { GroupId = Group.Id, userId },
            cancellationToken));

    /// <summary>Which of <paramref name="userIds"/> are already members.</summary>
    public async Task<IReadOnlySet<long>> ExistingMembersAsync(IReadOnlyList<long> userIds, CancellationToken cancellationToken)
    {
        if (userIds.Count == 0)
        {
            return new HashSet<long>();
        }

        var (list, parameters) = Sql.InList("u", userIds);
        parameters.Add("GroupId", Group.Id);
        return (await _connection.QueryAsync<long>(Command(
            $"SELECT user_id FROM group_members WHERE group_id = @GroupId AND user_id IN ({list})", parameters, cancellationToken))).ToHashSet();
    }

    /// <summary>Adds a member and opens a membership period; false when already a member or the group is full.</summary>
    public async Task<bool> AddMemberAsync(long userId, string role, long now, CancellationToken cancellationToken)
    {
        if (Group.MemberCount >= GroupStore.MaxMembers)
        {
            return false;
        }

        var inserted = await _connection.ExecuteAsync(Command(
            "INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (@GroupId, @userId, @role, @now) ON CONFLICT DO NOTHING",
            new { GroupId = Group.Id, userId, role, now },
            cancellationToken));
        if (inserted == 0)
        {
            return false;
        }

        await _connection.ExecuteAsync(Command(
            "INSERT INTO group_membership_periods (id, group_id, user_id, joined_at) VALUES (@id, @GroupId, @userId, @now)",
            new { id = _ids.Next(), GroupId = Group.Id, userId, now },
            cancellationToken));
        // The new member sees messages from here on: everything up to the current seq stays hidden.
        var maxSeq = await _connection.ExecuteScalarAsync<long>(Command(
            $"SELECT max_seq FROM conversations WHERE id = @ConversationId{_forUpdate}", new { Group.ConversationId }, cancellationToken));
        await _connection.ExecuteAsync(Command(
            "INSERT INTO conversation_members (conversation_id, user_id, joined_seq, read_seq) VALUES (@ConversationId, @userId, @maxSeq, @maxSeq) ON CONFLICT DO NOTHING",
            new { Group.ConversationId, userId, maxSeq },
            cancellationToken));
        await ChangeCountAsync(+1, cancellationToken);
        await MemberEventAsync(WebhookOutbox.GroupJoined, userId, role, now, cancellationToken);
        return true;
    }

    /// <summary>Removes a member and closes their membership period; false when not a member.</summary>
    public async Task<bool> RemoveMemberAsync(long userId, long now, CancellationToken cancellationToken)
    {
        var deleted = await _connection.ExecuteAsync(Command(
            "DELETE FROM group_members WHERE group_id = @GroupId AND user_id = @userId",
            new { GroupId = Group.Id, userId },
            cancellationToken));
        if (deleted == 0)
        {
            return false;
        }

        await _connection.ExecuteAsync(Command(
            "UPDATE group_membership_periods SET left_at = @now WHERE group_id = @GroupId AND user_id = @userId AND left_at IS NULL",
            new { GroupId = Group.Id, userId, now },
            cancellationToken));
        // A former member is no member of the conversation: nothing more reaches them, and they cannot read it.
        await _connection.ExecuteAsync(Command(
            "DELETE FROM conversation_members WHERE conversation_id = @ConversationId AND user_id = @userId",
            new { Group.ConversationId, userId },
            cancellationToken));
        await ChangeCountAsync(-1, cancellationToken);
        await MemberEventAsync(WebhookOutbox.GroupLeft, userId, null, now, cancellationToken);
        return true;
    }

    public Task SetRoleAsync(long userId, string role, CancellationToken cancellationToken) =>
        _connection.ExecuteAsync(Command(
            "UPDATE group_members SET role = @role WHERE group_id = @GroupId AND user_id = @userId",
            new { GroupId = Group.Id, userId, role },
            cancellationToken));

    public Task SetMutedUntilAsync(long userId, long? mutedUntil, CancellationToken cancellationToken) =>
        _connection.ExecuteAsync(Command(
            "UPDATE group_members SET muted_until = @mutedUntil WHERE group_id = @GroupId AND user_id = @userId",
            new { GroupId = Group.Id, userId, mutedUntil },
            cancellationToken));

    /// <summary>Writes the group's own fields as they now stand in <see cref="Group"/>.</summary>
    public Task SaveAsync(CancellationToken cancellationToken) =>
        _connection.ExecuteAsync(Command(
            """
            UPDATE groups SET name = @Name, description = @Description, search_text = @SearchText, announcement = @Announcement,
                owner_id = @OwnerId, join_policy = @JoinPolicy, visibility = @Visibility, members_can_invite = @Invite,
                idle_ttl_seconds = @IdleTtlSeconds, last_activity_at = @LastActivityAt, expires_at = @ExpiresAt, updated_at = @UpdatedAt,
                avatar_file_id = @AvatarFileId
            WHERE id = @Id
            """,
            GroupStore.Parameters(Group),
            cancellationToken));

    public async Task ReplaceTagsAsync(IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        await _connection.ExecuteAsync(Command("DELETE FROM group_tags WHERE group_id = @Id", new { Group.Id }, cancellationToken));
        if (tags.Count > 0)
        {
            await _connection.ExecuteAsync(Command(
                "INSERT INTO group_tags (group_id, tag) VALUES (@GroupId, @tag)",
                tags.Select(tag => new { GroupId = Group.Id, tag }),
                cancellationToken));
        }

        Group.Tags = tags.Order(StringComparer.Ordinal).ToArray(); // as reads return them
    }

    /// <summary>Every member's user id.</summary>
    public async Task<IReadOnlyList<long>> MemberIdsAsync(CancellationToken cancellationToken) =>
        (await _connection.QueryAsync<long>(Command("SELECT user_id FROM group_members WHERE group_id = @Id", new { Group.Id }, cancellationToken))).AsList();

    /// <summary>The owner's and admins' user ids.</summary>
    public async Task<IReadOnlyList<long>> ManagerIdsAsync(CancellationToken cancellationToken) =>
        (await _connection.QueryAsync<long>(Command(
            "SELECT user_id FROM group_members WHERE group_id = @Id AND role IN ('owner', 'admin')", new { Group.Id }, cancellationToken))).AsList();

    public Task<JoinRequestRow?> GetPendingRequestAsync(long userId, CancellationToken cancellationToken) =>
        _connection.QuerySingleOrDefaultAsync<JoinRequestRow>(Command(
            $"SELECT {GroupStore.RequestColumns} FROM group_join_requests WHERE group_id = @GroupId AND user_id = @userId AND status = 'pending'",
            new { GroupId = Group.Id, userId },
            cancellationToken));

    public Task<JoinRequestRow?> GetRequestAsync(long requestId, CancellationToken cancellationToken) =>
        _connection.QuerySingleOrDefaultAsync<JoinRequestRow>(Command(
            $"SELECT {GroupStore.RequestColumns} FROM group_join_requests WHERE group_id = @GroupId AND id = @requestId",
            new { GroupId = Group.Id, requestId },
            cancellationToken));

    public async Task<JoinRequestRow> CreateRequestAsync(long userId, string? message, long now, CancellationToken cancellationToken)
    {
        var request = new JoinRequestRow { Id = _ids.Next(), GroupId = Group.Id, UserId = userId, Message = message, Status = "pending", CreatedAt = now };
        await _connection.ExecuteAsync(Command(
            $"INSERT INTO group_join_requests ({GroupStore.RequestColumns}) VALUES (@Id, @GroupId, @UserId, @Message, @Status, @CreatedAt, @DecidedBy, @DecidedAt)",
            request,
            cancellationToken));
        return request;
    }

    public Task DecideRequestAsync(JoinRequestRow request, string status, long? by, long now, CancellationToken cancellationToken)
    {
        request.Status = status;
        request.DecidedBy = by;
        request.DecidedAt = now;
        return _connection.ExecuteAsync(Command(
            "UPDATE group_join_requests SET status = @Status, decided_by = @DecidedBy, decided_at = @DecidedAt WHERE id = @Id",
            request,
            cancellationToken));
    }

    /// <summary>Drops the group's invite codes that expired or were used up by <paramref name="now"/>, then counts the rest.</summary>
    public async Task<int> PurgeAndCountInviteCodesAsync(long now, CancellationToken cancellationToken)
    {
        await _connection.ExecuteAsync(Command(
            "DELETE FROM group_invite_codes WHERE group_id = @Id AND (expires_at <= @now OR (max_uses IS NOT NULL AND uses >= max_uses))",
            new { Group.Id, now },
            cancellationToken));
        return await _connection.ExecuteScalarAsync<int>(Command(
            "SELECT COUNT(*) FROM group_invite_codes WHERE group_id = @Id", new { Group.Id }, cancellationToken));
    }

    public Task CreateInviteCodeAsync(string codeHash, long createdBy, long now, long expiresAt, int? maxUses, CancellationToken cancellationToken) =>
        _connection.ExecuteAsync(Command(
            "INSERT INTO group_invite_codes (code_hash, group_id, created_by, created_at, expires_at, max_uses, uses) VALUES (@codeHash, @Id, @createdBy, @now, @expiresAt, @maxUses, 0)",
            new { codeHash, Group.Id, createdBy, now, expiresAt, maxUses },
            cancellationToken));

    /// <summary>Revokes a code of this group; false when it has no such code.</summary>
    public async Task<bool> DeleteInviteCodeAsync(string codeHash, CancellationToken cancellationToken) =>
        await _connection.ExecuteAsync(Command(
            "DELETE FROM group_invite_codes WHERE code_hash = @codeHash AND group_id = @Id", new { codeHash, Group.Id }, cancellationToken)) == 1;

    /// <summary>Counts one use of a live code of this group; false when it is unknown, expired or used up. One
    /// conditional UPDATE, so two joins racing for the last use cannot both get it.</summary>
    public async Task<bool> UseInviteCodeAsync(string codeHash, long now, CancellationToken cancellationToken) =>
        await _connection.ExecuteAsync(Command(
            "UPDATE group_invite_codes SET uses = uses + 1 WHERE code_hash = @codeHash AND group_id = @Id AND expires_at > @now AND (max_uses IS NULL OR uses < max_uses)",
            new { codeHash, Group.Id, now },
            cancellationToken)) == 1;

    /// <summary>Deletes the group with everything that hangs on it (members, history, tags, requests).</summary>
    public async Task DeleteAsync(long now, CancellationToken cancellationToken)
    {
        // The conversation goes too, and its messages with it.
        await _connection.ExecuteAsync(Command("DELETE FROM conversations WHERE id = @ConversationId", new { Group.ConversationId }, cancellationToken));
        await _connection.ExecuteAsync(Command("DELETE FROM groups WHERE id = @Id", new { Group.Id }, cancellationToken));
        await _outbox.AddAsync(_connection, _transaction, WebhookOutbox.GroupDissolved, Group.ConversationId, now, w =>
        {
            WebhookOutbox.WriteId(w, "groupId", Group.Id);
            WebhookOutbox.WriteId(w, "conversationId", Group.ConversationId);
        }, cancellationToken);
    }

    /// <summary>group.joined / group.left for the webhooks (a removal by a manager is a group.left too).</summary>
    private Task MemberEventAsync(string type, long userId, string? role, long now, CancellationToken cancellationToken) =>
        _outbox.AddAsync(_connection, _transaction, type, Group.ConversationId, now, w =>
        {
            WebhookOutbox.WriteId(w, "groupId", Group.Id);
            WebhookOutbox.WriteId(w, "conversationId", Group.ConversationId);
            WebhookOutbox.WriteId(w, "userId", userId);
            if (role is not null)
            {
                w.WriteString("role", role);
            }
        }, cancellationToken);

    /// <summary>Commits; any group write may have changed the members, so cached member lists of the group's conversation are dropped.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        await _transaction.CommitAsync(cancellationToken);
        _memberships.Bump(Group.ConversationId);
    }

    public async ValueTask DisposeAsync()
    {
        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
    }

    private async Task ChangeCountAsync(int delta, CancellationToken cancellationToken)
    {
        await _connection.ExecuteAsync(Command(
            "UPDATE groups SET member_count = member_count + @delta WHERE id = @Id", new { delta, Group.Id }, cancellationToken));
        Group.MemberCount += delta;
    }

    private CommandDefinition Command(string sql, object parameters, CancellationToken cancellationToken) =>
        new(sql, parameters, _transaction, cancellationToken: cancellationToken);
}
