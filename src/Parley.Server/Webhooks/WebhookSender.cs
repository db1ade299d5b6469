using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Parley.Server.Messaging;
using Parley.Server.Operations;
using Parley.Storage;
using Parley.Storage.Messaging;
using Parley.Storage.Webhooks;

namespace Parley.Server.Webhooks;

/// <summary>
/// Drains the webhook outbox: due events oldest first, one stream (a conversation, a user) at a time in order and up
/// to Webhooks:Concurrency streams at once; a 2xx deletes the event, anything else (a status, a timeout, a refused
/// connection) counts an attempt and schedules the next with exponential backoff and jitter, which holds back that
/// stream's later events only; after Webhooks:MaxAttempts the event is moved aside (failed_at), where the admin API
/// lists and replays it, so no stream waits behind it forever. At least once: an event is deleted only after its
/// 2xx, so a crash in between sends it again (same id). A periodic worker, so cluster mode's leadership lease can
/// wrap it and one node at a time drains the shared outbox. Offline notifications share the outbox and this loop:
/// rows of type <c>push</c> (stream = the push target) go through <see cref="Push.PushDelivery"/> (docs/push.md).
/// </summary>
public sealed partial class WebhookSender(
    Database database,
    WebhookClient client,
    IOptions<WebhookOptions> options,
    TimeProvider time,
    ILogger<WebhookSender> logger,
    WebhookMetrics? metrics = null, // null: webhooks off (the sender runs for offline notifications only)
    Push.PushDelivery? push = null)
    : PeriodicWorker(TimeSpan.FromMilliseconds(options.Value.PollMs), time, logger)
{
    private const int BatchSize = 256;
    private readonly WebhookOptions _options = options.Value;
    private long _nextPruneAt;
    private long _nextCountAt;

    /// <summary>How often the backlog gauges are refreshed (a count over the outbox table).</summary>
    private const long CountEveryMs = 5_000;

    internal const string TypeOff = "event type not in Webhooks:Events";

    /// <summary>PostgreSQL: the session advisory lock the draining node holds (any constant shared by every node).</summary>
    private const long DrainLockKey = 0x5061726C6557; // "ParleW"

    public override async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        if (!database.Outbox.Enabled && push is { Active: false })
        {
            return; // webhooks off and no push target anywhere: nothing can be due
        }

        if (database.Provider != StorageProvider.Postgres)
        {
            await DrainAsync(cancellationToken);
            return;
        }

        // Several nodes on one database: one drains at a time, the others skip their turn. (The cluster's
        // WorkerLeadership lease, once merged, can wrap this worker instead.)
        await using var connection = await database.OpenAsync(cancellationToken);
        if (!await connection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(@DrainLockKey)", new { DrainLockKey }, cancellationToken: cancellationToken)))
        {
            return;
        }

        try
        {
            await DrainAsync(cancellationToken);
        }
        finally
        {
            await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock(@DrainLockKey)", new { DrainLockKey }, cancellationToken: CancellationToken.None));
        }
    }

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        await PruneAsync(cancellationToken);
        await CountAsync(cancellationToken);
        while (!cancellationToken.IsCancellationRequested)
        {
            var now = Time.GetUtcNow().ToUnixTimeMilliseconds();
            var fetched = await WebhookOutbox.DueAsync(database, now, BatchSize, cancellationToken);
            if (fetched.Count == 0)
            {
                return;
            }

            var due = await SetAsideTypesOffAsync(fetched, now);
            var messages = await WebhookOutbox.MessagesAsync(database, due, cancellationToken);
            var endpoints = push is null ? [] : await push.EndpointsAsync(due, cancellationToken);
            var delivered = new ConcurrentBag<long>();
            var pushes = 0; // push rows done with (they have their own metrics)
            var streams = due.GroupBy(row => row.Stream).Select(g => g.ToList()).ToList();
            await Parallel.ForEachAsync(
                streams,
                new ParallelOptions { MaxDegreeOfParallelism = _options.Concurrency, CancellationToken = cancellationToken },
                async (stream, ct) =>
                {
                    foreach (var row in stream)
                    {
                        if (!await (row.Type == Storage.Push.PushStore.OutboxType
                                ? push is null ? Task.FromResult(true) : push.DeliverAsync(row, endpoints, ct) // pushes off now: dropped
                                : DeliverAsync(row, messages, ct)))
                        {
                            break; // its later events wait for it
                        }

                        delivered.Add(row.Id);
                        if (row.Type == Storage.Push.PushStore.OutboxType)
                        {
                            Interlocked.Increment(ref pushes);
                        }
                    }
                });
            await WebhookOutbox.DeleteAsync(database, delivered.ToArray(), CancellationToken.None);
            metrics?.Delivered(delivered.Count - pushes);
            if (fetched.Count < BatchSize || (delivered.IsEmpty && due.Count > 0))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Events written while their type was on that Webhooks:Events no longer has: not sent, moved to the failed list
    /// (listed with why; replayed only once the type is on again; pruned after FailedRetentionDays), so they hold
    /// back nothing. The rest, to deliver.
    /// </summary>
    private async Task<IReadOnlyList<OutboxRow>> SetAsideTypesOffAsync(IReadOnlyList<OutboxRow> rows, long now)
    {
        List<OutboxRow>? wanted = null;
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            if (database.Outbox.Wants(row.Type) || row.Type == Storage.Push.PushStore.OutboxType)
            {
                wanted?.Add(row);
                continue;
            }

            wanted ??= [.. rows.Take(i)];
            await WebhookOutbox.FailAsync(database, row.Id, row.Attempts, null, now, TypeOff, CancellationToken.None);
            metrics?.MovedAside();
            LogTypeOff(Logger, row.Id, row.Type);
        }

        return wanted ?? rows;
    }

    /// <summary>One attempt; true when delivered (or there is nothing left to deliver).</summary>
    private async Task<bool> DeliverAsync(OutboxRow row, Dictionary<(long, long), MessageRow> messages, CancellationToken cancellationToken)
    {
        var body = Body(row, messages);
        if (body is null)
        {
            LogGone(Logger, row.Id, row.Type);
            return true; // the message was deleted since (retention, a dissolved group): nothing to report
        }

        var error = await client.DeliverAsync(row.Type, body, cancellationToken);
        if (error is null)
        {
            return true;
        }

        metrics?.AttemptFailed();
        var attempts = row.Attempts + 1;
        var now = Time.GetUtcNow().ToUnixTimeMilliseconds();
        long? next = attempts >= _options.MaxAttempts ? null : now + Backoff(attempts);
        await WebhookOutbox.FailAsync(database, row.Id, attempts, next, now, error, CancellationToken.None);
        if (next is null)
        {
            metrics?.MovedAside();
            LogMovedAside(Logger, row.Id, row.Type, attempts, error);
        }
        else
        {
            LogRetry(Logger, row.Id, row.Type, attempts, error);
        }

        return false;
    }

    /// <summary>Milliseconds before attempt <paramref name="attempts"/> + 1: doubling from Webhooks:RetryBaseMs up to RetryMaxSeconds, the upper half jittered.</summary>
    private long Backoff(int attempts) => Backoff(attempts, _options.RetryBaseMs, _options.RetryMaxSeconds, Random.Shared.NextDouble());

    /// <summary>The delay for a uniform <paramref name="random"/> in [0, 1): in [d/2, d) for d = min(max, base * 2^(attempts-1)).</summary>
    internal static long Backoff(int attempts, int baseMs, int maxSeconds, double random)
    {
        var delay = Math.Min(maxSeconds * 1000.0, baseMs * Math.Pow(2, Math.Min(attempts - 1, 40)));
        return (long)(delay / 2 + random * delay / 2);
    }

    /// <summary>The event's JSON body <c>{id, type, createdAt, data}</c>; null when a message.created's message is gone.</summary>
    internal static byte[]? Body(OutboxRow row, Dictionary<(long, long), MessageRow> messages)
    {
        ReadOnlyMemory<byte> data;
        if (row.Type == WebhookOutbox.MessageCreated)
        {
            if (row.ConversationId is not { } conversationId || row.Seq is not { } seq || !messages.TryGetValue((conversationId, seq), out var message))
            {
                return null;
            }

            var committed = new CommittedMessage(message);
            _ = committed.MessageFrame;
            data = committed.Json;
        }
        else
        {
            data = System.Text.Encoding.UTF8.GetBytes(row.Data ?? "{}");
        }

        return Body(row.Id.ToString(CultureInfo.InvariantCulture), row.Type, row.CreatedAt, data.Span);
    }

    /// <summary><c>{id, type, createdAt, data}</c> with <paramref name="data"/> written as it is (already JSON).</summary>
    internal static byte[] Body(string id, string type, long createdAt, ReadOnlySpan<byte> data)
    {
        var buffer = new ArrayBufferWriter<byte>(data.Length + 128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("id", id);
            writer.WriteString("type", type);
            writer.WriteNumber("createdAt", createdAt);
            writer.WritePropertyName("data");
            writer.WriteRawValue(data, skipInputValidation: true);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Refreshes the backlog gauges, at most every <see cref="CountEveryMs"/>.</summary>
    private async Task CountAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow().ToUnixTimeMilliseconds();
        if (metrics is null || now < _nextCountAt)
        {
            return;
        }

        _nextCountAt = now + CountEveryMs;
        var (pending, failed) = await WebhookOutbox.CountAsync(database, cancellationToken);
        metrics.Backlog(pending, failed);
    }

    private async Task PruneAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow().ToUnixTimeMilliseconds();
        if (_options.FailedRetentionDays == 0 || now < _nextPruneAt)
        {
            return;
        }

        _nextPruneAt = now + 600_000;
        var pruned = await WebhookOutbox.PruneFailedAsync(database, now - _options.FailedRetentionDays * 86_400_000L, cancellationToken);
        if (pruned > 0)
        {
            LogPruned(Logger, pruned, _options.FailedRetentionDays);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook event {Id} ({Type}) attempt {Attempts} failed: {Error}; retrying with backoff")]
    private static partial void LogRetry(ILogger logger, long id, string type, int attempts, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook event {Id} ({Type}) failed {Attempts} times (last: {Error}); moved to the failed list")]
    private static partial void LogMovedAside(ILogger logger, long id, string type, int attempts, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook event {Id} ({Type}) not sent: its type is not in Webhooks:Events any more; moved to the failed list")]
    private static partial void LogTypeOff(ILogger logger, long id, string type);

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook event {Id} ({Type}) dropped: its message no longer exists")]
    private static partial void LogGone(ILogger logger, long id, string type);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} failed webhook events older than {Days} days deleted")]
    private static partial void LogPruned(ILogger logger, int count, int days);
}
