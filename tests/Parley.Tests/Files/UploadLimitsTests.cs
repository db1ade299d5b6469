using System.Net;
using System.Net.Http.Headers;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

public sealed class UploadLimitsTestsSqlite() : UploadLimitsTests(Backend.Sqlite);

public sealed class UploadLimitsTestsPostgres() : UploadLimitsTests(Backend.Postgres);

/// <summary>One user cannot fill the disk: a daily byte quota, a start rate and a bound on uploads at once.</summary>
public abstract class UploadLimitsTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task The_daily_byte_quota_holds_per_user_and_frees_up_after_a_day()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, "--Files:DailyBytesPerUser=100000");
        var user = await server.RegisterAsync();
        await server.UploadAsync(user, new byte[60_000], "a.bin");

        // 60,000 of 100,000 used: a streamed upload that would pass the quota is refused as it arrives...
        using (var over = await server.Upload(user, new byte[50_000], "b.bin"))
        {
            Assert.Equal((HttpStatusCode)429, over.StatusCode);
            Assert.Equal("rate_limited", (string?)(await over.Json())["code"]);
            Assert.InRange(over.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 86_400);
        }

        // ...what fits still goes, and then nothing does, with the time until the oldest upload leaves the window.
        await server.UploadAsync(user, new byte[40_000], "c.bin");
        time.Advance(TimeSpan.FromHours(1));
        user = await server.LoginAsync(user.Username, user.Password); // access tokens last minutes
        using (var full = await server.Upload(user, new byte[10], "d.bin"))
        {
            Assert.Equal((HttpStatusCode)429, full.StatusCode);
            Assert.InRange(full.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 22 * 3600, 23 * 3600 + 1);
        }

        var other = await server.RegisterAsync();
        await server.UploadAsync(other, new byte[60_000], "e.bin"); // the quota is the user's own

        time.Advance(TimeSpan.FromHours(23) + TimeSpan.FromSeconds(1)); // the first uploads are now over 24 hours old
        user = await server.LoginAsync(user.Username, user.Password);
        await server.UploadAsync(user, new byte[60_000], "f.bin");
    }

    [Fact]
    public async Task Uploads_per_minute_are_limited_per_user()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, "--Files:UploadsPerMinute=3");
        var user = await server.RegisterAsync();
        for (var i = 0; i < 3; i++)
        {
            await server.UploadAsync(user, "hello"u8.ToArray(), $"{i}.txt");
        }

        using (var limited = await server.Upload(user, "hello"u8.ToArray(), "x.txt"))
        {
            Assert.Equal((HttpStatusCode)429, limited.StatusCode);
            Assert.InRange(limited.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 20);
        }

        await server.UploadAsync(await server.RegisterAsync(), "hello"u8.ToArray(), "y.txt"); // others are not held up
        time.Advance(TimeSpan.FromSeconds(20));
        await server.UploadAsync(user, "hello"u8.ToArray(), "z.txt");
    }

    [Fact]
    public async Task Uploads_streaming_at_once_are_bounded_per_user()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, (TimeProvider?)null, "--Files:ConcurrentUploadsPerUser=1");
        var user = await server.RegisterAsync();

        var body = new HeldContent();
        var form = new MultipartFormDataContent { { body, "file", "slow.bin" } };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/files") { Content = form };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", user.AccessToken);
        var slow = server.Http.SendAsync(request, TestContext.Current.CancellationToken);
        await body.Started.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        // 8 MiB of the first upload have been taken: more than socket buffers and Kestrel's pipe hold, so the server
        // is reading it, past the check: its slot is held. A second upload of the same user is refused.
        using (var second = await server.Upload(user, "x"u8.ToArray(), "second.txt"))
        {
            Assert.Equal((HttpStatusCode)429, second.StatusCode);
            Assert.Contains("at once", (string?)(await second.Json())["detail"], StringComparison.Ordinal);
        }

        body.Release.SetResult();
        using var first = await slow.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        await server.UploadAsync(user, "x"u8.ToArray(), "after.txt"); // the slot is free again
    }

    /// <summary>Sends 8 MiB, then waits for the test before sending the rest.</summary>
    private sealed class HeldContent : HttpContent
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var chunk = new byte[64 * 1024];
            for (var i = 0; i < 128; i++)
            {
                await stream.WriteAsync(chunk);
            }

            await stream.FlushAsync();
            Started.SetResult();
            await Release.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await stream.WriteAsync(new byte[1024]);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
