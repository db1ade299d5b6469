using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using Parley.Server.Webhooks;
using Parley.Storage;
using Parley.Storage.Push;
using Parley.Storage.Webhooks;

namespace Parley.Server.Push;

/// <summary>
/// The push rows' part of the webhook sender's drain (<see cref="WebhookSender"/>: same outbox, same loop, same
/// per-stream order; a push's stream is its target, so a failing endpoint holds back only its own pushes). Per batch
/// the live targets' endpoints are read once; a push whose target was deleted (or whose session was revoked) since it
/// was written is dropped unsent. A 2xx delivers; 404 or 410 (the UnifiedPush and Web Push answer for an endpoint
/// that no longer exists) deletes the target; anything else is retried with Push:RetryBaseMs doubling backoff up to
/// Push:MaxAttempts, then dropped (a stale notification is worth nothing: it is not kept on the failed list).
/// </summary>
public sealed partial class PushDelivery(Database database, PushStore store, PushTargets targets, PushClient client, PushMetrics metrics, IOptions<PushOptions> options, TimeProvider time, ILogger<PushDelivery> logger)
{
    private readonly PushOptions _options = options.Value;

    /// <summary>Whether any user has a target (with webhooks off, the sender does not even look at the outbox otherwise).</summary>
    public bool Active => targets.Any;

    /// <summary>The endpoints of the push rows' targets that are still live, by target id (empty when the batch has no push).</summary>
    public async Task<Dictionary<long, string>> EndpointsAsync(IReadOnlyList<OutboxRow> due, CancellationToken cancellationToken)
    {
        List<long>? ids = null;
        foreach (var row in due)
        {
            if (row.Type == PushStore.OutboxType)
            {
                (ids ??= []).Add(row.Stream);
            }
        }

        return ids is null ? [] : await store.EndpointsAsync(ids.Distinct().ToList(), cancellationToken);
    }

    /// <summary>One attempt; true when the row is done with (delivered, or dropped), false when it waits for a retry.</summary>
    public async Task<bool> DeliverAsync(OutboxRow row, Dictionary<long, string> endpoints, CancellationToken cancellationToken)
    {
        if (!endpoints.TryGetValue(row.Stream, out var endpoint))
        {
            return true; // the target is gone (deleted, its session revoked): nothing to send
        }

        var outcome = await client.PostAsync(endpoint, row.Id.ToString(CultureInfo.InvariantCulture), Encoding.UTF8.GetBytes(row.Data ?? "{}"), cancellationToken);
        if (outcome.Delivered)
        {
            metrics.Delivered();
            return true;
        }

        metrics.AttemptFailed();
        if (outcome.Gone)
        {
            await store.DeleteAsync(row.Stream, CancellationToken.None);
            metrics.Gone();
            LogGone(logger, row.Stream, outcome.Error!);
            return true;
        }

        var attempts = row.Attempts + 1;
        if (attempts >= _options.MaxAttempts)
        {
            metrics.Dropped();
            LogDropped(logger, row.Id, row.Stream, attempts, outcome.Error!);
            return true;
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var next = now + WebhookSender.Backoff(attempts, _options.RetryBaseMs, _options.RetryMaxSeconds, Random.Shared.NextDouble());
        await WebhookOutbox.FailAsync(database, row.Id, attempts, next, now, outcome.Error!, CancellationToken.None);
        LogRetry(logger, row.Id, row.Stream, attempts, outcome.Error!);
        return false;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Push {Id} to target {Target}: attempt {Attempts} failed ({Error}); retrying with backoff")]
    private static partial void LogRetry(ILogger logger, long id, long target, int attempts, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Push {Id} to target {Target} failed {Attempts} times (last: {Error}); dropped")]
    private static partial void LogDropped(ILogger logger, long id, long target, int attempts, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Push target {Target} answered {Error}: the endpoint is gone, the target is deleted")]
    private static partial void LogGone(ILogger logger, long target, string error);
}
