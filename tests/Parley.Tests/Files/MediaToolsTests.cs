using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Parley.Server.Files;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

public sealed class MediaToolsTestsSqlite() : MediaToolsTests(Backend.Sqlite);

public sealed class MediaToolsTestsPostgres() : MediaToolsTests(Backend.Postgres);

/// <summary>libvips and ffmpeg are optional: without them uploads still work; with ffmpeg videos get a poster.</summary>
public abstract class MediaToolsTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Without_libvips_the_server_warns_once_at_startup_and_uploads_still_work()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ChildServer.StartAsync(
            store, "--Files:Libvips=/nonexistent/libvips.so.42", "--Logging:Console:FormatterName=json", "--Logging:LogLevel:Parley=Warning");
        var user = await server.RegisterAsync();
        var file = await server.UploadAsync(user, TestImages.Png(400, 300), "picture.png");
        Assert.Equal("image/png", (string?)file["contentType"]);
        Assert.False((bool)file["hasThumbnail"]!);
        Assert.Null(file["width"]);
        using (var download = await server.Download(user, $"/api/files/{file.Id()}"))
        {
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        }

        await server.Download(user, $"/api/files/{file.Id()}/thumbnail").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.UploadAsync(user, TestImages.Png(10, 10), "second.png");

        var warnings = server.Output
            .Select(line => line.StartsWith('{') ? JsonDocument.Parse(line).RootElement : default)
            .Where(log => log.ValueKind == JsonValueKind.Object
                && log.GetProperty("LogLevel").GetString() == "Warning"
                && log.GetProperty("Message").GetString()!.Contains("libvips", StringComparison.Ordinal))
            .ToList();
        var warning = Assert.Single(warnings);
        Assert.Contains("/nonexistent/libvips.so.42", warning.GetProperty("Message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_video_gets_its_size_and_a_poster_frame_thumbnail_through_ffmpeg()
    {
        Assert.SkipWhen(FfmpegPath() is null, "ffmpeg is not installed here (scripts/deps.sh installs it; .ci/run runs it)");
        Assert.SkipUnless(Vips.IsAvailable, "libvips is not installed here (scripts/deps.sh installs it): the thumbnail cannot be measured");
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null);
        var user = await server.RegisterAsync();

        var video = await MakeVideoAsync(store.DataDir, 640, 360);
        var file = await server.UploadAsync(user, video, "clip.bin", "text/html");
        Assert.Equal("video/mp4", (string?)file["contentType"]);
        Assert.Equal(640, (int)file["width"]!);
        Assert.Equal(360, (int)file["height"]!);
        Assert.True((bool)file["hasThumbnail"]!);

        using var thumbnail = await server.Download(user, $"/api/files/{file.Id()}/thumbnail");
        Assert.Equal(HttpStatusCode.OK, thumbnail.StatusCode);
        Assert.Equal("image/jpeg", thumbnail.Content.Headers.ContentType?.MediaType);
        Assert.True(Vips.TryReadSize(await thumbnail.Content.ReadAsByteArrayAsync(), out var width, out var height));
        Assert.Equal((320, 180), (width, height));

        // Bytes that only look like a video (an MP4 header and nothing playable) get no thumbnail and no error.
        var fake = await server.UploadAsync(user, [0, 0, 0, 0x18, (byte)'f', (byte)'t', (byte)'y', (byte)'p', (byte)'i', (byte)'s', (byte)'o', (byte)'m', 1, 2, 3], "fake.mp4");
        Assert.Equal("video/mp4", (string?)fake["contentType"]);
        Assert.False((bool)fake["hasThumbnail"]!);
    }

    private static string? FfmpegPath() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "ffmpeg"))
            .FirstOrDefault(File.Exists);

    /// <summary>A two-second MPEG-4 test pattern made by ffmpeg itself.</summary>
    private static async Task<byte[]> MakeVideoAsync(string directory, int width, int height)
    {
        var path = Path.Combine(directory, "test-video.mp4");
        var start = new ProcessStartInfo(FfmpegPath()!) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[]
        {
            "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", $"testsrc=size={width}x{height}:rate=10",
            "-t", "2", "-c:v", "mpeg4", "-pix_fmt", "yuv420p", path,
        })
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
