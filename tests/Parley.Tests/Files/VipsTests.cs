using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Data.Sqlite;
using Parley.Server.Files;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

/// <summary>The libvips binding: sizes, thumbnails, bad input, threads. Skipped where libvips is not installed.</summary>
public sealed class VipsTests : IDisposable
{
    private const string NotInstalled =
        "libvips (libvips.so.42, Debian package libvips42) is not installed here: scripts/deps.sh installs it";

    private const int Box = 320;

    private readonly string _directory = Directory.CreateTempSubdirectory("parley-vips-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(1000, 400)]
    [InlineData(300, 900)]
    [InlineData(1, 1)]
    public void Png_sizes_are_read_from_bytes_and_files(int width, int height)
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);
        var png = TestImages.Png(width, height);

        Assert.True(Vips.TryReadSize(png, out var w, out var h));
        Assert.Equal((width, height), (w, h));

        var path = Write("picture.png", png);
        Assert.True(Vips.TryReadSizeFile(path, out w, out h));
        Assert.Equal((width, height), (w, h));
    }

    [Fact]
    public void Jpeg_sizes_are_read()
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);
        var jpeg = Jpeg(1000, 400);
        Assert.Equal([0xFF, 0xD8, 0xFF], jpeg[..3]);

        Assert.True(Vips.TryReadSize(jpeg, out var w, out var h));
        Assert.Equal((1000, 400), (w, h));
        Assert.True(Vips.TryReadSizeFile(Write("photo.jpg", jpeg), out w, out h));
        Assert.Equal((1000, 400), (w, h));
    }

    [Fact]
    public void Only_the_header_is_read_to_measure_and_huge_images_are_not_thumbnailed()
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);

        // 30000 x 30000 claimed, one row of pixels present: measuring must not decode, thumbnailing must refuse.
        var bomb = TestImages.PngHeader(30_000, 30_000);
        Assert.True(Vips.TryReadSize(bomb, out var w, out var h));
        Assert.Equal((30_000, 30_000), (w, h));
        Assert.Null(Vips.TryThumbnail(bomb, Box));
        Assert.Null(Vips.TryThumbnailFile(Write("bomb.png", bomb), Box));
    }

    [Theory]
    [InlineData(1000, 400, ThumbnailFormat.Jpeg)]
    [InlineData(1000, 400, ThumbnailFormat.WebP)]
    [InlineData(300, 900, ThumbnailFormat.Jpeg)]
    [InlineData(300, 900, ThumbnailFormat.WebP)]
    [InlineData(321, 321, ThumbnailFormat.Jpeg)]
    [InlineData(4000, 30, ThumbnailFormat.Jpeg)]
    [InlineData(30, 4000, ThumbnailFormat.WebP)]
    public void Thumbnails_fit_the_box_and_keep_the_aspect_ratio(int width, int height, ThumbnailFormat format)
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);
        var png = TestImages.Png(width, height);

        var fromBytes = Vips.TryThumbnail(png, Box, format);
        var fromFile = Vips.TryThumbnailFile(Write("upload", png), Box, format);

        Assert.Equal(fromBytes, fromFile); // the same pixels, encoded the same way
        foreach (var thumbnail in new[] { fromBytes, fromFile })
        {
            Assert.NotNull(thumbnail);
            AssertEncodedAs(format, thumbnail);
            Assert.True(Vips.TryReadSize(thumbnail, out var w, out var h));
            Assert.Equal(Box, Math.Max(w, h));
            AssertSameAspect(width, height, w, h);
        }
    }

    [Fact]
    public void Jpeg_input_is_thumbnailed_too()
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);
        var thumbnail = Vips.TryThumbnail(Jpeg(300, 900), Box);
        Assert.NotNull(thumbnail);
        Assert.True(Vips.TryReadSize(thumbnail, out var w, out var h));
        Assert.Equal((107, 320), (w, h));
    }

    [Theory]
    [InlineData(100, 50)]
    [InlineData(320, 200)]
    public void Small_images_are_re_encoded_but_never_enlarged(int width, int height)
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);
        var png = TestImages.Png(width, height);

        foreach (var thumbnail in new[] { Vips.TryThumbnail(png, Box), Vips.TryThumbnailFile(Write("small.png", png), Box) })
        {
            Assert.NotNull(thumbnail);
            AssertEncodedAs(ThumbnailFormat.Jpeg, thumbnail);
            Assert.True(Vips.TryReadSize(thumbnail, out var w, out var h));
            Assert.Equal((width, height), (w, h));
        }
    }

    [Fact]
    public void Exif_orientation_turns_the_size_and_the_thumbnail()
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);

        // Stored 1000 x 400, EXIF orientation 6 ("rotate 90° clockwise to display"): shown as 400 x 1000.
        var rotated = WithExifOrientation(Jpeg(1000, 400), orientation: 6);
        Assert.True(Vips.TryReadSize(rotated, out var w, out var h));
        Assert.Equal((400, 1000), (w, h));

        var thumbnail = Vips.TryThumbnail(rotated, Box);
        Assert.NotNull(thumbnail);
        Assert.True(Vips.TryReadSize(thumbnail, out w, out h));
        Assert.Equal((128, 320), (w, h));

        // Metadata is stripped (no camera, no GPS), so the upright thumbnail cannot be turned a second time.
        Assert.True(rotated.AsSpan().IndexOf("Exif"u8) >= 0);
        Assert.True(thumbnail.AsSpan().IndexOf("Exif"u8) < 0);
    }

    [Fact]
    public void Untrusted_loaders_are_blocked()
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);

        // libvips 8.14-8.16 reads BMP only through ImageMagick, a loader it marks untrusted; Vips blocks those at
        // startup (vips_block_untrusted_set), so a valid BMP is not an image here. If a later libvips reads BMP
        // natively, this test needs another ImageMagick-only format.
        byte[] bmp =
        [
            (byte)'B', (byte)'M', 70, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0,  // file header: size 70, pixels at 54
            40, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 24, 0,              // info header: 2 x 2, 24-bit
            0, 0, 0, 0, 16, 0, 0, 0, 0x13, 0x0B, 0, 0, 0x13, 0x0B, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 255, 0, 255, 0, 0, 0,                                    // bottom row + padding
            255, 0, 0, 255, 255, 255, 0, 0,                                // top row + padding
        ];
        Assert.False(Vips.TryReadSize(bmp, out _, out _));
        Assert.Null(Vips.TryThumbnail(bmp, Box));
        Assert.Null(Vips.TryThumbnailFile(Write("picture.bmp", bmp), Box));
    }

    [Theory]
    [InlineData(ThumbnailFormat.Jpeg)]
    [InlineData(ThumbnailFormat.WebP)]
    public void Transparent_images_are_thumbnailed(ThumbnailFormat format)
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);
        var thumbnail = Vips.TryThumbnail(TestImages.Png(640, 480, alpha: true), Box, format);
        Assert.NotNull(thumbnail);
        AssertEncodedAs(format, thumbnail);
        Assert.True(Vips.TryReadSize(thumbnail, out var w, out var h));
        Assert.Equal((320, 240), (w, h));
    }

    [Fact]
    public void Odd_file_names_are_taken_literally()
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);
        var png = TestImages.Png(200, 100);

        // libvips would read "[shrink=2]" at the end of a name as load options.
        foreach (var name in new[] { "x.png[shrink=2]", "no extension", "ünïcödé [1].png", "data.bin" })
        {
            var path = Write(name, png);
            Assert.True(Vips.TryReadSizeFile(path, out var w, out var h), name);
            Assert.Equal((200, 100), (w, h));
            Assert.NotNull(Vips.TryThumbnailFile(path, Box));
        }
    }

    /// <summary>
    /// libvips' own module loading (RTLD_GLOBAL) let Debian's openslide module put the system libsqlite3 in front of
    /// Microsoft.Data.Sqlite's e_sqlite3, which then crashed the process in sqlite3_open_v2. Vips loads the modules
    /// with local binding: their formats are there, their libraries' symbols are not global.
    /// </summary>
    [Fact]
    public void Modules_are_loaded_without_leaking_their_symbols_into_the_process()
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);

        var global = NativeLibrary.GetMainProgramHandle(); // dlsym on it searches the global scope
        foreach (var symbol in new[] { "sqlite3_open_v2", "sqlite3_initialize", "openslide_open", "heif_context_alloc", "MagickCoreGenesis" })
        {
            Assert.False(NativeLibrary.TryGetExport(global, symbol, out _), $"{symbol} is in the global symbol scope");
        }

        using (var connection = new SqliteConnection("Data Source=:memory:"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "select 40 + 2";
            Assert.Equal(42L, command.ExecuteScalar());
        }

        // Formats that come from modules are still there (where the module is installed), safe ones usable.
        var modules = new[] { "/usr/lib", "/usr/lib64", "/usr/local/lib" }
            .Where(Directory.Exists)
            .SelectMany(root => Directory.EnumerateDirectories(root).Prepend(root))
            .SelectMany(dir => Directory.EnumerateDirectories(dir, "vips-modules-*"))
            .SelectMany(dir => Directory.EnumerateFiles(dir, "*.so"))
            .Select(Path.GetFileName)
            .ToHashSet();
        Assert.SkipWhen(modules.Count == 0, "this libvips has no loadable modules");
        if (modules.Contains("vips-heif.so"))
        {
            Assert.True(Vips.HasOperation("heifload_source"));
        }

        if (modules.Contains("vips-poppler.so"))
        {
            Assert.True(Vips.HasOperation("pdfload_source"));
        }
    }

    /// <summary>Runs with or without libvips: bad input is a plain false or null, never an exception.</summary>
    [Fact]
    public void Garbage_html_truncated_and_missing_inputs_fail_softly()
    {
        var random = new byte[4096];
        new Random(42).NextBytes(random);
        var html = Encoding.UTF8.GetBytes("<!DOCTYPE html>\n<html><head><title>x</title></head><body><img src=x onerror=alert(1)></body></html>\n");
        var svgLike = Encoding.UTF8.GetBytes("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>");
        var png = TestImages.Png(1000, 400);
        var pngSignatureOnly = png[..8];
        var bad = new[] { random, html, svgLike, pngSignatureOnly, [0], "GIF89a"u8.ToArray(), [0xFF, 0xD8, 0xFF, 0xE0] };

        foreach (var bytes in bad)
        {
            Assert.False(Vips.TryReadSize(bytes, out var w, out var h));
            Assert.Equal((0, 0), (w, h));
            Assert.Null(Vips.TryThumbnail(bytes, Box));
            var path = Write("bad", bytes);
            Assert.False(Vips.TryReadSizeFile(path, out _, out _));
            Assert.Null(Vips.TryThumbnailFile(path, Box));
        }

        Assert.False(Vips.TryReadSize([], out _, out _));
        Assert.Null(Vips.TryThumbnail([], Box));
        Assert.Null(Vips.TryThumbnail(png, 0));
        Assert.Null(Vips.TryThumbnail(png, -5));
        var missing = Path.Combine(_directory, "does-not-exist.png");
        Assert.False(Vips.TryReadSizeFile(missing, out _, out _));
        Assert.Null(Vips.TryThumbnailFile(missing, Box));
        Assert.False(Vips.TryReadSizeFile(_directory, out _, out _));
        Assert.Null(Vips.TryThumbnailFile("", Box));
        Assert.Null(Vips.TryThumbnailFile("a\0b", Box));

        // Cut in the middle of the pixel data: libvips may still make something of the header and the rows it
        // has (it is lenient by default), but it must not throw or crash, and whatever it returns must decode.
        var truncated = png[..(png.Length / 2)];
        _ = Vips.TryReadSize(truncated, out _, out _);
        if (Vips.TryThumbnail(truncated, Box) is { } partial)
        {
            Assert.True(Vips.TryReadSize(partial, out _, out _));
        }
    }

    [Fact]
    public async Task Two_hundred_thumbnails_in_parallel_all_succeed()
    {
        Assert.SkipUnless(Vips.IsAvailable, NotInstalled);
        var inputs = new (byte[] Bytes, string Path, int Width, int Height)[]
        {
            Input(1000, 400), Input(300, 900), Input(100, 50), Input(640, 640),
        };
        var failures = new ConcurrentQueue<string>();

        await Parallel.ForAsync(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = TestContext.Current.CancellationToken }, (i, _) =>
        {
            var (bytes, path, width, height) = inputs[i % inputs.Length];
            var format = i % 3 == 0 ? ThumbnailFormat.WebP : ThumbnailFormat.Jpeg;
            var thumbnail = i % 2 == 0 ? Vips.TryThumbnail(bytes, Box, format) : Vips.TryThumbnailFile(path, Box, format);
            var scale = Math.Min(1.0, (double)Box / Math.Max(width, height));
            var expected = ((int)Math.Round(width * scale), (int)Math.Round(height * scale));
            if (thumbnail is null)
            {
                failures.Enqueue($"#{i}: no thumbnail");
            }
            else if (!Vips.TryReadSize(thumbnail, out var w, out var h) || (w, h) != expected)
            {
                failures.Enqueue($"#{i}: thumbnail is {w}x{h}, expected {expected}");
            }

            return ValueTask.CompletedTask;
        });

        Assert.Empty(failures);

        (byte[], string, int, int) Input(int width, int height)
        {
            var png = TestImages.Png(width, height);
            return (png, Write($"{width}x{height}.png", png), width, height);
        }
    }

    /// <summary>A baseline JPEG of exactly this size: a PNG re-encoded by libvips, boxed big enough never to shrink.</summary>
    private static byte[] Jpeg(int width, int height)
    {
        var jpeg = Vips.TryThumbnail(TestImages.Png(width, height), Math.Max(width, height), ThumbnailFormat.Jpeg);
        Assert.NotNull(jpeg);
        return jpeg;
    }

    /// <summary>The JPEG with an APP1 Exif segment (big-endian TIFF, IFD0 holding only Orientation) right after its SOI marker.</summary>
    private static byte[] WithExifOrientation(byte[] jpeg, byte orientation)
    {
        byte[] app1 =
        [
            0xFF, 0xE1, 0x00, 0x22,                         // APP1, length 34 (includes these two bytes)
            (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0,
            (byte)'M', (byte)'M', 0x00, 0x2A, 0, 0, 0, 8,   // TIFF header, IFD0 at offset 8
            0x00, 0x01,                                     // one entry
            0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0x00, orientation, 0, 0, // Orientation, SHORT, count 1, value
            0, 0, 0, 0,                                     // no next IFD
        ];
        return [.. jpeg[..2], .. app1, .. jpeg[2..]];
    }

    private static void AssertEncodedAs(ThumbnailFormat format, byte[] image)
    {
        if (format == ThumbnailFormat.WebP)
        {
            Assert.Equal("RIFF"u8.ToArray(), image[..4]);
            Assert.Equal("WEBP"u8.ToArray(), image[8..12]);
        }
        else
        {
            Assert.Equal([0xFF, 0xD8, 0xFF], image[..3]);
        }
    }

    /// <summary>The thumbnail's shape is the original's, give or take the rounding of the short side to a whole pixel.</summary>
    private static void AssertSameAspect(int width, int height, int w, int h)
    {
        if (width >= height)
        {
            Assert.InRange((double)h, Math.Max(1, ((double)height * w / width) - 1), ((double)height * w / width) + 1);
        }
        else
        {
            Assert.InRange((double)w, Math.Max(1, ((double)width * h / height) - 1), ((double)width * h / height) + 1);
        }
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_directory, Guid.NewGuid().ToString("N"), name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
