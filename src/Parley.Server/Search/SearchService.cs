using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Groups;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Search;

namespace Parley.Server.Search;

/// <summary>
/// <c>GET /api/search/messages</c>: the caller's messages matching a query (docs/search.md), newest first. What
/// a caller may find is what history would show them: conversations they are a member of, from their join on,
/// never recalled, hidden-for-them or expired messages (the store applies the rule in its SQL).
/// </summary>
public sealed class SearchService(
    MessageSearchStore store,
    ConversationViews views,
    LookupThrottle lookups,
    TimeProvider time,
    IOptions<SearchOptions> options,
    IOptions<MessagingOptions> messaging)
{
    private readonly SearchOptions _options = options.Value;
    private readonly MessagingOptions _messaging = messaging.Value;

    public async Task<Result<ListResponse<MessageDto>>> SearchAsync(
        Caller caller, string query, string? conversationId, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var length = MessageSearchStore.CodePoints(query);
        if (length < 2 || string.IsNullOrWhiteSpace(query))
        {
            return Refusal.Invalid("q", "must have at least 2 characters other than spaces");
        }

        if (length > _options.MaxQueryLength)
        {
            return Refusal.Invalid("q", $"must have at most {_options.MaxQueryLength} characters");
        }

        if (!store.TryParseCursor(cursor, out var after))
        {
            return Refusal.Invalid("cursor", "is not a cursor this server issued");
        }

        long? scope = null;
        if (conversationId is not null)
        {
            // As history answers: 404 for what the caller may not know exists, 403 for a conversation they are not in.
            if (!Ids.TryParse(conversationId, out var id))
            {
                return lookups.Miss(caller.UserId, MessageSender.ConversationNotFound);
            }

            var view = await views.GetAsync(id, cancellationToken);
            if (view is null || !view.Members.ContainsKey(caller.UserId))
            {
                return view is null || view.Hidden ? lookups.Miss(caller.UserId, MessageSender.ConversationNotFound) : MessageSender.NotAMember;
            }

            scope = id;
        }

        // Messages past retention may wait for the next sweep: they are never found meanwhile.
        var sentAfter = _messaging.RetentionDays > 0
            ? (time.GetUtcNow() - TimeSpan.FromDays(_messaging.RetentionDays)).ToUnixTimeMilliseconds()
            : 0;
        var (rows, next) = await store.SearchAsync(
            caller.UserId, scope, query, after, limit, _messaging.MaxPageBytes, sentAfter, Math.Max(1, _options.ShortQueryScanDepth), cancellationToken);
        return new ListResponse<MessageDto>(rows.Select(MessagingService.ToDto).ToList(), next);
    }
}
