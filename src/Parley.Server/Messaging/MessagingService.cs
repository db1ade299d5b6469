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
/// Conversations and messages besides sending (<see cref="MessageSender"/>): who may read where, history, read
/// markers, acks, typing, recalls, and the shapes the contract gives them. The same calls serve HTTP and (with
/// the frame dispatcher) WebSocket, so both have identical semantics.
/// </summary>
public sealed class MessagingService
{
    private readonly MessageStore _messages;
    private readonly ConversationViews _views;
    private readonly PostCommitRoute _route;
    private readonly UserStore _users;
    private readonly GroupStore _groups;
    private readonly SocialStore _social;
    private readonly LookupThrottle _lookups;
    private readonly IdGenerator _ids;
    private readonly TimeProvider _time;
    private readonly MessagingOptions _options;

    public MessagingService(
        MessageStore messages,
        ConversationViews views,
        PostCommitRoute route,
        UserStore users,
        GroupStore groups,
        SocialStore social,
        LookupThrottle lookups,
        IdGenerator ids,
        TimeProvider time,
        IOptions<MessagingOptions> options)
    {
        _messages = messages;
        _views = views;
        _route = route;
        _users = users;
        _groups = groups;
        _social = social;
        _lookups = lookups;
        _ids = ids;
        _time = time;
        _options = options.Value;
    }

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private readonly TypingGate _typing = new();

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

    /// <summary>
    /// A member's own settings of the conversation: <c>{muted}</c> (no offline notifications for it). Any non-member,
    /// and a conversation that does not exist, is 404: whether it exists is not the caller's to know.
    /// </summary>
    public async Task<ConversationDto> PatchAsync(Caller caller, string conversationId, ConversationPatch body, CancellationToken cancellationToken)
    {
        if (body.Muted is not { } muted)
        {
            throw ApiException.Invalid("muted", "must be true or false");
        }

        if (!Ids.TryParse(conversationId, out var id) || !await _messages.SetMutedAsync(id, caller.UserId, muted, cancellationToken))
        {
            throw _lookups.Miss(caller.UserId, MessageSender.ConversationNotFound).ToException();
        }

        return await GetAsync(caller, conversationId, cancellationToken);
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

        if (!Ids.TryParse(conversationId, out var id))
        {
            return _lookups.Miss(caller.UserId, MessageSender.ConversationNotFound);
        }

        // The view, not the member's conversation row: a page needs no unread count.
        if (!(await MemberAsync(caller, id, cancellationToken)).TryGetValue(out var view, out var refusal))
        {
            return refusal;
        }

        // The view's seq is read before the rows: every seq up to it has committed, so the rows hold all of them. Read
        // after, it could name a message committed after the rows were read, which the client would then skip.
        var knownMaxSeq = view.MaxSeq;
        var budget = Math.Min(_options.MaxPageBytes, maxBytes ?? long.MaxValue);
        var (rows, hasMore) = await _messages.ReadAsync(view.Id, caller.UserId, view.Members[caller.UserId].JoinedSeq, after ?? 0, before, limit, budget, cancellationToken);
        // Messages may have committed between reading the view and the rows (and other nodes' commits lag in the view).
        var maxSeq = Math.Max(knownMaxSeq, rows.Count > 0 ? rows[^1].Seq : 0);
        return new MessagePage(rows.Select(ToDto).ToList(), hasMore, maxSeq);
    }

    /// <summary>Moves the caller's read marker; null when done, else why not. Checked against the conversation's view.</summary>
    public async Task<Refusal?> MarkReadAsync(Caller caller, string conversationId, ReadBody body, CancellationToken cancellationToken, long? originConnectionId = null)
    {
        if (body.Seq is not { } seq || seq < 0)
        {
            return Refusal.Invalid("seq", "must be a seq (a whole number >= 0)");
        }

        return Ids.TryParse(conversationId, out var id)
            ? await MarkReadAsync(caller, id, seq, cancellationToken, originConnectionId)
            : _lookups.Miss(caller.UserId, MessageSender.ConversationNotFound);
    }

    /// <summary>Moves the caller's read marker to <paramref name="seq"/> (at most the conversation's latest); null when done, else why not.</summary>
    public async Task<Refusal?> MarkReadAsync(Caller caller, long conversationId, long seq, CancellationToken cancellationToken, long? originConnectionId = null)
    {
        if (!(await MemberAsync(caller, conversationId, cancellationToken)).TryGetValue(out var view, out var refusal))
        {
            return refusal;
        }

        var readSeq = Math.Min(seq, await MaxSeqAsync(view, seq, cancellationToken));
        if (await _messages.MarkReadAsync(view.Id, caller.UserId, readSeq, cancellationToken))
        {
            // Direct: the peer sees it (read receipts) and my other devices; group: my other devices only. A peer
            // who blocked the caller is not told.
            IReadOnlyList<long> recipients = view.PeerOf(caller.UserId) is { } peer && !view.Blocks(peer)
                ? [caller.UserId, peer]
                : [caller.UserId];
            _route.Read(view.Id, caller.UserId, readSeq, recipients, originConnectionId);
        }

        return null;
    }

    /// <summary>Tells the other members that the caller is typing; nothing is stored. Null when done, else why not.</summary>
    public async Task<Refusal?> TypingAsync(Caller caller, long conversationId, CancellationToken cancellationToken)
    {
        if (!(await MemberAsync(caller, conversationId, cancellationToken)).TryGetValue(out var view, out var refusal))
        {
            return refusal;
        }

        // A hint, passed on at most once a second per user and conversation across all of the user's sockets
        // (each socket also drops its own repeats): ten sockets must not make ten times the typing traffic.
        if (!_typing.TryPass(caller.UserId, view.Id, Now))
        {
            return null;
        }

        if (view.PeerOf(caller.UserId) is { } peer)
        {
            // A peer who blocked the caller hears nothing of them.
            if (!view.Blocks(peer))
            {
                _route.Typing(view.Id, caller.UserId, [peer]);
            }

            return null;
        }

        var others = new List<long>(view.MemberList.Count);
        foreach (var (userId, _) in view.MemberList)
        {
            if (userId != caller.UserId)
            {
                others.Add(userId);
            }
        }

        _route.Typing(view.Id, caller.UserId, await WithoutBlockersAsync(caller.UserId, others, cancellationToken));
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
    public async Task<Refusal?> AckAsync(Caller caller, long conversationId, long seq, CancellationToken cancellationToken)
    {
        if (!(await MemberAsync(caller, conversationId, cancellationToken)).TryGetValue(out var view, out var refusal))
        {
            return refusal;
        }

        seq = Math.Max(seq, 0);
        await _messages.AckAsync(caller.SessionId, view.Id, Math.Min(seq, await MaxSeqAsync(view, seq, cancellationToken)), cancellationToken);
        return null;
    }

    /// <summary>
    /// The conversation's view when the caller is a member: 404 when it does not exist or is a private group's
    /// (outsiders cannot tell it exists), 403 when they are not a member of another. No database read when held.
    /// </summary>
    private async ValueTask<Result<ConversationView>> MemberAsync(Caller caller, long conversationId, CancellationToken cancellationToken)
    {
        var view = await _views.GetAsync(conversationId, cancellationToken);
        if (view is not null && view.Members.ContainsKey(caller.UserId))
        {
            return view;
        }

        return view is null || view.Hidden ? _lookups.Miss(caller.UserId, MessageSender.ConversationNotFound) : MessageSender.NotAMember;
    }

    /// <summary>The view's latest seq, asked of the database only when <paramref name="wanted"/> is beyond it (another node's commits).</summary>
    private async ValueTask<long> MaxSeqAsync(ConversationView view, long wanted, CancellationToken cancellationToken)
    {
        if (wanted > view.MaxSeq)
        {
            view.RaiseMaxSeq(await _messages.MaxSeqAsync(view.Id, cancellationToken));
        }

        return view.MaxSeq;
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
            // Through the route, behind the message itself (published before its sender was answered).
            _route.Recalled(view.Id, seq, caller.UserId);
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
            return _lookups.Miss(caller.UserId, MessageSender.ConversationNotFound);
        }

        if (await _messages.GetForMemberAsync(id, caller.UserId, caller.SessionId, cancellationToken) is { } view)
        {
            return view;
        }

        var conversation = await _messages.GetConversationAsync(id, cancellationToken);
        if (conversation is null
            || (conversation.GroupId is { } groupId && (await _groups.GetAsync(groupId, cancellationToken))?.Visibility is null or "private"))
        {
            return _lookups.Miss(caller.UserId, MessageSender.ConversationNotFound);
        }

        return MessageSender.NotAMember;
    }

    private async Task<MessageRow> VisibleMessageAsync(MemberConversationRow view, long seq, CancellationToken cancellationToken) =>
        seq > view.JoinedSeq && seq <= view.MaxSeq && await _messages.GetMessageAsync(view.Id, seq, cancellationToken) is { } message
            ? message
            : throw ApiException.NotFound("Message");

    private async Task CheckDirectAllowedAsync(long userId, long peerId, CancellationToken cancellationToken)
    {
        var blocked = await _social.IsBlockedAsync(peerId, userId, cancellationToken);
        if (MessageSender.DirectRefusal(blocked, blocked || _options.DirectMessages == "anyone" || await _social.AreFriendsAsync(userId, peerId, cancellationToken), _options) is { } refusal)
        {
            throw refusal.ToException();
        }
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
                group = new GroupRef(Ids.Format(g.Id), g.Name, Ids.Format(g.AvatarFileId));
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
                r.Muted != 0,
                last.TryGetValue(r.Id, out var m) ? ToDto(m) : null,
                r.PeerReadSeq));
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
