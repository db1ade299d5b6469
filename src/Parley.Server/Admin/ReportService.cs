using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Groups;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Server.Moderation;
using Parley.Storage;
using Parley.Storage.Admin;
using Parley.Storage.Messaging;

namespace Parley.Server.Admin;

/// <summary>
/// <c>POST /api/conversations/{id}/messages/{seq}/report</c>: a member reports a message they can see (a seq in
/// their membership window). Anyone else gets 404, as for reading it. Bounded per user and hour
/// (<c>Moderation:ReportsPerHour</c>), one report per reporter and message (a repeat is a quiet 204).
/// </summary>
public sealed class ReportService(
    ConversationViews views,
    MessageStore messages,
    ReportStore reports,
    LookupThrottle lookups,
    IdGenerator ids,
    TimeProvider time,
    IOptions<ModerationOptions> options,
    Cluster.SharedLimits? shared = null) : IDisposable
{
    public const int MaxReason = 500;

    // Across nodes in cluster mode (Redis), like the other hourly quotas.
    private readonly HourlyQuota _quota = new(options.Value.ReportsPerHour, time, shared, "reports");

    public async Task ReportAsync(Caller caller, string conversationId, string seqText, ReportBody body, CancellationToken cancellationToken)
    {
        var reason = body.Reason?.Trim();
        if (string.IsNullOrEmpty(reason) || reason.Length > MaxReason || AccountRules.HasControl(reason, allowLineBreaks: true))
        {
            throw ApiException.Invalid("reason", $"must be 1-{MaxReason} characters without control characters other than line breaks");
        }

        if (!Ids.TryParse(conversationId, out var id) || !long.TryParse(seqText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seq) || seq < 1)
        {
            throw NotFound(caller);
        }

        var view = await views.GetAsync(id, cancellationToken);
        if (view is null || !view.Members.TryGetValue(caller.UserId, out var me) || seq <= me.JoinedSeq)
        {
            throw NotFound(caller);
        }

        var message = await messages.GetMessageAsync(id, seq, cancellationToken) ?? throw ApiException.NotFound("Message");
        // Its content is gone: a report would hold no evidence. (One made before the recall keeps its copy.)
        if (message.RecalledAt is not null)
        {
            throw new ApiException(409, ErrorCodes.Conflict, "This message was recalled; there is nothing left to report.");
        }

        if (message.SenderId == caller.UserId)
        {
            throw ApiException.Invalid("seq", "a message of your own cannot be reported (recall it instead)");
        }

        if (await _quota.TryTakeAsync(caller.UserId) is { } wait)
        {
            throw UserQuotas.Limited($"At most {options.Value.ReportsPerHour} reports per hour; try again later.", wait);
        }

        var created = await reports.CreateAsync(
            new ReportRow
            {
                Id = ids.Next(),
                ConversationId = id,
                Seq = seq,
                ReporterId = caller.UserId,
                SenderId = message.SenderId,
                MessageType = message.Type,
                Content = message.Content,
                Reason = reason,
                CreatedAt = time.GetUtcNow().ToUnixTimeMilliseconds(),
            },
            cancellationToken);
        if (!created)
        {
            await _quota.RefundAsync(caller.UserId); // a repeat stores nothing, so it costs nothing
        }
    }

    private ApiException NotFound(Caller caller) => lookups.Miss(caller.UserId, MessageSender.ConversationNotFound).ToException();

    public void Dispose() => _quota.Dispose();
}
