using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Parley.Storage.Messaging;

namespace Parley.Server.Messaging;

/// <summary>
/// The write path of every message: sends queue here and one writer commits them in batches (group
/// commit), so throughput is not bounded by one fsync per message. A send completes only after its batch
/// has committed. If a batch fails, its messages are retried one by one so one bad send cannot fail others.
/// </summary>
public sealed partial class MessagePipeline(MessageStore store, IOptions<MessagingOptions> options, ILogger<MessagePipeline> logger) : BackgroundService
{
    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(16_384)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private readonly int _maxBatch = Math.Max(1, options.Value.MaxBatch);

    /// <summary>Appends a message; the task completes after the message is durably committed.</summary>
    public async Task<AppendResult> AppendAsync(NewMessage message, CancellationToken cancellationToken)
    {
        var pending = new Pending(message);
        await _queue.Writer.WriteAsync(pending, cancellationToken);
        return await pending.Task;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
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
                await CommitAsync(batch);
                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: take no more, and tell whoever still waits.
            _queue.Writer.TryComplete();
            while (_queue.Reader.TryRead(out var left))
            {
                left.Fail(new OperationCanceledException("The server is shutting down."));
            }
        }
    }

    private async Task CommitAsync(List<Pending> batch)
    {
        try
        {
            var results = await store.AppendAsync(batch.ConvertAll(p => p.Message), CancellationToken.None);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Complete(results[i]);
            }
        }
        catch (Exception batchError) when (batch.Count > 1)
        {
            LogBatchFailed(logger, batchError, batch.Count);
            foreach (var pending in batch)
            {
                await CommitOneAsync(pending);
            }
        }
        catch (Exception e)
        {
            batch[0].Fail(e);
        }
    }

    private async Task CommitOneAsync(Pending pending)
    {
        try
        {
            pending.Complete((await store.AppendAsync([pending.Message], CancellationToken.None))[0]);
        }
        catch (Exception e)
        {
            pending.Fail(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch of {Count} messages failed; committing them one by one")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int count);

    private sealed class Pending(NewMessage message) : TaskCompletionSource<AppendResult>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public NewMessage Message { get; } = message;

        public void Complete(AppendResult result) => TrySetResult(result);

        public void Fail(Exception e) => TrySetException(e);
    }
}
