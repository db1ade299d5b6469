using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Parley.Server.Files;

namespace Parley.Tests.Files;

/// <summary>The bound on media processing: so many at once, so many waiting, the rest refused; nothing on the caller's thread.</summary>
[Trait("Tier", "Unit")]
public sealed class MediaWorkersTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task No_more_jobs_run_at_once_than_the_bound_and_they_run_on_dedicated_threads()
    {
        using var workers = Workers(concurrency: 2, queue: 10);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var twoRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = 0;
        var most = 0;
        var threads = new System.Collections.Concurrent.ConcurrentBag<string?>();
        var jobs = Enumerable.Range(0, 8).Select(i => workers.TryEnqueue(i, _ =>
        {
            threads.Add(Thread.CurrentThread.Name);
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            if (now == 2)
            {
                twoRunning.TrySetResult();
            }

            gate.Task.Wait(Timeout); // held until both workers are busy, so a third would run now if it could
            Interlocked.Decrement(ref running);
            return ValueTask.FromResult(new MediaInfo(1, 1, null));
        })).ToList();
        Assert.All(jobs, Assert.NotNull);

        await twoRunning.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        gate.SetResult();
        var results = await Task.WhenAll(jobs.Select(job => job!.Completion)).WaitAsync(Timeout, TestContext.Current.CancellationToken);

        Assert.All(results, result => Assert.Equal(1, result.Width));
        Assert.Equal(2, most);
        Assert.All(threads, name => Assert.StartsWith("Parley media ", name, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_full_queue_refuses_a_job_a_cancelled_job_is_skipped_and_a_failing_one_gives_no_result()
    {
        using var workers = Workers(concurrency: 1, queue: 1);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = workers.TryEnqueue(1, _ =>
        {
            started.SetResult();
            gate.Task.Wait(Timeout);
            throw new InvalidOperationException("a bug in a processor");
        });
        Assert.NotNull(running);
        await started.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);

        var skippedRan = false;
        var queued = workers.TryEnqueue(1, _ =>
        {
            skippedRan = true;
            return ValueTask.FromResult(MediaInfo.None);
        });
        Assert.NotNull(queued);
        Assert.Null(workers.TryEnqueue(1, _ => ValueTask.FromResult(MediaInfo.None))); // one running, one waiting: full

        queued.Cancel();
        gate.SetResult();
        Assert.Equal(MediaInfo.None, await running.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.False(skippedRan);

        // The slot is free again.
        var next = workers.TryEnqueue(1, _ => ValueTask.FromResult(new MediaInfo(2, 3, null)));
        Assert.NotNull(next);
        Assert.Equal(new MediaInfo(2, 3, null), await next.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Stopping_abandons_what_waits()
    {
        var workers = Workers(concurrency: 1, queue: 5);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = workers.TryEnqueue(1, token =>
        {
            started.SetResult();
            // Runs until the stop is asked for (a release from the test could let the worker take the next job first).
            token.WaitHandle.WaitOne(Timeout);
            return ValueTask.FromResult(token.IsCancellationRequested ? MediaInfo.None : new MediaInfo(1, 1, null));
        });
        await started.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        var waiting = workers.TryEnqueue(1, _ => ValueTask.FromResult(new MediaInfo(1, 1, null)));
        Assert.NotNull(waiting);

        await Task.Run(workers.Dispose, TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.Equal(MediaInfo.None, await first!.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.Null(workers.TryEnqueue(1, _ => ValueTask.FromResult(MediaInfo.None)));
    }

    /// <summary>
    /// Before the per-user bound, one account uploading a 124 KB image 40 at a time kept the queue full, and every other
    /// user's uploads were stored without size or thumbnail for as long. Now a user's share is bounded, and given back
    /// however a job ends (done, failed, skipped after a cancel).
    /// </summary>
    [Fact]
    public async Task One_user_cannot_take_the_queue_from_the_others_and_gets_the_share_back_when_jobs_end()
    {
        using var workers = Workers(concurrency: 1, queue: 10, perUser: 3);
        const long Flooder = 1, Other = 2;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = workers.TryEnqueue(Flooder, _ =>
        {
            started.SetResult();
            gate.Task.Wait(Timeout);
            return ValueTask.FromResult(new MediaInfo(1, 1, null));
        });
        await started.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        var failing = workers.TryEnqueue(Flooder, _ => throw new InvalidOperationException("a bug in a processor"));
        var cancelled = workers.TryEnqueue(Flooder, _ => ValueTask.FromResult(MediaInfo.None));
        Assert.All([running, failing, cancelled], Assert.NotNull);
        Assert.Equal(3, workers.JobsOf(Flooder));

        // The flooder's fourth is refused while the queue has room; another user's job is queued.
        Assert.Null(workers.TryEnqueue(Flooder, _ => ValueTask.FromResult(MediaInfo.None)));
        var others = workers.TryEnqueue(Other, _ => ValueTask.FromResult(new MediaInfo(2, 2, null)));
        Assert.NotNull(others);

        cancelled!.Cancel();
        gate.SetResult();
        Assert.Equal(new MediaInfo(2, 2, null), await others.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.Equal(MediaInfo.None, await failing!.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.Equal(0, workers.JobsOf(Flooder));
        Assert.Equal(0, workers.JobsOf(Other));

        var again = Enumerable.Range(0, 3).Select(_ => workers.TryEnqueue(Flooder, _ => ValueTask.FromResult(new MediaInfo(3, 3, null)))).ToList();
        Assert.All(again, Assert.NotNull);
        Assert.All(await Task.WhenAll(again.Select(job => job!.Completion)).WaitAsync(Timeout, TestContext.Current.CancellationToken), result => Assert.Equal(3, result.Width));
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(65, 10)]
    [InlineData(2, -1)]
    [InlineData(2, 10, 0)]
    public void Bad_settings_are_refused_with_the_setting_named(int concurrency, int queue, int perUser = 8)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Workers(concurrency, queue, perUser));
        Assert.Contains("Files:Processing", error.Message, StringComparison.Ordinal);
    }

    private static MediaWorkers Workers(int concurrency, int queue, int perUser = 8) =>
        new(Options.Create(new FileUploadOptions { ProcessingConcurrency = concurrency, ProcessingQueueLength = queue, ProcessingPerUser = perUser }), NullLogger<MediaWorkers>.Instance);

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }
}
