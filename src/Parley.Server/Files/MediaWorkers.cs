using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace Parley.Server.Files;

/// <summary>What processing found out about an upload: its displayed size and a thumbnail, each when known.</summary>
public sealed record MediaInfo(int? Width, int? Height, byte[]? Thumbnail)
{
    public static readonly MediaInfo None = new(null, null, null);
}

/// <summary>One upload's processing: queued, then run by a worker; its result or, when abandoned, cancellation.</summary>
public sealed class MediaJob
{
    private readonly Func<CancellationToken, ValueTask<MediaInfo>> _work;
    private readonly TaskCompletionSource<MediaInfo> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cancel = new();
    private Action? _finished;

    internal MediaJob(Func<CancellationToken, ValueTask<MediaInfo>> work, Action finished)
    {
        _work = work;
        _finished = finished;
    }

    /// <summary>Completes with the result (never faults: a failed job's result is <see cref="MediaInfo.None"/>), or is canceled.</summary>
    public Task<MediaInfo> Completion => _done.Task;

    /// <summary>Nobody wants the result any more: a job still queued is skipped, a running one is asked to stop.</summary>
    public void Cancel()
    {
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // it has finished already
        }
    }

    internal void Run(CancellationToken stopping, Action<Exception> onFailure)
    {
        using (_cancel)
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(_cancel.Token, stopping))
        {
            if (linked.IsCancellationRequested)
            {
                Canceled(linked.Token);
                return;
            }

            try
            {
                // Images are decoded synchronously right here; a video's child processes are awaited, which blocks
                // this dedicated thread only, never the request thread pool.
                Done(_work(linked.Token).AsTask().GetAwaiter().GetResult());
            }
            catch (OperationCanceledException) when (linked.IsCancellationRequested)
            {
                Canceled(linked.Token);
            }
            catch (Exception e)
            {
                onFailure(e);
                Done(MediaInfo.None);
            }
        }
    }

    internal void Abandon() => Canceled(CancellationToken.None);

    // The owner's share is given back before the outcome is published, so whoever sees the job complete sees it back.
    private void Done(MediaInfo result)
    {
        Finish();
        _done.TrySetResult(result);
    }

    private void Canceled(CancellationToken token)
    {
        Finish();
        _done.TrySetCanceled(token);
    }

    /// <summary>Gives the owner's share back, once, however the job ended.</summary>
    private void Finish() => Interlocked.Exchange(ref _finished, null)?.Invoke();
}

/// <summary>
/// The bound on media processing. Decoding an image or running ffmpeg costs a core and, for some images, a lot of
/// memory, whatever the upload's size on the wire: at most <see cref="FileUploadOptions.ProcessingConcurrency"/>
/// jobs run at once, each on a dedicated thread, and at most <see cref="FileUploadOptions.ProcessingQueueLength"/>
/// wait in a bounded channel. A request only awaits a job's task; when the queue is full the job is refused
/// (<see cref="TryEnqueue"/> is null) rather than waited for, so a flood of uploads costs neither threads nor memory.
/// One user's jobs, queued or running, are at most <see cref="FileUploadOptions.ProcessingPerUser"/>: before that
/// bound, one account uploading a 124 KB image 40 at a time kept the queue full, and every other user's uploads for
/// as long were stored without size or thumbnail for good.
/// </summary>
public sealed partial class MediaWorkers : IDisposable
{
    private readonly Channel<MediaJob> _queue;
    private readonly Thread[] _threads;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationToken _stopToken;
    private readonly ILogger<MediaWorkers> _logger;
    private readonly int _perUser;
    private readonly ConcurrentDictionary<long, int> _jobsPerUser = new();

    public MediaWorkers(IOptions<FileUploadOptions> options, ILogger<MediaWorkers> logger)
    {
        var settings = options.Value;
        if (settings.ProcessingConcurrency is < 1 or > 64)
        {
            throw new InvalidOperationException($"Files:ProcessingConcurrency must be between 1 and 64, not {settings.ProcessingConcurrency}.");
        }

        if (settings.ProcessingQueueLength is < 0 or > 100_000)
        {
            throw new InvalidOperationException($"Files:ProcessingQueueLength must be between 0 and 100000, not {settings.ProcessingQueueLength}.");
        }

        if (settings.ProcessingPerUser < 1)
        {
            throw new InvalidOperationException($"Files:ProcessingPerUser must be at least 1, not {settings.ProcessingPerUser}.");
        }

        _perUser = settings.ProcessingPerUser;
        _logger = logger;
        _stopToken = _stopping.Token; // read once: a disposed source no longer hands out its token

        // Capacity is what may wait; the workers hold the ones running. A capacity of 0 is not allowed by the
        // channel, so "no queue" keeps one slot, which a waiting worker empties at once.
        _queue = Channel.CreateBounded<MediaJob>(new BoundedChannelOptions(Math.Max(1, settings.ProcessingQueueLength))
        {
            SingleWriter = false,
            SingleReader = settings.ProcessingConcurrency == 1,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails instead of dropping a queued job
        });
        _threads = new Thread[settings.ProcessingConcurrency];
        for (var i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(Work) { IsBackground = true, Name = $"Parley media {i + 1}" };
            _threads[i].Start();
        }
    }

    /// <summary>
    /// Queues the work of an upload of <paramref name="userId"/>, or returns null when that user has as many jobs queued
    /// or running as <see cref="FileUploadOptions.ProcessingPerUser"/>, when the queue is full, or when the server is stopping.
    /// </summary>
    public MediaJob? TryEnqueue(long userId, Func<CancellationToken, ValueTask<MediaInfo>> work)
    {
        if (_jobsPerUser.AddOrUpdate(userId, 1, static (_, count) => count + 1) > _perUser)
        {
            Release(userId);
            LogUserBusy(_logger, _perUser);
            return null;
        }

        var job = new MediaJob(work, () => Release(userId));
        if (_queue.Writer.TryWrite(job))
        {
            return job;
        }

        Release(userId);
        LogQueueFull(_logger);
        return null;
    }

    /// <summary>How many jobs of the user are queued or running (tests).</summary>
    internal int JobsOf(long userId) => _jobsPerUser.TryGetValue(userId, out var count) ? count : 0;

    private void Release(long userId)
    {
        _jobsPerUser.AddOrUpdate(userId, 0, static (_, count) => count - 1);
        _jobsPerUser.TryRemove(new KeyValuePair<long, int>(userId, 0)); // only if no job came in meanwhile
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _stopping.Cancel();

        // Queued jobs are abandoned at once; a running image decode cannot be interrupted, so it is not waited for
        // long (the threads are background threads and end with the process).
        foreach (var thread in _threads)
        {
            thread.Join(TimeSpan.FromSeconds(5));
        }

        while (_queue.Reader.TryRead(out var left))
        {
            left.Abandon();
        }

        _stopping.Dispose();
    }

    private void Work()
    {
        var reader = _queue.Reader;
        try
        {
            while (reader.WaitToReadAsync(_stopToken).AsTask().GetAwaiter().GetResult())
            {
                while (reader.TryRead(out var job))
                {
                    job.Run(_stopToken, e => LogFailed(_logger, e));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    // Debug: each upload of a flood would log it (thousands a minute), and it is that user's own uploads that lose out.
    [LoggerMessage(Level = LogLevel.Debug, Message = "A user has {Limit} uploads being processed already (Files:ProcessingPerUser): another is stored without size or thumbnail")]
    private static partial void LogUserBusy(ILogger logger, int limit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Media processing is saturated (Files:ProcessingConcurrency, Files:ProcessingQueueLength): an upload is stored without size or thumbnail")]
    private static partial void LogQueueFull(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "Processing an upload failed")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
