using System.Text.Json;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Events;
using Parley.Server.Http;
using Parley.Storage;
using Parley.Storage.Accounts;
using Parley.Storage.Social;

namespace Parley.Server.Social;

/// <summary>Friend requests, friendships and blocks: rules, storage and the events they publish.</summary>
public sealed class SocialService(
    SocialStore store,
    UserStore users,
    PresenceTracker presence,
    Notifier notifier,
    IdGenerator ids,
    TimeProvider time,
    UserQuotas quotas,
    IOptions<SocialOptions> options,
    Calls.CallService calls)
{
    public const int MaxRequestMessage = 200;
    public const int MaxRemark = 64;

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Returns the request and whether it was newly created (201) rather than existing or accepted (200).</summary>
    public async Task<(FriendRequestDto Request, bool Created)> SendRequestAsync(long callerId, FriendRequestBody body, CancellationToken cancellationToken)
    {
        var v = new Validation();
        if (!Ids.TryParse(body.UserId, out var targetId))
        {
            v.Add("userId", "must be a user id");
        }
        else if (targetId == callerId)
        {
            v.Add("userId", "cannot be yourself");
        }

        var message = body.Message?.Trim();
        if (message is { Length: > MaxRequestMessage })
        {
            v.Add("message", $"must be at most {MaxRequestMessage} characters");
        }

        v.ThrowIfInvalid();
        // Counted before the write so concurrent requests cannot overrun it; given back unless a request was made.
        if (await quotas.FriendRequests.TryTakeAsync(callerId) is { } wait)
        {
            throw UserQuotas.Limited($"At most {options.Value.FriendRequestsPerHour} friend requests per hour; try again later.", wait);
        }

        var now = Now;
        var cooldownMs = (long)(Math.Max(0, options.Value.RerequestCooldownHours) * 3_600_000);
        FriendRequestOutcome outcome;
        FriendRequestRow? request;
        try
        {
            (outcome, request) = await store.SendRequestAsync(
                callerId, targetId, string.IsNullOrEmpty(message) ? null : message, ids.Next(), now, cooldownMs == 0 ? long.MaxValue : now - cooldownMs, cancellationToken);
        }
        catch
        {
            await quotas.FriendRequests.RefundAsync(callerId);
            throw;
        }

        if (outcome != FriendRequestOutcome.Created)
        {
            await quotas.FriendRequests.RefundAsync(callerId);
        }

        switch (outcome)
        {
            case FriendRequestOutcome.RecentlyDeclined:
                throw UserQuotas.Limited(
                    "This user declined your last request recently; try again later.",
                    Math.Max(1, (int)Math.Ceiling((request!.UpdatedAt + cooldownMs - now) / 1000.0)));
            case FriendRequestOutcome.UserNotFound:
                throw ApiException.NotFound("User");
            case FriendRequestOutcome.BlockedByTarget:
                throw ApiException.Forbidden("This user does not accept your requests.", ErrorCodes.Blocked);
            case FriendRequestOutcome.SenderBlocksTarget:
                throw new ApiException(409, ErrorCodes.Conflict, "You have blocked this user; unblock them first.");
            case FriendRequestOutcome.AlreadyFriends:
                throw new ApiException(409, ErrorCodes.Conflict, "You are already friends.");
        }

        var dto = await ToDtoAsync(request!, cancellationToken);
        if (outcome == FriendRequestOutcome.Created)
        {
            notifier.Publish(NotifyKinds.FriendRequest, Serialize(dto), [targetId]);
        }
        else if (outcome == FriendRequestOutcome.AcceptedTheirs)
        {
            notifier.Publish(NotifyKinds.FriendAccepted, Serialize(dto), [callerId, targetId]);
        }

        return (dto, outcome == FriendRequestOutcome.Created);
    }

    public async Task<FriendRequestDto> DecideAsync(long callerId, string requestId, bool accept, CancellationToken cancellationToken)
    {
        if (!Ids.TryParse(requestId, out var id))
        {
            throw ApiException.NotFound("Friend request");
        }

        var (outcome, request) = await store.DecideAsync(id, callerId, accept, Now, cancellationToken);
        switch (outcome)
        {
            case DecisionOutcome.NotFound:
                throw ApiException.NotFound("Friend request");
            case DecisionOutcome.NotRecipient:
                throw ApiException.Forbidden("Only the recipient can answer a friend request.");
            case DecisionOutcome.NotPending:
                throw new ApiException(409, ErrorCodes.Conflict, $"The request is already {request?.Status ?? "gone"}.");
        }

        var dto = await ToDtoAsync(request!, cancellationToken);
        if (accept)
        {
            notifier.Publish(NotifyKinds.FriendAccepted, Serialize(dto), [request!.FromUserId, request.ToUserId]);
        }

        return dto;
    }

    public async Task<ListResponse<FriendRequestDto>> ListRequestsAsync(long callerId, string? direction, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var v = new Validation();
        var incoming = direction is null or "" or "incoming";
        if (!incoming && direction != "outgoing")
        {
            v.Add("direction", "must be incoming or outgoing");
        }

        v.ThrowIfInvalid();
        var rows = await store.ListPendingAsync(callerId, incoming, Paging.Id(cursor, none: long.MaxValue), limit + 1, cancellationToken);
        var profiles = await users.GetManyAsync(rows.SelectMany(r => new[] { r.FromUserId, r.ToUserId }), cancellationToken);
        return Paging.Page(
            rows,
            limit,
            r => profiles.ContainsKey(r.FromUserId) && profiles.ContainsKey(r.ToUserId) ? ToDto(r, profiles) : null,
            r => Ids.Format(r.Id));
    }

    public async Task<ListResponse<FriendEntry>> ListFriendsAsync(long callerId, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var rows = await store.ListFriendsAsync(callerId, Paging.Id(cursor), limit + 1, cancellationToken);
        var profiles = await users.GetManyAsync(rows.Select(r => r.FriendId), cancellationToken);
        var online = presence.OnlineAmongAsync([.. rows.Select(r => r.FriendId)]) is { } cluster ? await cluster : null;
        return Paging.Page(rows, limit, r => profiles.TryGetValue(r.FriendId, out var u) ? ToEntry(r, u, online) : null, r => Ids.Format(r.FriendId));
    }

    public async Task<FriendEntry> SetRemarkAsync(long callerId, string friendId, RemarkBody body, CancellationToken cancellationToken)
    {
        var remark = body.Remark?.Trim();
        if (remark is { Length: > MaxRemark } || (remark is not null && remark.Any(char.IsControl)))
        {
            throw ApiException.Invalid("remark", $"must be at most {MaxRemark} characters without control characters");
        }

        if (!Ids.TryParse(friendId, out var id) || !await store.SetRemarkAsync(callerId, id, string.IsNullOrEmpty(remark) ? null : remark, cancellationToken))
        {
            throw ApiException.NotFound("Friend");
        }

        var row = await store.GetFriendAsync(callerId, id, cancellationToken) ?? throw ApiException.NotFound("Friend");
        var user = await users.GetAsync(id, cancellationToken) ?? throw ApiException.NotFound("Friend");
        return ToEntry(row, user, presence.OnlineAmongAsync([id]) is { } cluster ? await cluster : null);
    }

    public async Task RemoveFriendAsync(long callerId, string friendId, CancellationToken cancellationToken)
    {
        if (!Ids.TryParse(friendId, out var id) || !await store.RemoveFriendAsync(callerId, id, cancellationToken))
        {
            throw ApiException.NotFound("Friend");
        }

        notifier.Publish(NotifyKinds.FriendRemoved, Serialize(new FriendRemovedData(Ids.Format(id))), [callerId]);
        notifier.Publish(NotifyKinds.FriendRemoved, Serialize(new FriendRemovedData(Ids.Format(callerId))), [id]);
    }

    public async Task BlockAsync(long callerId, string userId, CancellationToken cancellationToken)
    {
        if (!Ids.TryParse(userId, out var id))
        {
            throw ApiException.NotFound("User");
        }

        if (id == callerId)
        {
            throw ApiException.Invalid("userId", "cannot block yourself");
        }

        if (!await store.BlockAsync(callerId, id, Now, cancellationToken))
        {
            throw ApiException.NotFound("User");
        }

        calls.Blocked(callerId, id); // a call between them ends now, as a message between them would be refused now
    }

    public async Task UnblockAsync(long callerId, string userId, CancellationToken cancellationToken)
    {
        if (Ids.TryParse(userId, out var id))
        {
            await store.UnblockAsync(callerId, id, cancellationToken);
        }
    }

    public async Task<ListResponse<BlockEntry>> ListBlocksAsync(long callerId, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var rows = await store.ListBlocksAsync(callerId, Paging.Id(cursor), limit + 1, cancellationToken);
        var profiles = await users.GetManyAsync(rows.Select(r => r.BlockedId), cancellationToken);
        return Paging.Page(
            rows,
            limit,
            r => profiles.TryGetValue(r.BlockedId, out var u) ? new BlockEntry(PublicUser.From(u), r.CreatedAt) : null,
            r => Ids.Format(r.BlockedId));
    }

    /// <summary>A friend as listed; <paramref name="online"/> is the cluster's answer (null on one node: this node's).</summary>
    private FriendEntry ToEntry(FriendRow row, UserRow user, IReadOnlySet<long>? online) =>
        new(PublicUser.From(user), row.Remark, row.Since, online?.Contains(row.FriendId) ?? presence.IsOnline(row.FriendId));

    private async Task<FriendRequestDto> ToDtoAsync(FriendRequestRow row, CancellationToken cancellationToken) =>
        ToDto(row, await users.GetManyAsync([row.FromUserId, row.ToUserId], cancellationToken));

    private static FriendRequestDto ToDto(FriendRequestRow row, IReadOnlyDictionary<long, UserRow> profiles) =>
        new(
            Ids.Format(row.Id),
            Ids.Format(row.FromUserId),
            Ids.Format(row.ToUserId),
            PublicUser.From(profiles[row.FromUserId]),
            PublicUser.From(profiles[row.ToUserId]),
            row.Message,
            row.Status,
            row.CreatedAt,
            row.UpdatedAt);

    private static JsonElement Serialize(FriendRequestDto dto) => JsonSerializer.SerializeToElement(dto, ParleyJson.Default.FriendRequestDto);

    private static JsonElement Serialize(FriendRemovedData data) => JsonSerializer.SerializeToElement(data, ParleyJson.Default.FriendRemovedData);
}
