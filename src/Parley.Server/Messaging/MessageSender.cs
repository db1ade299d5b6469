using Microsoft.Extensions.Options;
using Parley.Protocol;
using Parley.Server.Accounts;
using Parley.Server.Groups;
using Parley.Server.Http;
using Parley.Server.Operations;
using Parley.Storage.Messaging;

namespace Parley.Server.Messaging;

/// <summary>A sent message and whether this send stored it (false: a retry, answered with the original).</summary>
public readonly record struct SentMessage(CommittedMessage Message, bool Created);

/// <summary>
/// The one sender of messages, for HTTP and WebSocket alike: a <see cref="SendCommand"/> (already checked member by
/// member by <see cref="SendCommand.TryCreate"/>) is checked against the conversation's in-memory view (membership,
/// role, mute, friendship and blocks; no database read in the steady state), its content against its type's rules,
/// then appended through the pipeline. Refusals are values, never exceptions. A retry (a clientMsgId already stored)
/// gets the original message with its seq whatever changed since (rate, mute, unfriending): the writer finds it
/// in the committing transaction, and a send about to be refused first asks the database for it.
/// </summary>
public sealed class MessageSender(
    ConversationViews views,
    MessageStore messages,
    MessagePipeline pipeline,
    IFileAccess files,
    SendRateLimiter rate,
    LookupThrottle lookups,
    TimeProvider time,
    IOptions<MessagingOptions> options,
    ParleyMetrics metrics,
    Cluster.ClusterOptions cluster,
    Moderation.Moderator moderation,
    Webhooks.BeforeSendHook? hook = null)
{
    private readonly MessagingOptions _options = options.Value;

    // Cluster mode: another node may change members or blocks at any time, so each send is checked at its commit
    // against the members version its view was loaded with (one node's own versions are always current).
    private readonly bool _checkAtCommit = cluster.Enabled;

    /// <summary>Sends; <paramref name="originConnectionId"/> is the socket that gets <c>sent</c> (the fan-out skips it).</summary>
    public ValueTask<Result<SentMessage>> SendAsync(Caller caller, SendCommand command, long? originConnectionId, CancellationToken cancellationToken)
    {
        // Checking completes synchronously in the steady state (the view is held), so a send's one state machine
        // is CommitAsync's, small for what it keeps while the batch commits.
        var checking = CheckAsync(caller, command, system: false, cancellationToken);
        return checking.IsCompletedSuccessfully
            ? CommitOrAnswer(checking.Result, originConnectionId, cancellationToken)
            : CommitAfterCheckAsync(checking, originConnectionId, cancellationToken);
    }

    /// <summary>
    /// A send made by the app server in a user's name (<c>POST /api/admin/messages</c>): every check of a send but
    /// friendship (blocks, membership, mute and content rules still apply) and the user's send rate; the same pipeline.
    /// </summary>
    public async ValueTask<Result<SentMessage>> SendAsSystemAsync(long fromUserId, SendCommand command, CancellationToken cancellationToken)
    {
        var check = await CheckAsync(new Caller(fromUserId, 0), command, system: true, cancellationToken);
        return check.Message is { } message ? await CommitAsync(message, null, cancellationToken, system: true) : check.Answer;
    }

    /// <summary>
    /// A message the server writes itself in a user's name (a call's <c>call</c> record, sent by the caller): as
    /// <see cref="SendAsSystemAsync"/>, and its type may be one of the server's own (<c>call</c>), which no client may send.
    /// </summary>
    public async ValueTask<Result<SentMessage>> SendServerMessageAsync(long fromUserId, SendCommand command, CancellationToken cancellationToken)
    {
        var check = await CheckAsync(new Caller(fromUserId, 0), command, system: true, cancellationToken, serverTypes: true);
        return check.Message is { } message ? await CommitAsync(message, null, cancellationToken, system: true) : check.Answer;
    }

    private async ValueTask<Result<SentMessage>> CommitAfterCheckAsync(ValueTask<(NewMessage? Message, Result<SentMessage> Answer)> checking, long? originConnectionId, CancellationToken cancellationToken) =>
        await CommitOrAnswer(await checking, originConnectionId, cancellationToken);

    private ValueTask<Result<SentMessage>> CommitOrAnswer((NewMessage? Message, Result<SentMessage> Answer) check, long? originConnectionId, CancellationToken cancellationToken) =>
        check.Message is { } message ? CommitAsync(message, originConnectionId, cancellationToken) : new(check.Answer);

    private async ValueTask<Result<SentMessage>> CommitAsync(NewMessage message, long? originConnectionId, CancellationToken cancellationToken, bool system = false)
    {
        var appended = await pipeline.AppendAsync(message, originConnectionId, cancellationToken);
        return IsStale(message, appended) ? await RecheckAsync(message, originConnectionId, cancellationToken, system) : Answer(message, appended);
    }

    /// <summary>
    /// Whether the commit stored nothing for a send checked against a members version (cluster mode): the view was
    /// older than the database's, or the sender is no member any more; <see cref="RecheckAsync"/> then decides.
    /// </summary>
    public static bool IsStale(NewMessage message, (CommittedMessage? Message, bool Created) appended) =>
        appended.Message is null && message.MembersVersion >= 0;

    /// <summary>
    /// Cluster mode, after <see cref="IsStale"/>: reloads the view from the database, checks the send again (members,
    /// roles, mutes, blocks, friendship as committed, possibly on another node) and appends again against the new
    /// version. A few rounds at most: each is lost only to another change committed in between.
    /// </summary>
    public async ValueTask<Result<SentMessage>> RecheckAsync(NewMessage message, long? originConnectionId, CancellationToken cancellationToken, bool system = false)
    {
        for (var round = 0; round < 3; round++)
        {
            var view = await views.ReloadAsync(message.ConversationId, cancellationToken);
            if (view is null)
            {
                return Refused(ConversationNotFound);
            }

            if (!view.Members.TryGetValue(message.SenderId, out var me))
            {
                return Refused(view.Hidden ? ConversationNotFound : NoLongerAMember);
            }

            if (MaySend(view, me, message.SenderId, message.MentionsAll, time.GetUtcNow().ToUnixTimeMilliseconds(), system) is { } notAllowed)
            {
                return Refused(notAllowed);
            }

            if (message.ReplyTo is { } replyTo && replyTo <= me.JoinedSeq)
            {
                return Refused(BadReplyTo);
            }

            var again = message with { MembersVersion = view.MembersVersion };
            var appended = await pipeline.AppendAsync(again, originConnectionId, cancellationToken);
            if (!IsStale(again, appended))
            {
                return Answer(again, appended);
            }
        }

        return Refused(NoLongerAMember);
    }

    /// <summary>
    /// The first half of a send, for a caller that waits for the commit itself (the socket's dispatcher: its state
    /// machine is then the only one boxed per send): the message to append, or the send's answer already.
    /// </summary>
    public ValueTask<(NewMessage? Message, Result<SentMessage> Answer)> PrepareAsync(Caller caller, SendCommand command, CancellationToken cancellationToken) =>
        CheckAsync(caller, command, system: false, cancellationToken);

    /// <summary>
    /// The second half: appends a prepared message; completes when it is committed. Map the result with <see cref="Answer"/>,
    /// or with <see cref="RecheckAsync"/> when <see cref="IsStale"/>.
    /// </summary>
    public ValueTask<(CommittedMessage? Message, bool Created)> AppendAsync(NewMessage message, long? originConnectionId, CancellationToken cancellationToken) =>
        pipeline.AppendAsync(message, originConnectionId, cancellationToken);

    /// <summary>The send's answer once its message was appended.</summary>
    public Result<SentMessage> Answer(NewMessage message, (CommittedMessage? Message, bool Created) appended)
    {
        if (appended.Message is not { } committed)
        {
            return Refused(NoLongerAMember);
        }

        return committed.Row.ConversationId == message.ConversationId ? new SentMessage(committed, appended.Created) : Refused(ClientMsgIdUsedElsewhere);
    }

    /// <summary>The message to append, or (when there is none) the send's answer already: a refusal, or the original of a retry.</summary>
    private async ValueTask<(NewMessage? Message, Result<SentMessage> Answer)> CheckAsync(Caller caller, SendCommand command, bool system, CancellationToken cancellationToken, bool serverTypes = false)
    {
        var view = await views.GetAsync(command.ConversationId, cancellationToken);
        if (view is null)
        {
            return (null, NotFound(caller));
        }

        // Outsiders of a private group cannot tell it exists; of anything else, they are told they are no member.
        if (!view.Members.TryGetValue(caller.UserId, out var me))
        {
            return (null, view.Hidden ? NotFound(caller) : Refused(NotAMember));
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var (checkedContent, refusal) = await CheckContentAsync(caller, command, view, me, now, system, cancellationToken, serverTypes);
        if (refusal is not null)
        {
            // A retry returns the original whatever happened since (rate, mute, unfriending).
            if (await messages.FindByClientIdAsync(caller.UserId, command.ClientMsgId, cancellationToken) is { } original)
            {
                return (null, original.ConversationId == view.Id ? new SentMessage(new CommittedMessage(original), false) : Refused(ClientMsgIdUsedElsewhere));
            }

            return (null, Refused(refusal));
        }

        var content = checkedContent.GetValueOrDefault();
        var message =
            new NewMessage(
                view.Id,
                caller.UserId,
                command.ClientMsgId,
                command.MsgType,
                content.Json,
                command.ReplyTo,
                command.MentionsJson(),
                command.MentionIds,
                command.MentionsAll,
                now,
                content.FileIds) { MembersVersion = _checkAtCommit ? view.MembersVersion : -1 };

        // Webhooks:BeforeSend: the app server decides, in this send's own task (never in the batch or the writer).
        return hook is null ? (message, default) : await AskHookAsync(caller, message, cancellationToken);
    }

    /// <summary>
    /// With the hook on, a retry is answered before it is asked (the original, or 409 for another conversation's
    /// clientMsgId): one lookup by clientMsgId per send, only then, beside the hook's own round trip.
    /// </summary>
    private async ValueTask<(NewMessage? Message, Result<SentMessage> Answer)> AskHookAsync(Caller caller, NewMessage message, CancellationToken cancellationToken)
    {
        if (await messages.FindByClientIdAsync(caller.UserId, message.ClientMsgId, cancellationToken) is { } original)
        {
            return (null, original.ConversationId == message.ConversationId ? new SentMessage(new CommittedMessage(original), false) : Refused(ClientMsgIdUsedElsewhere));
        }

        return await DecideAsync(caller, message, cancellationToken);
    }

    /// <summary>
    /// The before-send hook's decision: the message (or its replacement), or its refusal. A replacement naming a file
    /// the sender may not use is no valid answer: the FailOpen rule decides, as for a timeout.
    /// </summary>
    private async ValueTask<(NewMessage? Message, Result<SentMessage> Answer)> DecideAsync(Caller caller, NewMessage message, CancellationToken cancellationToken)
    {
        var decision = await hook!.DecideAsync(message, cancellationToken);
        if (decision is { Replaced: true, Message: { } replaced })
        {
            foreach (var fileId in replaced.FileIds)
            {
                if (!message.FileIds.Contains(fileId) && !await files.CanUseAsync(caller.UserId, fileId, cancellationToken))
                {
                    decision = hook.NoAnswer(message, "replacement names a file the sender may not use");
                    break;
                }
            }
        }

        if (decision.Message is { } decided)
        {
            return (decided, default);
        }

        // A retry returns the original whatever the hook says now.
        if (await messages.FindByClientIdAsync(caller.UserId, message.ClientMsgId, cancellationToken) is { } original)
        {
            return (null, original.ConversationId == message.ConversationId ? new SentMessage(new CommittedMessage(original), false) : Refused(ClientMsgIdUsedElsewhere));
        }

        return (null, Refused(decision.Refusal!));
    }

    /// <summary>The 404 of a conversation the caller cannot know (a lookup miss, counted against enumeration).</summary>
    public Refusal NotFound(Caller caller) => Refused(lookups.Miss(caller.UserId, ConversationNotFound));

    /// <summary>The content validated, or why this send may not be made (in the order the contract answers them).</summary>
    private async ValueTask<(ValidatedContent? Content, Refusal? Refusal)> CheckContentAsync(Caller caller, SendCommand command, ConversationView view, ViewMember me, long now, bool system, CancellationToken cancellationToken, bool serverTypes)
    {
        if (!MessageValidator.Validate(command.MsgType, command.Content, _options, serverTypes).TryGetValue(out var content, out var badContent))
        {
            return (null, badContent);
        }

        // Without a blocked-words list this is one field read.
        if (moderation.Active && command.MsgType == "text")
        {
            if (MessageValidator.ModerateText(command.Content, content, moderation) is not { } moderated)
            {
                return (null, Moderation.Moderator.Rejected);
            }

            content = moderated;
        }

        if (!system && !await rate.TryTakeAsync(caller.UserId))
        {
            return (null, SendingTooFast);
        }

        if (MaySend(view, me, caller.UserId, command.MentionsAll, now, system) is { } notAllowed)
        {
            return (null, notAllowed);
        }

        if (command.ReplyTo is { } replyTo)
        {
            // The view's seq may lag another node's commits: ask the database before refusing.
            if (replyTo > view.MaxSeq)
            {
                view.RaiseMaxSeq(await messages.MaxSeqAsync(view.Id, cancellationToken));
            }

            if (replyTo > view.MaxSeq || replyTo <= me.JoinedSeq)
            {
                return (null, BadReplyTo);
            }
        }

        foreach (var fileId in content.FileIds)
        {
            if (!await files.CanUseAsync(caller.UserId, fileId, cancellationToken))
            {
                return (null, BadFile);
            }
        }

        return (content, null);
    }

    /// <summary>Null when the caller may send here (with these mentions), else why not.</summary>
    private Refusal? MaySend(ConversationView view, ViewMember me, long userId, bool mentionsAll, long now, bool system)
    {
        if (view.IsDirect)
        {
            return DirectRefusal(view.Blocks(view.PeerOf(userId)!.Value), system || view.Befriends(userId), _options);
        }

        if (me.Role is not { } role)
        {
            return NotAGroupMember;
        }

        if (me.MutedUntil is { } until && until > now)
        {
            return Muted;
        }

        return mentionsAll && !GroupPolicy.IsManager(role) ? MentionAllForbidden : null;
    }

    /// <summary>The direct-message rule: the peer must not block the sender, and (by default) they must be friends.</summary>
    internal static Refusal? DirectRefusal(bool blocked, bool friends, MessagingOptions options)
    {
        if (blocked)
        {
            return Blocked;
        }

        return options.DirectMessages != "anyone" && !friends ? NotFriends : null;
    }

    /// <summary>Counts a refused send by its reason, and returns the refusal.</summary>
    private Refusal Refused(Refusal refusal)
    {
        metrics.SendRefused(refusal.Code);
        return refusal;
    }

    // The refusals of the hot path, made once: a refused send allocates nothing for its answer.
    internal static readonly Refusal ConversationNotFound = Refusal.NotFound("Conversation");
    internal static readonly Refusal NotAMember = Refusal.Forbidden("You are not a member of this conversation.");
    private static readonly Refusal NoLongerAMember = Refusal.Forbidden("You are no longer a member of this conversation.");
    private static readonly Refusal NotAGroupMember = Refusal.Forbidden("You are not a member of this group.");
    private static readonly Refusal Muted = Refusal.Forbidden("You are muted in this group.", ErrorCodes.Muted);
    private static readonly Refusal MentionAllForbidden = Refusal.Forbidden("Only the owner and admins can mention everyone.");
    private static readonly Refusal Blocked = Refusal.Forbidden("This user does not accept your messages.", ErrorCodes.Blocked);
    private static readonly Refusal NotFriends = Refusal.Forbidden("Direct messages need friendship.", ErrorCodes.NotFriends);
    private static readonly Refusal SendingTooFast = new(429, ErrorCodes.RateLimited, "You are sending too fast.") { RetryAfterSeconds = 1 };
    internal static readonly Refusal ClientMsgIdUsedElsewhere = new(409, ErrorCodes.Conflict, "This clientMsgId was already used for a message in another conversation.");
    private static readonly Refusal BadReplyTo = Refusal.Invalid("replyTo", "must be the seq of a message in this conversation");
    private static readonly Refusal BadFile = Refusal.Invalid("content.fileId", "is not a file you may use");
}
