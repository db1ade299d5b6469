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
        var jobs = Enumerable.Range(0, 8).Select(_ => workers.TryEnqueue(_ =>
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
        var running = workers.TryEnqueue(_ =>
        {
            started.SetResult();
            gate.Task.Wait(Timeout);
            throw new InvalidOperationException("a bug in a processor");
        });
        Assert.NotNull(running);
        await started.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);

        var skippedRan = false;
        var queued = workers.TryEnqueue(_ =>
        {
            skippedRan = true;
            return ValueTask.FromResult(MediaInfo.None);
        });
        Assert.NotNull(queued);
        Assert.Null(workers.TryEnqueue(_ => ValueTask.FromResult(MediaInfo.None))); // one running, one waiting: full

        queued.Cancel();
        gate.SetResult();
        Assert.Equal(MediaInfo.None, await running.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.False(skippedRan);

        // The slot is free again.
        var next = workers.TryEnqueue(_ => ValueTask.FromResult(new MediaInfo(2, 3, null)));
        Assert.NotNull(next);
        Assert.Equal(new MediaInfo(2, 3, null), await next.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Stopping_abandons_what_waits()
    {
        var workers = Workers(concurrency: 1, queue: 5);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = workers.TryEnqueue(token =>
        {
            started.SetResult();
            gate.Task.Wait(Timeout);
            return ValueTask.FromResult(token.IsCancellationRequested ? MediaInfo.None : new MediaInfo(1, 1, null));
        });
        await started.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        var waiting = workers.TryEnqueue(_ => ValueTask.FromResult(new MediaInfo(1, 1, null)));
        Assert.NotNull(waiting);

        var stop = Task.Run(workers.Dispose, TestContext.Current.CancellationToken);
        gate.SetResult();
        await stop.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.True(first!.Completion.IsCompleted);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.Completion.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.Null(workers.TryEnqueue(_ => ValueTask.FromResult(MediaInfo.None)));
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(65, 10)]
    [InlineData(2, -1)]
    public void Bad_settings_are_refused_with_the_setting_named(int concurrency, int queue)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Workers(concurrency, queue));
        Assert.Contains("Files:Processing", error.Message, StringComparison.Ordinal);
    }

    private static MediaWorkers Workers(int concurrency, int queue) =>
        new(Options.Create(new FileUploadOptions { ProcessingConcurrency = concurrency, ProcessingQueueLength = queue }), NullLogger<MediaWorkers>.Instance);

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }
}
