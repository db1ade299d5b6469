using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

/// <summary>
/// Uploads that cost far more to process than to send: decompression bombs and many videos at once. Real server
/// processes; the limits hold whatever the machine's speed (no timing is asserted).
/// </summary>
public sealed class MediaLimitsTests() : OwnServerTests(Backend.Sqlite)
{
    private const long MiB = 1024 * 1024;

    /// <summary>
    /// A 2.2 MB interlaced 17000 x 17000 16-bit RGBA PNG decodes to 2.3 GB, and libvips must decode an interlaced
    /// PNG whole: before the pixel limits one took 15 s of CPU and raised the server's RSS by 2.5 GB, three 7.5 GB.
    /// </summary>
    [Fact]
    public async Task Three_concurrent_interlaced_17000_pixel_pngs_are_stored_without_a_thumbnail_in_bounded_memory()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the server's memory is read from /proc/<pid>/status");
        var bomb = HugeInterlacedPng.Path;
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ChildServer.StartAsync(store, "--Files:ProcessingWaitSeconds=600");
        var users = new[] { await server.RegisterAsync(), await server.RegisterAsync(), await server.RegisterAsync() };

        // Warm up what every image upload uses (libvips' code, the first thumbnail), then measure from there.
        var warm = await server.UploadAsync(users[0], TestImages.Png(400, 300), "warm.png");
        Assert.True((bool)warm["hasThumbnail"]!);
        var before = Memory(server.ProcessId, "VmRSS");

        var uploads = users.Select(async user =>
        {
            await using var stream = File.OpenRead(bomb);
            return await server.Upload(user, new StreamContent(stream), "bomb.png").Expect(HttpStatusCode.Created);
        }).ToList();
        var files = await Task.WhenAll(uploads).WaitAsync(TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);

        var peak = Memory(server.ProcessId, "VmHWM");
        Assert.True(peak - before < 512 * MiB, $"the server's RSS grew by {(peak - before) / MiB} MiB (from {before / MiB} MiB to a peak of {peak / MiB} MiB)");
        for (var i = 0; i < files.Length; i++)
        {
            var file = files[i];
            Assert.Equal("image/png", (string?)file["contentType"]);
            Assert.Equal(new FileInfo(bomb).Length, (long)file["size"]!);
            Assert.Equal(17_000, (int)file["width"]!); // from the header, which is all that was read
            Assert.Equal(17_000, (int)file["height"]!);
            Assert.False((bool)file["hasThumbnail"]!);
            using (var download = await server.Download(users[i], $"/api/files/{file.Id()}", r => r.Headers.Range = new(0, 7)))
            {
                Assert.Equal(HttpStatusCode.PartialContent, download.StatusCode);
                Assert.Equal([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], await download.Content.ReadAsByteArrayAsync());
            }

            await server.Download(users[i], $"/api/files/{file.Id()}/thumbnail").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        }
    }

    /// <summary>
    /// Two uploads that cost far more than their pixel count: a 1,000,000 x 4 16-bit PNG (4 million pixels, 30 KB;
    /// libvips holds its rows at full width, and before the width limit it raised the server's RSS by 0.7 GB, one
    /// 10,000,000 wide by 7.8 GB) and a 4000 x 4000 progressive JPEG of 10,000 scans (280 KB; libjpeg passes over the
    /// image once per scan, 100,000 scans took 95 s of CPU, which nothing can interrupt). Both are stored with the
    /// size from their header and no thumbnail.
    /// </summary>
    [Fact]
    public async Task A_very_wide_png_and_a_jpeg_of_many_scans_are_stored_without_a_thumbnail_in_bounded_memory()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the server's memory is read from /proc/<pid>/status");
        await using var store = await TestStore.CreateAsync(Backend);
        var wide = Path.Combine(store.DataDir, "wide.png");
        TestImages.WriteBlankPng(wide, 1_000_000, 4, interlaced: false);
        await using var server = await ChildServer.StartAsync(store, "--Files:ProcessingWaitSeconds=600");
        var user = await server.RegisterAsync();
        var warm = await server.UploadAsync(user, TestImages.Png(400, 300), "warm.png");
        Assert.True((bool)warm["hasThumbnail"]!);
        var before = Memory(server.ProcessId, "VmRSS");

        JsonNode file;
        await using (var stream = File.OpenRead(wide))
        {
            file = await server.Upload(user, new StreamContent(stream), "wide.png").Expect(HttpStatusCode.Created);
        }

        var peak = Memory(server.ProcessId, "VmHWM");
        Assert.True(peak - before < 256 * MiB, $"the server's RSS grew by {(peak - before) / MiB} MiB (from {before / MiB} MiB to a peak of {peak / MiB} MiB)");
        Assert.Equal((1_000_000, 4), ((int)file["width"]!, (int)file["height"]!));
        Assert.False((bool)file["hasThumbnail"]!);

        var scans = await server.UploadAsync(user, TestImages.ProgressiveJpeg(4000, 4000, 10_000), "scans.jpg");
        Assert.Equal("image/jpeg", (string?)scans["contentType"]);
        Assert.Equal((4000, 4000), ((int)scans["width"]!, (int)scans["height"]!));
        Assert.False((bool)scans["hasThumbnail"]!);
        await server.Download(user, $"/api/files/{scans.Id()}/thumbnail").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    /// <summary>
    /// glibc keeps what a thread frees in that thread's arena once it has freed a large block, and libvips frees its
    /// buffers on the media threads and on its own: before the server fixed glibc's mmap threshold its RSS rose by
    /// about 500 MB over a dozen large images and never came down (840 MB after fifty). Now what they took is given back.
    /// </summary>
    [Fact]
    public async Task The_memory_that_large_images_took_is_given_back_when_they_are_done()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the server's memory is read from /proc/<pid>/status");
        await using var store = await TestStore.CreateAsync(Backend);
        var images = new[] { (16_384, 2_441, false), (16_384, 976, true), (4_000, 4_000, true) }.Select(size =>
        {
            var path = Path.Combine(store.DataDir, $"{size.Item1}x{size.Item2}{(size.Item3 ? "-adam7" : "")}.png");
            TestImages.WriteBlankPng(path, size.Item1, size.Item2, size.Item3);
            return path;
        }).ToList();
        await using var server = await ChildServer.StartAsync(store, "--Files:ProcessingWaitSeconds=600");
        var user = await server.RegisterAsync();
        var warm = await server.UploadAsync(user, TestImages.Png(400, 300), "warm.png");
        Assert.True((bool)warm["hasThumbnail"]!);
        var before = Memory(server.ProcessId, "VmRSS");

        for (var round = 0; round < 4; round++)
        {
            var files = await Task.WhenAll(images.Select(async path =>
            {
                await using var stream = File.OpenRead(path);
                return await server.Upload(user, new StreamContent(stream), Path.GetFileName(path)).Expect(HttpStatusCode.Created);
            })).WaitAsync(TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);
            Assert.All(files, file => Assert.True((bool)file["hasThumbnail"]!, (string?)file["name"]));
        }

        // Every upload waited for its processing, so nothing is being decoded now.
        var after = Memory(server.ProcessId, "VmRSS");
        Assert.True(after - before < 160 * MiB, $"the server's RSS stayed {(after - before) / MiB} MiB above what it was before the images (from {before / MiB} MiB to {after / MiB} MiB; peak {Memory(server.ProcessId, "VmHWM") / MiB} MiB)");
    }

    /// <summary>
    /// ffmpeg and ffprobe are replaced by wrappers that log their start and end (under flock) and run the real ones:
    /// however many videos arrive at once, no more than Files:ProcessingConcurrency of them ever run together.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Eight_concurrent_video_uploads_never_run_more_ffmpeg_processes_than_the_bound()
    {
        Assert.SkipWhen(Ffmpeg.Path is null, Ffmpeg.NotInstalled);
        Assert.SkipUnless(OperatingSystem.IsLinux() && File.Exists("/usr/bin/flock"), "the wrappers are shell scripts that need flock (util-linux)");
        const int Bound = 2;
        await using var store = await TestStore.CreateAsync(Backend);
        var tools = Directory.CreateDirectory(Path.Combine(store.DataDir, "tools")).FullName;
        var log = Path.Combine(tools, "runs.log");
        var realFfmpeg = Ffmpeg.Path!;
        foreach (var (name, real) in new[] { ("ffmpeg", realFfmpeg), ("ffprobe", Path.Combine(Path.GetDirectoryName(realFfmpeg)!, "ffprobe")) })
        {
            var wrapper = Path.Combine(tools, name);
            await File.WriteAllTextAsync(wrapper, $"""
                #!/bin/sh
                ( flock 9; echo "start {name} $$" >&9 ) 9>>'{log}'
                '{real}' "$@"
                rc=$?
                ( flock 9; echo "end {name} $$" >&9 ) 9>>'{log}'
                exit $rc

                """, TestContext.Current.CancellationToken);
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        await using var server = await ParleyServer.StartAsync(
            store, null, $"--Files:Ffmpeg={Path.Combine(tools, "ffmpeg")}", $"--Files:ProcessingConcurrency={Bound}", "--Files:ProcessingWaitSeconds=600",
            "--Files:ConcurrentUploadsPerUser=8"); // one user uploads all eight at once
        var user = await server.RegisterAsync();
        var video = await Ffmpeg.MakeVideoAsync(store.DataDir, 320, 180);

        var files = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => server.UploadAsync(user, video, $"clip-{i}.mp4")))
            .WaitAsync(TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);
        foreach (var file in files)
        {
            Assert.Equal((320, 180), ((int)file["width"]!, (int)file["height"]!));
            Assert.True((bool)file["hasThumbnail"]!);
        }

        // Every run of either program is one start and one end line, in the order they happened.
        var running = 0;
        var most = 0;
        var runs = 0;
        foreach (var line in await File.ReadAllLinesAsync(log, TestContext.Current.CancellationToken))
        {
            var parts = line.Split(' ');
            if (parts[0] == "start")
            {
                runs++;
                most = Math.Max(most, ++running);
            }
            else
            {
                Assert.Equal("end", parts[0]);
                running--;
            }
        }

        Assert.Equal(0, running);
        Assert.True(runs >= 16, $"{runs} runs for 8 videos (each needs ffprobe and ffmpeg)");
        Assert.True(most <= Bound, $"{most} ffmpeg/ffprobe processes ran at once (bound {Bound})");
    }

    /// <summary>
    /// ffprobe reads a video's size from the container's header and decodes nothing: by default it decodes frames to
    /// fill in what the header leaves out, with no pixel limit, so a 3 MB MOV of one 16000 x 16000 16-bit PNG frame took
    /// 2 GB (this 4000 x 4000 one 175 MB; the header alone about 55 MB). A wrapper samples ffprobe's peak RSS.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Ffprobe_reads_the_size_from_the_header_without_decoding_a_frame()
    {
        Assert.SkipWhen(Ffmpeg.Path is null, Ffmpeg.NotInstalled);
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the wrapper reads ffprobe's memory from /proc/<pid>/status");
        await using var store = await TestStore.CreateAsync(Backend);
        var tools = Directory.CreateDirectory(Path.Combine(store.DataDir, "tools")).FullName;
        var log = Path.Combine(tools, "ffprobe-peaks.log");
        var realFfmpeg = Ffmpeg.Path!;
        var realFfprobe = Path.Combine(Path.GetDirectoryName(realFfmpeg)!, "ffprobe");
        await File.WriteAllTextAsync(Path.Combine(tools, "ffmpeg"), $"""
            #!/bin/sh
            exec '{realFfmpeg}' "$@"

            """, TestContext.Current.CancellationToken);
        // Polls VmHWM (the peak so far, so no sample can miss it while ffprobe runs) until ffprobe exits.
        await File.WriteAllTextAsync(Path.Combine(tools, "ffprobe"), $"""
            #!/bin/sh
            '{realFfprobe}' "$@" &
            pid=$!
            peak=0
            while kill -0 $pid 2>/dev/null; do
              kb=$(sed -n 's/^VmHWM:[^0-9]*\([0-9]*\).*/\1/p' /proc/$pid/status 2>/dev/null)
              if [ -n "$kb" ] && [ "$kb" -gt "$peak" ]; then peak=$kb; fi
            done
            wait $pid
            rc=$?
            echo "$peak" >> '{log}'
            exit $rc

            """, TestContext.Current.CancellationToken);
        foreach (var name in new[] { "ffmpeg", "ffprobe" })
        {
            File.SetUnixFileMode(Path.Combine(tools, name), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        await using var server = await ParleyServer.StartAsync(store, null, $"--Files:Ffmpeg={Path.Combine(tools, "ffmpeg")}", "--Files:ProcessingWaitSeconds=600");
        var user = await server.RegisterAsync();
        var video = await Ffmpeg.MakePngFrameVideoAsync(store.DataDir, 4000, 4000);

        var file = await server.UploadAsync(user, video, "frame.mov");
        Assert.Equal("video/quicktime", (string?)file["contentType"]);
        Assert.Equal((4000, 4000), ((int)file["width"]!, (int)file["height"]!));
        var peaks = (await File.ReadAllLinesAsync(log, TestContext.Current.CancellationToken)).Select(long.Parse).ToList();
        var peak = Assert.Single(peaks) * 1024;
        Assert.True(peak < 120 * MiB, $"ffprobe's RSS peaked at {peak / MiB} MiB for a frame that decodes to 122 MiB");
    }

    /// <summary>Bytes of a /proc/&lt;pid&gt;/status entry given in kB (VmRSS, VmHWM).</summary>
    private static long Memory(int pid, string key)
    {
        var line = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith(key + ":", StringComparison.Ordinal));
        return long.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>The bomb, written once per test run into a temporary file (it takes a few seconds of zlib).</summary>
    private static class HugeInterlacedPng
    {
        public static string Path { get; } = Make();

        private static string Make()
        {
            var directory = Directory.CreateTempSubdirectory("parley-bomb-").FullName;
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(directory, recursive: true);
            var path = System.IO.Path.Combine(directory, "interlaced-17000.png");
            TestImages.WriteInterlacedPng(path, 17_000, 17_000);
            return path;
        }
    }
}
