using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;
using Microsoft.Extensions.Options;
using Parley.Server.Operations;
using Parley.Storage.Messaging;

namespace Parley.Server.Messaging;

/// <summary>
/// The write path of every message: sends queue here and one writer commits them in batches (group
/// commit), so throughput is not bounded by one fsync per message. A send completes only after its batch
/// has committed. If a batch fails, its messages are retried one by one so one bad send cannot fail others.
/// A committed batch's new messages go to the <see cref="PostCommitRoute"/> (in commit order, so live pushes leave
/// in seq order) before any of its senders is answered, so nothing a client does after its answer (a recall, a
/// read) can overtake the message on the route.
/// </summary>
public sealed partial class MessagePipeline : BackgroundService
{
    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(16_384)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private readonly MessageStore _store;
    private readonly PostCommitRoute _route;
    private readonly ConversationViews _views;
    private readonly ILogger<MessagePipeline> _logger;
    private readonly int _maxBatch;
    private readonly ParleyMetrics _metrics;

    /// <summary>Temporary groups' latest message times, written to the database once a second (not per message).</summary>
    private readonly ConcurrentDictionary<long, long> _activity = new();

    public MessagePipeline(MessageStore store, ConversationViews views, PostCommitRoute route, IOptions<MessagingOptions> options, ParleyMetrics metrics, ILogger<MessagePipeline> logger)
    {
        _store = store;
        _views = views;
        _route = route;
        _logger = logger;
        _maxBatch = Math.Max(1, options.Value.MaxBatch);
        _metrics = metrics;
    }

    /// <summary>
    /// Appends a message; the task completes after the message is durably committed and published to the route.
    /// Message is null when the sender was no member at commit time; Created is false for a retry (the original).
    /// </summary>
    public ValueTask<(CommittedMessage? Message, bool Created)> AppendAsync(NewMessage message, long? originConnectionId, CancellationToken cancellationToken)
    {
        // Without traces, and with room in the queue (the steady state), the send awaits its Pending itself: no state machine per message.
        if (Activity.Current is null && !cancellationToken.IsCancellationRequested)
        {
            var pending = new Pending(message, originConnectionId, null);
            if (_queue.Writer.TryWrite(pending))
            {
                return pending.Completion;
            }
        }

        return AppendTracedAsync(message, originConnectionId, cancellationToken);
    }

    /// <summary><see cref="AppendAsync"/> with traces on, or waiting for room in the queue.</summary>
    private async ValueTask<(CommittedMessage? Message, bool Created)> AppendTracedAsync(NewMessage message, long? originConnectionId, CancellationToken cancellationToken)
    {
        // The send's own view of its commit, a child of the send's span: from queueing until its batch has
        // committed, which is most of a send's latency. The batch itself is one span linked to all of these.
        using var span = Activity.Current is null ? null : Telemetry.Source.StartActivity("message commit");
        var pending = new Pending(message, originConnectionId, span);
        await _queue.Writer.WriteAsync(pending, cancellationToken);
        try
        {
            var result = await pending.Completion;
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
                Publish(batch);
                foreach (var pending in batch)
                {
                    pending.Finish();
                }

                batch.Clear(); // reused: a new list of MaxBatch slots per batch was 2 KB per message when batches are small (lat)
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
                batch[i].Set(results[i]);
            }
        }
        catch (Exception down) when (Parley.Storage.Database.IsUnavailable(down))
        {
            // PostgreSQL is down or restarting: one by one would only fail again (or wait for a connect timeout
            // each). Every send of the batch is answered unavailable; a client retries with the same clientMsgId,
            // which returns the original if the commit did reach the database before the connection broke.
            if (Http.DatabaseOutage.ShouldLog(out var suppressed))
            {
                LogBatchUnavailable(_logger, batch.Count, down.GetType().Name, down.Message, suppressed);
            }

            foreach (var pending in batch)
            {
                pending.Fail(down);
            }
        }
        catch (Exception batchError) when (batch.Count > 1)
        {
            LogBatchFailed(_logger, batchError, batch.Count);
            foreach (var pending in batch)
            {
                try
                {
                    pending.Set((await _store.AppendAsync([pending.Message], CancellationToken.None))[0]);
                }
                catch (Exception e)
                {
                    pending.Fail(e);
                }
            }
        }
        catch (Exception e)
        {
            batch[0].Fail(e);
        }
    }

    /// <summary>
    /// A committed batch, before its senders are answered: each conversation's view learns its new seqs, temporary
    /// groups their activity, and the new messages go to the route in commit order (seq order per conversation).
    /// </summary>
    private void Publish(List<Pending> batch)
    {
        List<(CommittedMessage, long?)>? created = null;
        foreach (var pending in batch)
        {
            if (pending is not { Created: true, Committed: { } message })
            {
                continue;
            }

            (created ??= new List<(CommittedMessage, long?)>(batch.Count)).Add((message, pending.OriginConnectionId));
            var row = message.Row;
            var view = _views.Peek(row.ConversationId);
            view?.RaiseMaxSeq(row.Seq);
            if (view is null || view.Temporary)
            {
                // Unknown (the view was dropped): touching a conversation that is no temporary group's changes nothing.
                _activity.AddOrUpdate(row.ConversationId, static (_, at) => at, static (_, earlier, at) => Math.Max(earlier, at), row.SentAt);
            }
        }

        if (created is not null)
        {
            if (created.Count > 1)
            {
                // Seq order within each conversation whatever order the appender assigned them in (conversations are
                // independent of one another).
                created.Sort(static (x, y) => x.Item1.Row.ConversationId != y.Item1.Row.ConversationId
                    ? x.Item1.Row.ConversationId.CompareTo(y.Item1.Row.ConversationId)
                    : x.Item1.Row.Seq.CompareTo(y.Item1.Row.Seq));
            }

            _metrics.MessagesAccepted(created.Count);
            _route.MessagesCommitted(created);
        }
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Marking activity of {Count} temporary groups failed; their idle time runs from the previous message")]
    private static partial void LogTouchFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch of {Count} messages met an unavailable database ({Error}: {Reason}; {Suppressed} more since the last report); its sends are answered unavailable")]
    private static partial void LogBatchUnavailable(ILogger logger, int count, string error, string reason, long suppressed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch of {Count} messages failed; committing them one by one")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int count);


    /// <summary>
    /// One queued send and its completion: a value-task source rather than a <see cref="TaskCompletionSource{TResult}"/>,
    /// so a send allocates no Task; it is completed once (by the writer, or at shutdown) and awaited once (by <see cref="AppendAsync"/>).
    /// Continuations run on the thread pool, never inline on the writer.
    /// </summary>
    private sealed class Pending(NewMessage message, long? originConnectionId, Activity? span) : IValueTaskSource<(CommittedMessage? Message, bool Created)>
    {
        private ManualResetValueTaskSourceCore<(CommittedMessage? Message, bool Created)> _completion = new() { RunContinuationsAsynchronously = true };
        private int _completed;
        private Exception? _error;

        public ValueTask<(CommittedMessage? Message, bool Created)> Completion => new(this, _completion.Version);

        public NewMessage Message { get; } = message;

        public long? OriginConnectionId { get; } = originConnectionId;

        /// <summary>The send's commit span (traces on only); the writer reads its ids to link the batch to it.</summary>
        public Activity? Span { get; } = span;

        /// <summary>Set by the writer before completing: the batch span this message was committed in (its ids are read once it has ended).</summary>
        public Activity? Batch { get; set; }

        public int BatchSize { get; set; }

        /// <summary>The stored message (new or the original of a retry); null when the sender was no member.</summary>
        public CommittedMessage? Committed { get; private set; }

        public bool Created { get; private set; }

        /// <summary>Records the append's result; the send is answered by <see cref="Finish"/>, after the route has it.</summary>
        public void Set(AppendResult result)
        {
            var row = result.Message;
            Committed = row is null ? null : new CommittedMessage(row) { MembersVersion = result.Created ? Message.MembersVersion : -1 };
            Created = result.Created && row is not null;
            _error = null;
        }

        public void Fail(Exception error) => _error = error;

        public void Finish()
        {
            if (_error is not null)
            {
                TrySetException(_error);
            }
            else if (Interlocked.Exchange(ref _completed, 1) == 0)
            {
                _completion.SetResult((Committed, Created));
            }
        }

        public void TrySetException(Exception error)
        {
            if (Interlocked.Exchange(ref _completed, 1) == 0)
            {
                _completion.SetException(error);
            }
        }

        (CommittedMessage? Message, bool Created) IValueTaskSource<(CommittedMessage? Message, bool Created)>.GetResult(short token) => _completion.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<(CommittedMessage? Message, bool Created)>.GetStatus(short token) => _completion.GetStatus(token);

        void IValueTaskSource<(CommittedMessage? Message, bool Created)>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _completion.OnCompleted(continuation, state, token, flags);
    }
}
