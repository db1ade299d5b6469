using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

public sealed class MediaToolsTestsSqlite() : MediaToolsTests(Backend.Sqlite);

public sealed class MediaToolsTestsPostgres() : MediaToolsTests(Backend.Postgres);

/// <summary>
/// Images need nothing installed (libvips comes with the app through NetVips.Native); ffmpeg is optional: without it
/// uploads still work, with it videos get a size and a poster.
/// </summary>
public abstract class MediaToolsTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Images_get_their_size_and_thumbnail_from_the_libvips_that_ships_with_the_app()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ChildServer.StartAsync(store, "--Files:ProcessingWaitSeconds=600");
        var user = await server.RegisterAsync();
        var file = await server.UploadAsync(user, TestImages.Png(400, 300), "picture.png");
        Assert.Equal("image/png", (string?)file["contentType"]);
        Assert.Equal(400, (int)file["width"]!);
        Assert.Equal(300, (int)file["height"]!);
        Assert.True((bool)file["hasThumbnail"]!);
        using (var thumbnail = await server.Download(user, $"/api/files/{file.Id()}/thumbnail"))
        {
            Assert.Equal(HttpStatusCode.OK, thumbnail.StatusCode);
            Assert.Equal("image/jpeg", thumbnail.Content.Headers.ContentType?.MediaType);
            Assert.Equal((320, 240), DecodedImage.Size(await thumbnail.Content.ReadAsByteArrayAsync()));
        }

        // The server process maps exactly one libvips, NetVips.Native's from the app's own directory, never a system one.
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the loaded library is read from /proc/<pid>/maps");
        var loaded = File.ReadLines($"/proc/{server.ProcessId}/maps")
            .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var at and >= 0 ? line[at..] : "")
            .Where(path => Path.GetFileName(path).StartsWith("libvips", StringComparison.Ordinal))
            .Distinct()
            .ToList();
        var library = Assert.Single(loaded);
        Assert.StartsWith(Path.Combine(AppContext.BaseDirectory, "runtimes") + "/", library, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Output, line => line.Contains("libvips", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Libvips_warnings_about_a_damaged_upload_go_to_the_log_not_to_stderr()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ChildServer.StartAsync(
            store, "--Files:ProcessingWaitSeconds=600", "--Logging:Console:FormatterName=json", "--Logging:LogLevel:Parley.Server.Files=Debug");
        var user = await server.RegisterAsync();
        var png = TestImages.Png(1000, 400);
        var file = await server.UploadAsync(user, png[..(png.Length / 2)], "truncated.png");
        Assert.Equal(1000, (int)file["width"]!);

        // The upload's answer comes after the job, and so after everything libvips said about it.
        var output = server.Output;
        Assert.DoesNotContain(output, line => line.Contains("VIPS-WARNING", StringComparison.Ordinal) || line.Contains("VIPS-CRITICAL", StringComparison.Ordinal));
        Assert.Contains(output, line => line.StartsWith('{')
            && JsonDocument.Parse(line).RootElement.GetProperty("Message").GetString()!.StartsWith("libvips: VIPS: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_ffmpeg_the_server_says_so_once_and_videos_are_plain_files()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ChildServer.StartAsync(
            store, "--Files:Ffmpeg=/nonexistent/ffmpeg", "--Logging:Console:FormatterName=json", "--Logging:LogLevel:Parley=Information");
        var user = await server.RegisterAsync();
        byte[] mp4 = [0, 0, 0, 0x18, (byte)'f', (byte)'t', (byte)'y', (byte)'p', (byte)'i', (byte)'s', (byte)'o', (byte)'m', 1, 2, 3];
        var file = await server.UploadAsync(user, mp4, "clip.mp4");
        Assert.Equal("video/mp4", (string?)file["contentType"]);
        Assert.False((bool)file["hasThumbnail"]!);
        Assert.Null(file["width"]);
        using (var download = await server.Download(user, $"/api/files/{file.Id()}"))
        {
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        }

        await server.Download(user, $"/api/files/{file.Id()}/thumbnail").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.UploadAsync(user, mp4, "second.mp4");

        var notices = server.Output
            .Select(line => line.StartsWith('{') ? JsonDocument.Parse(line).RootElement : default)
            .Where(log => log.ValueKind == JsonValueKind.Object && log.GetProperty("Message").GetString()!.Contains("ffmpeg", StringComparison.Ordinal))
            .ToList();
        var notice = Assert.Single(notices);
        Assert.Contains("/nonexistent/ffmpeg", notice.GetProperty("Message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_video_gets_its_size_and_a_poster_frame_thumbnail_through_ffmpeg()
    {
        Assert.SkipWhen(Ffmpeg.Path is null, Ffmpeg.NotInstalled);
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Files:ProcessingWaitSeconds=600");
        var user = await server.RegisterAsync();

        var video = await Ffmpeg.MakeVideoAsync(store.DataDir, 640, 360);
        var file = await server.UploadAsync(user, video, "clip.bin", "text/html");
        Assert.Equal("video/mp4", (string?)file["contentType"]);
        Assert.Equal(640, (int)file["width"]!);
        Assert.Equal(360, (int)file["height"]!);
        Assert.True((bool)file["hasThumbnail"]!);

        using var thumbnail = await server.Download(user, $"/api/files/{file.Id()}/thumbnail");
        Assert.Equal(HttpStatusCode.OK, thumbnail.StatusCode);
        Assert.Equal("image/jpeg", thumbnail.Content.Headers.ContentType?.MediaType);
        Assert.Equal((320, 180), DecodedImage.Size(await thumbnail.Content.ReadAsByteArrayAsync()));

        // Bytes that only look like a video (an MP4 header and nothing playable) get no thumbnail and no error.
        var fake = await server.UploadAsync(user, [0, 0, 0, 0x18, (byte)'f', (byte)'t', (byte)'y', (byte)'p', (byte)'i', (byte)'s', (byte)'o', (byte)'m', 1, 2, 3], "fake.mp4");
        Assert.Equal("video/mp4", (string?)fake["contentType"]);
        Assert.False((bool)fake["hasThumbnail"]!);
    }

    [Fact]
    public async Task With_no_wait_the_upload_answers_at_once_and_the_size_and_thumbnail_are_recorded_after()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Files:ProcessingWaitSeconds=0");
        var user = await server.RegisterAsync();
        var file = await server.UploadAsync(user, TestImages.Png(640, 480), "later.png");

        // The answer says what is known when it is given: nothing yet.
        Assert.Equal("image/png", (string?)file["contentType"]);
        Assert.Null(file["width"]);
        Assert.False((bool)file["hasThumbnail"]!);

        // The job goes on and records its result: the thumbnail is served once it is there.
        var path = $"/api/files/{file.Id()}/thumbnail";
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            using var thumbnail = await server.Download(user, path);
            if (thumbnail.StatusCode == HttpStatusCode.OK)
            {
                Assert.Equal((320, 240), DecodedImage.Size(await thumbnail.Content.ReadAsByteArrayAsync()));
                break;
            }

            Assert.Equal(HttpStatusCode.NotFound, thumbnail.StatusCode);
            Assert.True(DateTime.UtcNow < deadline, "the thumbnail never appeared");
            await Task.Delay(50, TestContext.Current.CancellationToken); // polling a condition, under a deadline
        }

        Assert.True(Parley.Storage.Ids.TryParse(file.Id(), out var id));
        var row = await server.Service<Parley.Storage.Files.FileStore>().GetAsync(id, TestContext.Current.CancellationToken);
        Assert.Equal((640, 480), (row!.Width, row.Height));
    }
}

/// <summary>Debian's ffmpeg, when installed, for the tests that need it.</summary>
internal static class Ffmpeg
{
    public const string NotInstalled = "ffmpeg is not installed here (apt-get install ffmpeg; scripts/deps.sh installs it, .ci/run runs it)";

    public static string? Path { get; } =
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => System.IO.Path.Combine(directory, "ffmpeg"))
            .FirstOrDefault(File.Exists);

    /// <summary>A two-second MPEG-4 test pattern made by ffmpeg itself.</summary>
    public static Task<byte[]> MakeVideoAsync(string directory, int width, int height) =>
        MakeAsync(System.IO.Path.Combine(directory, $"test-video-{width}x{height}.mp4"),
            "-f", "lavfi", "-i", $"testsrc=size={width}x{height}:rate=10", "-t", "2", "-c:v", "mpeg4", "-pix_fmt", "yuv420p");

    /// <summary>
    /// A MOV of one black 16-bit RGBA PNG frame: a few hundred KB that decode to 8 bytes a pixel (4000 x 4000 is 128 MB).
    /// </summary>
    public static Task<byte[]> MakePngFrameVideoAsync(string directory, int width, int height) =>
        MakeAsync(System.IO.Path.Combine(directory, $"png-frame-{width}x{height}.mov"),
            "-f", "lavfi", "-i", $"color=black:size={width}x{height}:rate=1", "-frames:v", "1", "-pix_fmt", "rgba64be", "-c:v", "png");

    private static async Task<byte[]> MakeAsync(string path, params string[] arguments)
    {
        var start = new ProcessStartInfo(Path!) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["-nostdin", "-hide_banner", "-loglevel", "error", "-y", .. arguments, path])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var errors = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, "ffmpeg could not make the test video: " + errors);
        return await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);
    }
}
