using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Groups;
using Parley.Server.Http;
using Parley.Server.Operations;
using Parley.Storage;
using Parley.Storage.Accounts;
using Parley.Storage.Groups;
using Parley.Storage.Messaging;
using Parley.Storage.Social;

namespace Parley.Server.Messaging;

/// <summary>
/// Conversations and messages: who may read and write where, message rules, and the shapes the contract
/// gives them. The same calls serve HTTP and (with the gateway) WebSocket, so both have identical semantics.
/// </summary>
public sealed class MessagingService
{
    public const int MaxClientMsgId = 64;
    public const int MaxMentions = 100;

    private readonly MessageStore _messages;
    private readonly MessagePipeline _pipeline;
    private readonly UserStore _users;
    private readonly GroupStore _groups;
    private readonly SocialStore _social;
    private readonly IFileAccess _files;
    private readonly SendRateLimiter _rate;
    private readonly LookupThrottle _lookups;
    private readonly IdGenerator _ids;
    private readonly TimeProvider _time;
    private readonly MessagingOptions _options;
    private readonly IMessageEvents _events;
    private readonly ParleyMetrics _metrics;

    public MessagingService(
        MessageStore messages,
        MessagePipeline pipeline,
        UserStore users,
        GroupStore groups,
        SocialStore social,
        IFileAccess files,
        SendRateLimiter rate,
        LookupThrottle lookups,
        IdGenerator ids,
        TimeProvider time,
        IOptions<MessagingOptions> options,
        IMessageEvents events,
        ParleyMetrics metrics)
    {
        _events = events;
        _metrics = metrics;
        _messages = messages;
        _pipeline = pipeline;
        _users = users;
        _groups = groups;
        _social = social;
        _files = files;
        _rate = rate;
        _lookups = lookups;
        _ids = ids;
        _time = time;
        _options = options.Value;
    }

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private readonly TypingGate _typing = new();

    /// <summary>
    /// Sends a message; Created is false when this clientMsgId was already stored (the original is returned).
    /// A refused send (invalid, not a member, rate limited, muted, blocked...) is a <see cref="Refusal"/>, not an
    /// exception: HTTP and WebSocket both come through here, and refusals are ordinary traffic.
    /// </summary>
    public async Task<Result<(MessageDto Message, bool Created)>> SendAsync(Caller caller, string conversationId, SendMessageBody body, CancellationToken cancellationToken, long? originConnectionId = null)
    {
        var v = new Validation();
        var clientMsgId = body.ClientMsgId?.Trim();
        if (string.IsNullOrEmpty(clientMsgId) || clientMsgId.Length > MaxClientMsgId || clientMsgId.Any(char.IsControl))
        {
            v.Add("clientMsgId", $"must be 1-{MaxClientMsgId} characters without control characters");
        }

        if (body.ReplyTo is < 1)
        {
            v.Add("replyTo", "must be the seq of a message in this conversation");
        }

        var (mentionIds, mentionsAll) = ParseMentions(v, body.Mentions);
        if (v.ToRefusal() is { } invalid)
        {
            return Refused(invalid);
        }

        // One query gives what the checks need; the committing transaction re-checks membership.
        if (!Ids.TryParse(conversationId, out var id))
        {
            return Refused(_lookups.Miss(caller.UserId, ConversationNotFound));
        }

        var view = await _messages.SendCheckAsync(id, caller.UserId, clientMsgId!, cancellationToken);
        if (view is null)
        {
            // The right 404 or 403.
            return Refused((await TryMemberViewAsync(caller, conversationId, cancellationToken)).Refusal ?? NotAMember);
        }

        // A retry returns the original whatever happened since (rate, mute, unfriending).
        if (view.ExistingSeq is not null && await _messages.FindByClientIdAsync(caller.UserId, clientMsgId!, cancellationToken) is { } original)
        {
            return original.ConversationId == view.Id ? (ToDto(original), false) : Refused(ClientMsgIdUsedElsewhere);
        }

        if (!MessageValidator.Validate(body.Type, body.Content, _options).TryGetValue(out var content, out var badContent))
        {
            return Refused(badContent);
        }

        if (!_rate.TryTake(caller.UserId))
        {
            return Refused(SendingTooFast);
        }

        if (MaySend(view, mentionsAll) is { } notAllowed)
        {
            return Refused(notAllowed);
        }

        if (body.ReplyTo is { } replyTo && (replyTo > view.MaxSeq || replyTo <= view.JoinedSeq))
        {
            return Refused(Refusal.Invalid("replyTo", "must be the seq of a message in this conversation"));
        }

        foreach (var fileId in content.FileIds)
        {
            if (!await _files.CanUseAsync(caller.UserId, fileId, cancellationToken))
            {
                return Refused(Refusal.Invalid("content.fileId", "is not a file you may use"));
            }
        }

        var result = await _pipeline.AppendAsync(
            new NewMessage(
                view.Id,
                caller.UserId,
                clientMsgId!,
                body.Type!,
                content.Json,
                body.ReplyTo,
                body.Mentions is { Count: > 0 } ? JsonSerializer.Serialize(body.Mentions, ParleyJson.Default.IReadOnlyListString) : null,
                mentionIds,
                mentionsAll,
                Now,
                content.FileIds),
            originConnectionId,
            cancellationToken);
        if (result.Message is null)
        {
            return Refused(NoLongerAMember);
        }

        if (result.Message.ConversationId != view.Id)
        {
            return Refused(ClientMsgIdUsedElsewhere);
        }

        return (ToDto(result.Message), result.Created);
    }

    /// <summary>Counts a refused send by its reason, and returns the refusal.</summary>
    private Refusal Refused(Refusal refusal)
    {
        _metrics.SendRefused(refusal.Code);
        return refusal;
    }

    public async Task<ConversationDto> GetOrCreateDirectAsync(Caller caller, DirectBody body, CancellationToken cancellationToken)
    {
        if (!Ids.TryParse(body.UserId, out var peerId) || peerId == caller.UserId)
        {
            throw ApiException.Invalid("userId", "must be another user's id");
        }

        if (await _users.GetAsync(peerId, cancellationToken) is null)
        {
            throw ApiException.NotFound("User");
        }

        await CheckDirectAllowedAsync(caller.UserId, peerId, cancellationToken);
        var conversation = await _messages.GetOrCreateDirectAsync(caller.UserId, peerId, _ids.Next(), Now, cancellationToken);
        return await GetAsync(caller, Ids.Format(conversation.Id), cancellationToken);
    }

    public async Task<ConversationDto> GetAsync(Caller caller, string conversationId, CancellationToken cancellationToken)
    {
        var view = await MemberViewAsync(caller, conversationId, cancellationToken);
        return (await ToDtosAsync(caller.UserId, [view], cancellationToken))[0];
    }

    public async Task<ListResponse<ConversationDto>> ListAsync(Caller caller, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var (beforeActivity, beforeId) = cursor is null ? (long.MaxValue, long.MaxValue) : Paging.Pair(cursor);

        var rows = await _messages.ListForMemberAsync(caller.UserId, caller.SessionId, beforeActivity, beforeId, limit + 1, cancellationToken);
        var dtos = await ToDtosAsync(caller.UserId, rows.Take(limit).ToList(), cancellationToken);
        var byId = dtos.ToDictionary(d => d.Id);
        return Paging.Page(rows, limit, r => byId[Ids.Format(r.Id)], r => Paging.Pair(r.LastActivityAt, r.Id));
    }

    /// <summary>
    /// A page of history, bounded by <paramref name="limit"/> items and by bytes (<see cref="MessagingOptions.MaxPageBytes"/>,
    /// or <paramref name="maxBytes"/> when smaller): a page that would be bigger has fewer items and hasMore.
    /// </summary>
    public async Task<Result<MessagePage>> HistoryAsync(Caller caller, string conversationId, long? after, long? before, int limit, CancellationToken cancellationToken, long? maxBytes = null)
    {
        if (after is < 0 || before is < 1 || (after is not null && before is not null))
        {
            return Refusal.Invalid(after is not null && before is not null ? "before" : after is < 0 ? "after" : "before", "give either after (>= 0) or before (>= 1)");
        }

        if (!(await TryMemberViewAsync(caller, conversationId, cancellationToken)).TryGetValue(out var view, out var refusal))
        {
            return refusal;
        }

        var budget = Math.Min(_options.MaxPageBytes, maxBytes ?? long.MaxValue);
        var (rows, hasMore) = await _messages.ReadAsync(view.Id, caller.UserId, view.JoinedSeq, after ?? 0, before, limit, budget, cancellationToken);
        // Messages may have committed between reading the conversation and its rows.
        var maxSeq = Math.Max(view.MaxSeq, rows.Count > 0 ? rows[^1].Seq : 0);
        return new MessagePage(rows.Select(ToDto).ToList(), hasMore, maxSeq);
    }

    /// <summary>Moves the caller's read marker; null when done, else why not.</summary>
    public async Task<Refusal?> MarkReadAsync(Caller caller, string conversationId, ReadBody body, CancellationToken cancellationToken, long? originConnectionId = null)
    {
        if (body.Seq is not { } seq || seq < 0)
        {
            return Refusal.Invalid("seq", "must be a seq (a whole number >= 0)");
        }

        if (!(await TryMemberViewAsync(caller, conversationId, cancellationToken)).TryGetValue(out var view, out var refusal))
        {
            return refusal;
        }

        var readSeq = Math.Min(seq, view.MaxSeq);
        if (await _messages.MarkReadAsync(view.Id, caller.UserId, readSeq, cancellationToken))
        {
            // Direct: the peer sees it (read receipts) and my other devices; group: my other devices only. A peer
            // who blocked the caller is not told.
            IReadOnlyList<long> recipients = view.PeerOf(caller.UserId) is { } peer && !await _social.IsBlockedAsync(peer, caller.UserId, cancellationToken)
                ? [caller.UserId, peer]
                : [caller.UserId];
            _events.Read(view.Id, caller.UserId, readSeq, recipients, originConnectionId);
        }

        return null;
    }

    /// <summary>Tells the other members that the caller is typing; nothing is stored. Null when done, else why not.</summary>
    public async Task<Refusal?> TypingAsync(Caller caller, string conversationId, CancellationToken cancellationToken)
    {
        if (!(await TryMemberViewAsync(caller, conversationId, cancellationToken)).TryGetValue(out var view, out var refusal))
        {
            return refusal;
        }

        // A hint, passed on at most once a second per user and conversation across all of the user's sockets
        // (each socket also drops its own repeats): ten sockets must not make ten times the typing traffic.
        if (!_typing.TryPass(caller.UserId, view.Id, Now))
        {
            return null;
        }

        var others = (await _messages.MemberIdsAsync(view.Id, long.MaxValue, cancellationToken)).Where(id => id != caller.UserId).ToList();
        _events.Typing(view.Id, caller.UserId, await WithoutBlockersAsync(caller.UserId, others, cancellationToken));
        return null;
    }

    /// <summary>
    /// <paramref name="recipients"/> less those who blocked <paramref name="userId"/>: hints about a blocked user
    /// (typing, read receipts) never reach the one who blocked them. Asked in chunks, by the blocks table's key.
    /// </summary>
    private async Task<IReadOnlyList<long>> WithoutBlockersAsync(long userId, List<long> recipients, CancellationToken cancellationToken)
    {
        HashSet<long>? blockers = null;
        foreach (var chunk in recipients.Chunk(500))
        {
            var found = await _social.WhoBlockedAsync(userId, chunk, cancellationToken);
            if (found.Count > 0)
            {
                (blockers ??= []).UnionWith(found);
            }
        }

        return blockers is null ? recipients : recipients.Where(id => !blockers.Contains(id)).ToList();
    }

    /// <summary>Records how far this device holds the conversation; null when done, else why not.</summary>
    public async Task<Refusal?> AckAsync(Caller caller, string conversationId, long seq, CancellationToken cancellationToken)
    {
        if (!(await TryMemberViewAsync(caller, conversationId, cancellationToken)).TryGetValue(out var view, out var refusal))
        {
            return refusal;
        }

        await _messages.AckAsync(caller.SessionId, view.Id, Math.Min(Math.Max(seq, 0), view.MaxSeq), cancellationToken);
        return null;
    }

    public async Task<MessageDto> RecallAsync(Caller caller, string conversationId, long seq, CancellationToken cancellationToken)
    {
        var view = await MemberViewAsync(caller, conversationId, cancellationToken);
        var message = await VisibleMessageAsync(view, seq, cancellationToken);
        var isSender = message.SenderId == caller.UserId;
        var manager = view.GroupId is { } groupId
            && GroupPolicy.IsManager(GroupPolicy.FromWire((await _groups.GetMemberAsync(groupId, caller.UserId, cancellationToken))?.Role));
        if (!manager)
        {
            if (!isSender)
            {
                throw ApiException.Forbidden("Only the sender, or a group's owner and admins, can recall a message.");
            }

            if (Now - message.SentAt > _options.RecallWindowSeconds * 1000L)
            {
                throw ApiException.Forbidden($"Messages can be recalled within {_options.RecallWindowSeconds} seconds.", ErrorCodes.RecallWindowPassed);
            }
        }

        if (await _messages.RecallAsync(view.Id, seq, caller.UserId, Now, cancellationToken))
        {
            _events.Recalled(view.Id, seq, caller.UserId, await _messages.MemberIdsAsync(view.Id, seq, CancellationToken.None));
        }

        return ToDto((await _messages.GetMessageAsync(view.Id, seq, cancellationToken))!);
    }

    public async Task DeleteForMeAsync(Caller caller, string conversationId, long seq, CancellationToken cancellationToken)
    {
        var view = await MemberViewAsync(caller, conversationId, cancellationToken);
        await VisibleMessageAsync(view, seq, cancellationToken);
        await _messages.HideAsync(caller.UserId, view.Id, seq, cancellationToken);
    }

    public async Task<Receipts> ReceiptsAsync(Caller caller, string conversationId, long seq, CancellationToken cancellationToken)
    {
        var view = await MemberViewAsync(caller, conversationId, cancellationToken);
        var message = await VisibleMessageAsync(view, seq, cancellationToken);
        var readBy = new List<string>();
        var unreadBy = new List<string>();
        foreach (var (userId, joinedSeq, readSeq) in await _messages.MemberPositionsAsync(view.Id, cancellationToken))
        {
            if (userId == message.SenderId || joinedSeq >= seq)
            {
                continue; // the sender, and members who joined after it, are neither
            }

            (readSeq >= seq ? readBy : unreadBy).Add(Ids.Format(userId));
        }

        return new Receipts(readBy, unreadBy);
    }

    /// <summary>The conversation as the caller sees it, for control-plane calls that answer by throwing.</summary>
    private async Task<MemberConversationRow> MemberViewAsync(Caller caller, string conversationId, CancellationToken cancellationToken) =>
        (await TryMemberViewAsync(caller, conversationId, cancellationToken)).ValueOrThrow();

    /// <summary>The conversation as the caller sees it: 404 when it does not exist or is a private group's (outsiders
    /// cannot tell it exists), 403 when they are not a member of another.</summary>
    private async Task<Result<MemberConversationRow>> TryMemberViewAsync(Caller caller, string conversationId, CancellationToken cancellationToken)
    {
        if (!Ids.TryParse(conversationId, out var id))
        {
            return _lookups.Miss(caller.UserId, ConversationNotFound);
        }

        if (await _messages.GetForMemberAsync(id, caller.UserId, caller.SessionId, cancellationToken) is { } view)
        {
            return view;
        }

        var conversation = await _messages.GetConversationAsync(id, cancellationToken);
        if (conversation is null
            || (conversation.GroupId is { } groupId && (await _groups.GetAsync(groupId, cancellationToken))?.Visibility is null or "private"))
        {
            return _lookups.Miss(caller.UserId, ConversationNotFound);
        }

        return NotAMember;
    }

    private async Task<MessageRow> VisibleMessageAsync(MemberConversationRow view, long seq, CancellationToken cancellationToken) =>
        seq > view.JoinedSeq && seq <= view.MaxSeq && await _messages.GetMessageAsync(view.Id, seq, cancellationToken) is { } message
            ? message
            : throw ApiException.NotFound("Message");

    /// <summary>Null when the caller may send here (with these mentions), else why not.</summary>
    private Refusal? MaySend(SendCheckRow view, bool mentionsAll)
    {
        if (view.Type == "direct")
        {
            return DirectRefusal(view.Blocked, view.Friends);
        }

        if (view.Role is null)
        {
            return NotAGroupMember;
        }

        if (view.MutedUntil is { } until && until > Now)
        {
            return Muted;
        }

        if (mentionsAll && !GroupPolicy.IsManager(GroupPolicy.FromWire(view.Role)))
        {
            return MentionAllForbidden;
        }

        return null;
    }

    private async Task CheckDirectAllowedAsync(long userId, long peerId, CancellationToken cancellationToken)
    {
        var blocked = await _social.IsBlockedAsync(peerId, userId, cancellationToken);
        if (DirectRefusal(blocked, blocked || _options.DirectMessages == "anyone" || await _social.AreFriendsAsync(userId, peerId, cancellationToken)) is { } refusal)
        {
            throw refusal.ToException();
        }
    }

    /// <summary>The direct-message rule: the peer must not block the sender, and (by default) they must be friends.</summary>
    private Refusal? DirectRefusal(bool blocked, bool friends)
    {
        if (blocked)
        {
            return Blocked;
        }

        return _options.DirectMessages != "anyone" && !friends ? NotFriends : null;
    }

    // The refusals of the hot path, made once: a refused send allocates nothing for its answer.
    private static readonly Refusal ConversationNotFound = Refusal.NotFound("Conversation");
    private static readonly Refusal NotAMember = Refusal.Forbidden("You are not a member of this conversation.");
    private static readonly Refusal NoLongerAMember = Refusal.Forbidden("You are no longer a member of this conversation.");
    private static readonly Refusal NotAGroupMember = Refusal.Forbidden("You are not a member of this group.");
    private static readonly Refusal Muted = Refusal.Forbidden("You are muted in this group.", ErrorCodes.Muted);
    private static readonly Refusal MentionAllForbidden = Refusal.Forbidden("Only the owner and admins can mention everyone.");
    private static readonly Refusal Blocked = Refusal.Forbidden("This user does not accept your messages.", ErrorCodes.Blocked);
    private static readonly Refusal NotFriends = Refusal.Forbidden("Direct messages need friendship.", ErrorCodes.NotFriends);
    private static readonly Refusal SendingTooFast = new(429, ErrorCodes.RateLimited, "You are sending too fast.") { RetryAfterSeconds = 1 };
    private static readonly Refusal ClientMsgIdUsedElsewhere = new(409, ErrorCodes.Conflict, "This clientMsgId was already used for a message in another conversation.");

    private static (IReadOnlyList<long> Ids, bool All) ParseMentions(Validation v, IReadOnlyList<string>? mentions)
    {
        if (mentions is null || mentions.Count == 0)
        {
            return ([], false);
        }

        if (mentions.Count > MaxMentions)
        {
            v.Add("mentions", $"at most {MaxMentions}");
            return ([], false);
        }

        if (mentions is ["all"])
        {
            return ([], true);
        }

        var ids = new List<long>(mentions.Count);
        foreach (var mention in mentions)
        {
            if (!Ids.TryParse(mention, out var id))
            {
                v.Add("mentions", "must be user ids, or [\"all\"]");
                return ([], false);
            }

            ids.Add(id);
        }

        return (ids, false);
    }

    private async Task<IReadOnlyList<ConversationDto>> ToDtosAsync(long userId, IReadOnlyList<MemberConversationRow> rows, CancellationToken cancellationToken)
    {
        var peers = await _users.GetManyAsync(rows.Select(r => r.PeerOf(userId)).OfType<long>(), cancellationToken);
        var last = await _messages.LastMessagesAsync(rows.Where(r => r.MaxSeq > r.JoinedSeq).Select(r => r.Id).ToList(), cancellationToken);
        var result = new List<ConversationDto>(rows.Count);
        foreach (var r in rows)
        {
            GroupRef? group = null;
            if (r.GroupId is { } groupId && await _groups.GetAsync(groupId, cancellationToken) is { } g)
            {
                group = new GroupRef(Ids.Format(g.Id), g.Name);
            }

            var peer = r.PeerOf(userId) is { } peerId && peers.TryGetValue(peerId, out var p) ? PublicUser.From(p) : null;
            result.Add(new ConversationDto(
                Ids.Format(r.Id),
                r.Type,
                peer,
                group,
                r.MaxSeq,
                r.ReadSeq,
                r.AckSeq,
                r.UnreadCount,
                r.MentionSeq > r.ReadSeq,
                last.TryGetValue(r.Id, out var m) ? ToDto(m) : null));
        }

        return result;
    }

    public static MessageDto ToDto(MessageRow m) => new(
        Ids.Format(m.ConversationId),
        m.Seq,
        m.ClientMsgId,
        Ids.Format(m.SenderId),
        m.Type,
        m.Content is null ? null : new RawJson(m.Content),
        m.ReplyTo,
        new RawJson(m.Mentions ?? "[]"),
        m.SentAt,
        m.RecalledAt is not null);

}
