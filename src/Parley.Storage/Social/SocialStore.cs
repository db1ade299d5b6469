using System.Data.Common;
using Dapper;
using Parley.Storage.Webhooks;
using Parley.Storage.Messaging;

namespace Parley.Storage.Social;

public sealed class FriendRequestRow
{
    public long Id { get; init; }

    public long FromUserId { get; init; }

    public long ToUserId { get; init; }

    public string? Message { get; init; }

    public string Status { get; set; } = "";

    public long CreatedAt { get; init; }

    public long UpdatedAt { get; set; }
}

public sealed class FriendRow
{
    public long FriendId { get; init; }

    public string? Remark { get; init; }

    public long Since { get; init; }
}

public sealed class BlockRow
{
    public long BlockedId { get; init; }

    public long CreatedAt { get; init; }
}

public enum FriendRequestOutcome
{
    Created,
    /// <summary>I had already asked: the existing pending request.</summary>
    AlreadyPending,
    /// <summary>They had already asked me: their request is now accepted and we are friends.</summary>
    AcceptedTheirs,
    AlreadyFriends,
    /// <summary>The target has blocked the sender.</summary>
    BlockedByTarget,
    /// <summary>The sender has blocked the target.</summary>
    SenderBlocksTarget,
    UserNotFound,
    /// <summary>The target declined the sender's last request after the cooldown's start: that request, whose
    /// <c>UpdatedAt</c> is when it was declined.</summary>
    RecentlyDeclined,
}

public enum DecisionOutcome
{
    Done,
    NotFound,
    /// <summary>The caller sent the request; only the recipient decides.</summary>
    NotRecipient,
    NotPending,
}

/// <summary>
/// Friend requests, friendships and blocks. Every change takes a lock on both users' rows first (in id
/// order), so concurrent calls on one pair run one after the other and a friendship is never half made. A
/// committed change between two users moves their pair's version (<see cref="MembershipVersions"/>), so cached
/// send checks of their direct conversation reload.
/// </summary>
public sealed class SocialStore(Database database, MembershipVersions versions)
{
    private const string RequestColumns = "id, from_user_id, to_user_id, message, status, created_at, updated_at";

    /// <summary>Sends a request, accepts theirs, or refuses. A request to someone who declined one of the sender's
    /// after <paramref name="declinedSince"/> is refused (<see cref="FriendRequestOutcome.RecentlyDeclined"/>).</summary>
    public async Task<(FriendRequestOutcome Outcome, FriendRequestRow? Request)> SendRequestAsync(
        long fromUserId, long toUserId, string? message, long newId, long now, long declinedSince, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        if (await LockPairAsync(connection, transaction, fromUserId, toUserId, cancellationToken) != 2)
        {
            return (FriendRequestOutcome.UserNotFound, null);
        }

        if (await IsBlockedAsync(connection, transaction, toUserId, fromUserId, cancellationToken))
        {
            return (FriendRequestOutcome.BlockedByTarget, null);
        }

        if (await IsBlockedAsync(connection, transaction, fromUserId, toUserId, cancellationToken))
        {
            return (FriendRequestOutcome.SenderBlocksTarget, null);
        }

        if (await AreFriendsAsync(connection, transaction, fromUserId, toUserId, cancellationToken))
        {
            return (FriendRequestOutcome.AlreadyFriends, null);
        }

        var theirs = await PendingAsync(connection, transaction, toUserId, fromUserId, cancellationToken);
        if (theirs is not null)
        {
            await AcceptAsync(connection, transaction, theirs, now, cancellationToken);
            await MoveDirectVersionAsync(connection, transaction, fromUserId, toUserId, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            versions.BumpPair(fromUserId, toUserId);
            return (FriendRequestOutcome.AcceptedTheirs, theirs);
        }

        var mine = await PendingAsync(connection, transaction, fromUserId, toUserId, cancellationToken);
        if (mine is not null)
        {
            return (FriendRequestOutcome.AlreadyPending, mine);
        }

        var declined = await connection.QueryFirstOrDefaultAsync<FriendRequestRow>(new CommandDefinition(
            $"""
            SELECT {RequestColumns} FROM friend_requests
            WHERE from_user_id = @fromUserId AND to_user_id = @toUserId AND status = 'declined' AND updated_at > @declinedSince
            ORDER BY updated_at DESC LIMIT 1
            """,
            new { fromUserId, toUserId, declinedSince },
            transaction,
            cancellationToken: cancellationToken));
        if (declined is not null)
        {
            return (FriendRequestOutcome.RecentlyDeclined, declined);
        }

        var request = new FriendRequestRow
        {
            Id = newId,
            FromUserId = fromUserId,
            ToUserId = toUserId,
            Message = message,
            Status = "pending",
            CreatedAt = now,
            UpdatedAt = now,
        };
        await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO friend_requests ({RequestColumns}) VALUES (@Id, @FromUserId, @ToUserId, @Message, @Status, @CreatedAt, @UpdatedAt)",
            request,
            transaction,
            cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return (FriendRequestOutcome.Created, request);
    }

    /// <summary>The recipient accepts or declines a pending request.</summary>
    public async Task<(DecisionOutcome Outcome, FriendRequestRow? Request)> DecideAsync(
        long requestId, long actorId, bool accept, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        var request = await GetRequestAsync(connection, transaction, requestId, cancellationToken);
        if (request is null || (request.ToUserId != actorId && request.FromUserId != actorId))
        {
            return (DecisionOutcome.NotFound, null);
        }

        if (request.ToUserId != actorId)
        {
            return (DecisionOutcome.NotRecipient, request);
        }

        await LockPairAsync(connection, transaction, request.FromUserId, request.ToUserId, cancellationToken);
        // Re-read under the lock: a block or a crossing request may have decided it meanwhile.
        request = await GetRequestAsync(connection, transaction, requestId, cancellationToken);
        if (request is null || request.Status != "pending")
        {
            return (DecisionOutcome.NotPending, request);
        }

        if (accept)
        {
            await AcceptAsync(connection, transaction, request, now, cancellationToken);
        }
        else
        {
            await SetStatusAsync(connection, transaction, request, "declined", now, cancellationToken);
        }

        await MoveDirectVersionAsync(connection, transaction, request.FromUserId, request.ToUserId, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        versions.BumpPair(request.FromUserId, request.ToUserId);
        return (DecisionOutcome.Done, request);
    }

    /// <summary>Pending requests to (incoming) or from the user, newest first, before <paramref name="beforeId"/>.</summary>
    public async Task<IReadOnlyList<FriendRequestRow>> ListPendingAsync(long userId, bool incoming, long beforeId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var column = incoming ? "to_user_id" : "from_user_id";
        return (await connection.QueryAsync<FriendRequestRow>(new CommandDefinition(
            $"SELECT {RequestColumns} FROM friend_requests WHERE {column} = @userId AND status = 'pending' AND id < @beforeId ORDER BY id DESC LIMIT @limit",
            new { userId, beforeId, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    public async Task<IReadOnlyList<FriendRow>> ListFriendsAsync(long userId, long afterFriendId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<FriendRow>(new CommandDefinition(
            "SELECT friend_id, remark, since FROM friendships WHERE user_id = @userId AND friend_id > @afterFriendId ORDER BY friend_id LIMIT @limit",
            new { userId, afterFriendId, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>Every friend's user id (for presence).</summary>
    public async Task<IReadOnlyList<long>> FriendIdsAsync(long userId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<long>(new CommandDefinition(
            "SELECT friend_id FROM friendships WHERE user_id = @userId", new { userId }, cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>
    /// Who hears of a change to the user's public profile (<c>user.updated</c>), at most <paramref name="max"/> users:
    /// their friends first, then the other members of their groups, smallest group first, each group whole or not
    /// at all (a group whose members would take the total past the bound is left out, and so are the bigger ones).
    /// Two statements however many groups: the running total of member counts is a window over the user's groups.
    /// </summary>
    public async Task<IReadOnlyList<long>> ProfileAudienceAsync(long userId, int max, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var audience = (await connection.QueryAsync<long>(new CommandDefinition(
            "SELECT friend_id FROM friendships WHERE user_id = @userId ORDER BY friend_id LIMIT @max",
            new { userId, max },
            cancellationToken: cancellationToken))).AsList();
        var budget = max - audience.Count;
        if (budget <= 0)
        {
            return audience;
        }

        // member_count counts the user too; the budget is in rows read, so overlapping groups only make the audience smaller.
        var coMembers = await connection.QueryAsync<long>(new CommandDefinition(
            """
            WITH mine AS (
                SELECT g.id, SUM(g.member_count - 1) OVER (ORDER BY g.member_count, g.id) AS running
                FROM group_members gm JOIN groups g ON g.id = gm.group_id
                WHERE gm.user_id = @userId
            )
            SELECT DISTINCT o.user_id FROM mine JOIN group_members o ON o.group_id = mine.id
            WHERE mine.running <= @budget AND o.user_id <> @userId
            """,
            new { userId, budget },
            cancellationToken: cancellationToken));
        var seen = audience.ToHashSet();
        foreach (var id in coMembers)
        {
            if (seen.Add(id))
            {
                audience.Add(id);
            }
        }

        return audience;
    }

    public async Task<FriendRow?> GetFriendAsync(long userId, long friendId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<FriendRow>(new CommandDefinition(
            "SELECT friend_id, remark, since FROM friendships WHERE user_id = @userId AND friend_id = @friendId",
            new { userId, friendId },
            cancellationToken: cancellationToken));
    }

    /// <summary>Sets my remark for a friend; false when we are not friends.</summary>
    public async Task<bool> SetRemarkAsync(long userId, long friendId, string? remark, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE friendships SET remark = @remark WHERE user_id = @userId AND friend_id = @friendId",
            new { userId, friendId, remark },
            cancellationToken: cancellationToken)) == 1;
    }

    /// <summary>Ends a friendship on both sides; false when there was none.</summary>
    public async Task<bool> RemoveFriendAsync(long userId, long friendId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        await LockPairAsync(connection, transaction, userId, friendId, cancellationToken);
        var removed = await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM friendships WHERE (user_id = @userId AND friend_id = @friendId) OR (user_id = @friendId AND friend_id = @userId)",
            new { userId, friendId },
            transaction,
            cancellationToken: cancellationToken));
        await MoveDirectVersionAsync(connection, transaction, userId, friendId, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        versions.BumpPair(userId, friendId);
        return removed > 0;
    }

    /// <summary>Blocks a user (idempotent) and declines pending requests between the two; false for an unknown user.</summary>
    public async Task<bool> BlockAsync(long blockerId, long blockedId, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        if (await LockPairAsync(connection, transaction, blockerId, blockedId, cancellationToken) != 2)
        {
            return false;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (@blockerId, @blockedId, @now) ON CONFLICT DO NOTHING",
            new { blockerId, blockedId, now },
            transaction,
            cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE friend_requests SET status = 'declined', updated_at = @now
            WHERE status = 'pending' AND ((from_user_id = @blockerId AND to_user_id = @blockedId) OR (from_user_id = @blockedId AND to_user_id = @blockerId))
            """,
            new { blockerId, blockedId, now },
            transaction,
            cancellationToken: cancellationToken));
        await MoveDirectVersionAsync(connection, transaction, blockerId, blockedId, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        versions.BumpPair(blockerId, blockedId);
        return true;
    }

    public async Task UnblockAsync(long blockerId, long blockedId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM blocks WHERE blocker_id = @blockerId AND blocked_id = @blockedId",
            new { blockerId, blockedId },
            cancellationToken: cancellationToken));
        await MoveDirectVersionAsync(connection, null, blockerId, blockedId, cancellationToken);
        versions.BumpPair(blockerId, blockedId);
    }

    /// <summary>
    /// On PostgreSQL, moves the pair's direct conversation's <c>members_version</c> inside the changing transaction, so
    /// a message checked on another node against the friendship or blocks before this change is refused at its commit
    /// (PostgresMessageAppender). Taken last: the transaction touches no member rows, so no lock-order cycle.
    /// </summary>
    private async Task MoveDirectVersionAsync(DbConnection connection, DbTransaction? transaction, long userA, long userB, CancellationToken cancellationToken)
    {
        if (database.Provider != StorageProvider.Postgres)
        {
            return;
        }

        var (low, high) = userA < userB ? (userA, userB) : (userB, userA);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE conversations SET members_version = members_version + 1 WHERE type = 'direct' AND user_low = @low AND user_high = @high",
            new { low, high },
            transaction,
            cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<BlockRow>> ListBlocksAsync(long blockerId, long afterBlockedId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<BlockRow>(new CommandDefinition(
            "SELECT blocked_id, created_at FROM blocks WHERE blocker_id = @blockerId AND blocked_id > @afterBlockedId ORDER BY blocked_id LIMIT @limit",
            new { blockerId, afterBlockedId, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>Of <paramref name="userIds"/>, those who have blocked <paramref name="blockedId"/>.</summary>
    public async Task<IReadOnlySet<long>> WhoBlockedAsync(long blockedId, IReadOnlyList<long> userIds, CancellationToken cancellationToken)
    {
        if (userIds.Count == 0)
        {
            return new HashSet<long>();
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        var (list, parameters) = Sql.InList("b", userIds);
        parameters.Add("blockedId", blockedId);
        return (await connection.QueryAsync<long>(new CommandDefinition(
            $"SELECT blocker_id FROM blocks WHERE blocked_id = @blockedId AND blocker_id IN ({list})",
            parameters,
            cancellationToken: cancellationToken))).ToHashSet();
    }

    public async Task<bool> AreFriendsAsync(long userId, long otherId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await AreFriendsAsync(connection, null, userId, otherId, cancellationToken);
    }

    public async Task<bool> IsBlockedAsync(long blockerId, long blockedId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await IsBlockedAsync(connection, null, blockerId, blockedId, cancellationToken);
    }

    /// <summary>Locks both users' rows in id order; returns how many of the two exist.</summary>
    private async Task<int> LockPairAsync(DbConnection connection, DbTransaction transaction, long a, long b, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<long>(new CommandDefinition(
            $"SELECT id FROM users WHERE id IN (@a, @b) ORDER BY id{database.ForUpdate}",
            new { a, b },
            transaction,
            cancellationToken: cancellationToken))).Count();

    private async Task AcceptAsync(DbConnection connection, DbTransaction transaction, FriendRequestRow request, long now, CancellationToken cancellationToken)
    {
        await SetStatusAsync(connection, transaction, request, "accepted", now, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO friendships (user_id, friend_id, since) VALUES (@a, @b, @now), (@b, @a, @now) ON CONFLICT DO NOTHING",
            new { a = request.FromUserId, b = request.ToUserId, now },
            transaction,
            cancellationToken: cancellationToken));
        await database.Outbox.AddAsync(connection, transaction, WebhookOutbox.FriendAccepted, request.FromUserId, now, w =>
        {
            WebhookOutbox.WriteId(w, "requestId", request.Id);
            WebhookOutbox.WriteId(w, "fromUserId", request.FromUserId);
            WebhookOutbox.WriteId(w, "toUserId", request.ToUserId);
        }, cancellationToken);
    }

    private static Task SetStatusAsync(DbConnection connection, DbTransaction transaction, FriendRequestRow request, string status, long now, CancellationToken cancellationToken)
    {
        request.Status = status;
        request.UpdatedAt = now;
        return connection.ExecuteAsync(new CommandDefinition(
            "UPDATE friend_requests SET status = @status, updated_at = @now WHERE id = @Id",
            new { status, now, request.Id },
            transaction,
            cancellationToken: cancellationToken));
    }

    private static Task<FriendRequestRow?> GetRequestAsync(DbConnection connection, DbTransaction transaction, long requestId, CancellationToken cancellationToken) =>
        connection.QuerySingleOrDefaultAsync<FriendRequestRow>(new CommandDefinition(
            $"SELECT {RequestColumns} FROM friend_requests WHERE id = @requestId",
            new { requestId },
            transaction,
            cancellationToken: cancellationToken));

    private static Task<FriendRequestRow?> PendingAsync(DbConnection connection, DbTransaction transaction, long fromUserId, long toUserId, CancellationToken cancellationToken) =>
        connection.QuerySingleOrDefaultAsync<FriendRequestRow>(new CommandDefinition(
            $"SELECT {RequestColumns} FROM friend_requests WHERE from_user_id = @fromUserId AND to_user_id = @toUserId AND status = 'pending'",
            new { fromUserId, toUserId },
            transaction,
            cancellationToken: cancellationToken));

    private static async Task<bool> AreFriendsAsync(DbConnection connection, DbTransaction? transaction, long userId, long otherId, CancellationToken cancellationToken) =>
        await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT since FROM friendships WHERE user_id = @userId AND friend_id = @otherId",
            new { userId, otherId },
            transaction,
            cancellationToken: cancellationToken)) is not null;

    private static async Task<bool> IsBlockedAsync(DbConnection connection, DbTransaction? transaction, long blockerId, long blockedId, CancellationToken cancellationToken) =>
        await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT created_at FROM blocks WHERE blocker_id = @blockerId AND blocked_id = @blockedId",
            new { blockerId, blockedId },
            transaction,
            cancellationToken: cancellationToken)) is not null;
}
