using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Parley.Server.Operations;
using Parley.Storage.Messaging;

namespace Parley.Server.Messaging;

/// <summary>
/// The write path of every message: sends queue here and one writer commits them in batches (group
/// commit), so throughput is not bounded by one fsync per message. A send completes only after its batch
/// has committed. If a batch fails, its messages are retried one by one so one bad send cannot fail others.
/// Committed batches then go, in commit order, to one fan-out stage, so live pushes leave in seq order and
/// only to the members who could see each message.
/// </summary>
public sealed partial class MessagePipeline : BackgroundService
{
    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(16_384)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private readonly Channel<List<Pending>> _committed = Channel.CreateUnbounded<List<Pending>>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly MessageStore _store;
    private readonly IMessageEvents _events;
    private readonly ILogger<MessagePipeline> _logger;
    private readonly int _maxBatch;
    private readonly ParleyMetrics _metrics;
    private readonly MembershipVersions _versions;

    /// <summary>Member lists by conversation, each with the membership version read before it was loaded.</summary>
    private readonly ConcurrentDictionary<long, MemberList> _members = new();

    /// <summary>Temporary groups' latest message times, written to the database once a second (not per message).</summary>
    private readonly ConcurrentDictionary<long, long> _activity = new();

    public MessagePipeline(MessageStore store, MembershipVersions versions, IMessageEvents events, IOptions<MessagingOptions> options, ParleyMetrics metrics, ILogger<MessagePipeline> logger)
    {
        _store = store;
        _versions = versions;
        _events = events;
        _logger = logger;
        _maxBatch = Math.Max(1, options.Value.MaxBatch);
        _metrics = metrics;
    }

    /// <summary>Appends a message; the task completes after the message is durably committed.</summary>
    public async Task<AppendResult> AppendAsync(NewMessage message, long? originConnectionId, CancellationToken cancellationToken)
    {
        // The send's own view of its commit, a child of the send's span: from queueing until its batch has
        // committed, which is most of a send's latency. The batch itself is one span linked to all of these.
        using var span = Activity.Current is null ? null : Telemetry.Source.StartActivity("message commit");
        var pending = new Pending(message, originConnectionId, span);
        await _queue.Writer.WriteAsync(pending, cancellationToken);
        try
        {
            var result = await pending.Task;
            span?.SetTag("parley.message.created", result.Created);
            return result;
        }
        catch (Exception) when (span is not null)
        {
            span.SetStatus(ActivityStatusCode.Error);
            throw;
        }
        finally
        {
            if (span is not null && pending.Batch is { } batch)
            {
                span.SetTag("parley.commit.batch_size", pending.BatchSize);
                span.AddLink(new ActivityLink(batch.Context));
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var fanout = Task.Run(FanOutAsync, CancellationToken.None);
        var toucher = Task.Run(() => TouchLoopAsync(stoppingToken), CancellationToken.None);
        var batch = new List<Pending>(_maxBatch);
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < _maxBatch && _queue.Reader.TryRead(out var next))
                {
                    batch.Add(next);
                }

                // Not the stopping token: a batch that started is finished, so no acknowledged send is lost.
                var started = Stopwatch.GetTimestamp();
                using (StartBatchSpan(batch))
                {
                    await CommitAsync(batch);
                }

                _metrics.Committed(batch.Count, Stopwatch.GetElapsedTime(started));
                _committed.Writer.TryWrite(batch);
                batch = new List<Pending>(_maxBatch);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: take no more, and tell whoever still waits.
            _queue.Writer.TryComplete();
            while (_queue.Reader.TryRead(out var left))
            {
                left.TrySetException(new OperationCanceledException("The server is shutting down."));
            }
        }
        finally
        {
            _committed.Writer.TryComplete();
            await fanout;
            await toucher;
            await FlushActivityAsync();
        }
    }

    private async Task CommitAsync(List<Pending> batch)
    {
        try
        {
            var results = await _store.AppendAsync(batch.ConvertAll(p => p.Message), CancellationToken.None);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Complete(results[i]);
            }
        }
        catch (Exception batchError) when (batch.Count > 1)
        {
            LogBatchFailed(_logger, batchError, batch.Count);
            foreach (var pending in batch)
            {
                try
                {
                    pending.Complete((await _store.AppendAsync([pending.Message], CancellationToken.None))[0]);
                }
                catch (Exception e)
                {
                    pending.TrySetException(e);
                }
            }
        }
        catch (Exception e)
        {
            batch[0].TrySetException(e);
        }
    }

    /// <summary>The single fan-out consumer: batches in commit order, messages in seq order within them.</summary>
    private async Task FanOutAsync()
    {
        await foreach (var batch in _committed.Reader.ReadAllAsync())
        {
            try
            {
                var created = batch.Where(p => p.Result is { Created: true, Message: not null }).ToList();
                _metrics.MessagesAccepted(created.Count);
                foreach (var conversation in created.GroupBy(p => p.Message.ConversationId))
                {
                    var members = await MembersAsync(conversation.Key);
                    foreach (var pending in conversation.OrderBy(p => p.Result.Message!.Seq))
                    {
                        var message = pending.Result.Message!;
                        var visible = new List<long>(members.Members.Count);
                        foreach (var (userId, joinedSeq) in members.Members)
                        {
                            if (joinedSeq < message.Seq)
                            {
                                visible.Add(userId);
                            }
                        }

                        _events.MessageCommitted(MessagingService.ToDto(message), visible, pending.OriginConnectionId);
                    }

                    if (members.Temporary)
                    {
                        var sentAt = conversation.Max(p => p.Message.SentAt);
                        _activity.AddOrUpdate(conversation.Key, sentAt, (_, earlier) => Math.Max(earlier, sentAt));
                    }
                }
            }
            catch (Exception e)
            {
                // Live delivery is best effort; clients catch up by after=.
                LogFanOutFailed(_logger, e, batch.Count);
            }
        }
    }

    /// <summary>
    /// The conversation's members from the cache while its membership version is unchanged; else loaded (the
    /// version is read first, so a change committed during the load makes the entry stale at once).
    /// </summary>
    private async Task<MemberList> MembersAsync(long conversationId)
    {
        var version = _versions.Current(conversationId);
        if (_members.TryGetValue(conversationId, out var cached) && cached.Version == version)
        {
            return cached;
        }

        var (members, temporary) = await _store.FanoutMembersAsync(conversationId, CancellationToken.None);
        if (_members.Count >= MaxCachedConversations)
        {
            _members.Clear(); // bounded: the hot conversations come back on their next message
        }

        var list = new MemberList(version, members, temporary);
        _members[conversationId] = list;
        return list;
    }

    private async Task TouchLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushActivityAsync();
            }
        }
        catch (OperationCanceledException)
        {
            // shutting down; the last flush follows
        }
    }

    private async Task FlushActivityAsync()
    {
        if (_activity.IsEmpty)
        {
            return;
        }

        var due = new List<KeyValuePair<long, long>>();
        foreach (var key in _activity.Keys)
        {
            if (_activity.TryRemove(key, out var at))
            {
                due.Add(new(key, at));
            }
        }

        try
        {
            await _store.TouchTemporaryGroupsAsync(due, CancellationToken.None);
        }
        catch (Exception e)
        {
            LogTouchFailed(_logger, e, due.Count);
        }
    }

    private const int MaxCachedConversations = 100_000;

    /// <summary>The OpenTelemetry SDK keeps at most 128 links per span by default.</summary>
    private const int MaxBatchLinks = 128;

    /// <summary>
    /// One span for the batch's transaction (traces on only), linked to each send's commit span: a batch
    /// serves many sends, so it is the child of none of them. Each send's span gets a link back to it.
    /// </summary>
    private static Activity? StartBatchSpan(List<Pending> batch)
    {
        if (!Telemetry.Source.HasListeners())
        {
            return null;
        }

        List<ActivityLink>? links = null;
        foreach (var pending in batch)
        {
            if (pending.Span is { Recorded: true } send && (links ??= new List<ActivityLink>(Math.Min(batch.Count, MaxBatchLinks))).Count < MaxBatchLinks)
            {
                links.Add(new ActivityLink(send.Context));
            }
        }

        var span = Telemetry.Source.StartActivity("commit batch", ActivityKind.Internal, default(ActivityContext), links: links);
        if (span is not null)
        {
            span.SetTag("parley.commit.batch_size", batch.Count);
            foreach (var pending in batch)
            {
                pending.Batch = span;
                pending.BatchSize = batch.Count;
            }
        }

        return span;
    }

    private sealed record MemberList(long Version, IReadOnlyList<(long UserId, long JoinedSeq)> Members, bool Temporary);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Marking activity of {Count} temporary groups failed; their idle time runs from the previous message")]
    private static partial void LogTouchFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch of {Count} messages failed; committing them one by one")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Live delivery of a batch of {Count} messages failed")]
    private static partial void LogFanOutFailed(ILogger logger, Exception exception, int count);

    private sealed class Pending(NewMessage message, long? originConnectionId, Activity? span) : TaskCompletionSource<AppendResult>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public NewMessage Message { get; } = message;

        public long? OriginConnectionId { get; } = originConnectionId;

        /// <summary>The send's commit span (traces on only); the writer reads its ids to link the batch to it.</summary>
        public Activity? Span { get; } = span;

        /// <summary>Set by the writer before completing: the batch span this message was committed in (its ids are read once it has ended).</summary>
        public Activity? Batch { get; set; }

        public int BatchSize { get; set; }

        public AppendResult Result { get; private set; }

        public void Complete(AppendResult result)
        {
            Result = result;
            TrySetResult(result);
        }
    }
}
