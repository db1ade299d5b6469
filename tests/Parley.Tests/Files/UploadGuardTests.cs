using Microsoft.Extensions.Options;
using Parley.Server.Files;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

/// <summary>The upload guard's start rate and uploads-at-once bookkeeping, on a clock moved by hand.</summary>
[Trait("Tier", "Unit")]
public sealed class UploadGuardTests
{
    [Fact]
    public void Starts_per_minute_refill_with_the_clock_and_are_counted_per_user()
    {
        var time = new ManualTime();
        using var guard = new UploadGuard(Options.Create(new FileUploadOptions { UploadsPerMinute = 3, ConcurrentUploadsPerUser = 100 }), time);
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(guard.TryStart(1));
            guard.Done(1);
        }

        var refused = guard.TryStart(1);
        Assert.NotNull(refused);
        Assert.Contains("per minute", refused.Value.Message, StringComparison.Ordinal);
        Assert.Equal(20, refused.Value.Seconds); // one start every 20 s
        Assert.Null(guard.TryStart(2)); // others are not held up
        guard.Done(2);

        time.Advance(TimeSpan.FromSeconds(19));
        Assert.Equal(1, guard.TryStart(1)?.Seconds);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(guard.TryStart(1));
        guard.Done(1);
        Assert.Equal(0, guard.UsersStreaming); // nothing streams: nobody is held in memory for it
    }

    [Fact]
    public void Uploads_at_once_are_bounded_and_a_finished_one_frees_its_slot()
    {
        var time = new ManualTime();
        using var guard = new UploadGuard(Options.Create(new FileUploadOptions { UploadsPerMinute = 1000, ConcurrentUploadsPerUser = 2 }), time);
        Assert.Null(guard.TryStart(1));
        Assert.Null(guard.TryStart(1));
        var refused = guard.TryStart(1);
        Assert.NotNull(refused);
        Assert.Contains("at once", refused.Value.Message, StringComparison.Ordinal);
        Assert.Equal(1, guard.UsersStreaming);

        guard.Done(1);
        Assert.Null(guard.TryStart(1));
        guard.Done(1);
        guard.Done(1);
        guard.Done(1); // more Done than starts never goes below none
        Assert.Equal(0, guard.UsersStreaming);
        Assert.Null(guard.TryStart(1));
        Assert.Null(guard.TryStart(1));
        Assert.NotNull(guard.TryStart(1));
    }
}
