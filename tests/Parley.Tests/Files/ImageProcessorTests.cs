using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NetVips;
using Parley.Server.Files;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

/// <summary>
/// The image processor over the libvips that NetVips.Native ships: sizes, thumbnails, the pixel limits, formats
/// allowed, bad input, threads. Nothing here skips: libvips comes with the app, on every machine.
/// </summary>
[Trait("Tier", "Unit")]
public sealed class ImageProcessorTests : IDisposable
{
    private const int Box = 320;

    private readonly string _directory = Directory.CreateTempSubdirectory("parley-images-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void The_libvips_in_use_is_the_one_NetVips_Native_ships_with_the_app()
    {
        _ = Processor(); // sets libvips up
        Assert.True(NetVips.NetVips.AtLeastLibvips(8, 18), $"libvips {NetVips.NetVips.Version(0)}.{NetVips.NetVips.Version(1)} is loaded");
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the loaded library is read from /proc/self/maps");
        var loaded = File.ReadLines("/proc/self/maps")
            .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var at and >= 0 ? line[at..] : "")
            .Where(path => Path.GetFileName(path).StartsWith("libvips", StringComparison.Ordinal))
            .Distinct()
            .ToList();
        var library = Assert.Single(loaded);
        Assert.StartsWith(Path.Combine(AppContext.BaseDirectory, "runtimes"), library, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1000, 400)]
    [InlineData(300, 900)]
    [InlineData(1, 1)]
    public void Png_sizes_are_read(int width, int height)
    {
        var media = Processor().Process(Write("picture.png", TestImages.Png(width, height)), Box);
        Assert.Equal((width, height), (media.Width, media.Height));
        Assert.NotNull(media.Thumbnail);
    }

    [Fact]
    public void Jpeg_gif_and_webp_are_read_too()
    {
        using var image = Image.NewFromBuffer(TestImages.Png(1000, 400));
        foreach (var (name, bytes) in new[] { ("photo.jpg", image.JpegsaveBuffer()), ("anim.gif", image.GifsaveBuffer()), ("pic.webp", image.WebpsaveBuffer()) })
        {
            var media = Processor().Process(Write(name, bytes), Box);
            Assert.True((1000, 400) == (media.Width, media.Height), name);
            Assert.NotNull(media.Thumbnail);
            Assert.Equal((320, 128), DecodedImage.Size(media.Thumbnail));
        }
    }

    [Theory]
    [InlineData(1000, 400)]
    [InlineData(300, 900)]
    [InlineData(321, 321)]
    [InlineData(4000, 30)]
    [InlineData(30, 4000)]
    public void Thumbnails_are_jpegs_that_fit_the_box_and_keep_the_aspect_ratio(int width, int height)
    {
        var thumbnail = Processor().Process(Write("upload", TestImages.Png(width, height)), Box).Thumbnail;
        Assert.NotNull(thumbnail);
        Assert.True(DecodedImage.IsJpeg(thumbnail));
        var (w, h) = DecodedImage.Size(thumbnail);
        Assert.Equal(Box, Math.Max(w, h));
        AssertSameAspect(width, height, w, h);
    }

    [Theory]
    [InlineData(100, 50)]
    [InlineData(320, 200)]
    public void Small_images_are_re_encoded_but_never_enlarged(int width, int height)
    {
        var thumbnail = Processor().Process(Write("small.png", TestImages.Png(width, height)), Box).Thumbnail;
        Assert.NotNull(thumbnail);
        Assert.True(DecodedImage.IsJpeg(thumbnail));
        Assert.Equal((width, height), DecodedImage.Size(thumbnail));
    }

    [Fact]
    public void Transparent_images_are_thumbnailed_on_white()
    {
        var thumbnail = Processor().Process(Write("alpha.png", TestImages.Png(640, 480, alpha: true)), Box).Thumbnail;
        Assert.NotNull(thumbnail);
        using var image = Image.NewFromBuffer(thumbnail);
        Assert.Equal((320, 240, 3), (image.Width, image.Height, image.Bands));
        Assert.True(image.Getpoint(10, 120).All(v => v > 240), "the transparent half is white"); // the transparent left half
    }

    [Fact]
    public void Exif_orientation_turns_the_size_and_the_thumbnail_and_metadata_is_stripped()
    {
        // Stored 1000 x 400, EXIF orientation 6 ("rotate 90° clockwise to display"): shown as 400 x 1000.
        var rotated = WithExifOrientation(Jpeg(1000, 400), orientation: 6);
        var media = Processor().Process(Write("rotated.jpg", rotated), Box);
        Assert.Equal((400, 1000), (media.Width, media.Height));
        Assert.NotNull(media.Thumbnail);
        Assert.Equal((128, 320), DecodedImage.Size(media.Thumbnail));

        // No camera, no GPS, and the upright thumbnail cannot be turned a second time.
        Assert.True(rotated.AsSpan().IndexOf("Exif"u8) >= 0);
        Assert.True(media.Thumbnail.AsSpan().IndexOf("Exif"u8) < 0);
    }

    [Fact]
    public void Only_the_header_is_read_and_images_over_the_pixel_limit_get_their_size_but_no_thumbnail()
    {
        // 30000 x 30000 claimed, one short row present: decoding it would fail, so a size proves only the header was read.
        var media = Processor().Process(Write("bomb.png", TestImages.PngHeader(30_000, 30_000)), Box);
        Assert.Equal((30_000, 30_000), (media.Width, media.Height));
        Assert.Null(media.Thumbnail);

        var path = Write("big.png", TestImages.Png(1000, 400));
        Assert.Null(Processor(maxPixels: 399_999).Process(path, Box).Thumbnail);
        Assert.Equal(1000, Processor(maxPixels: 399_999).Process(path, Box).Width);
        Assert.NotNull(Processor(maxPixels: 400_000).Process(path, Box).Thumbnail);
        Assert.Null(Processor(maxPixels: 0).Process(path, Box).Thumbnail);
    }

    [Fact]
    public void Images_decoded_whole_have_a_lower_limit_interlaced_png_progressive_jpeg_and_gif()
    {
        using var image = Image.NewFromBuffer(TestImages.Png(500, 200));
        var interlacedPng = Write("adam7.png", image.PngsaveBuffer(interlace: true));
        var progressiveJpeg = Write("progressive.jpg", image.JpegsaveBuffer(interlace: true));
        var gif = Write("plain.gif", image.GifsaveBuffer());
        var plainPng = Write("plain.png", image.PngsaveBuffer());
        var baselineJpeg = Write("baseline.jpg", image.JpegsaveBuffer());

        var strict = Processor(interlacedPixels: 99_999);
        foreach (var path in new[] { interlacedPng, progressiveJpeg, gif })
        {
            var media = strict.Process(path, Box);
            Assert.True((500, 200) == (media.Width, media.Height), path);
            Assert.True(media.Thumbnail is null, $"{path} was thumbnailed over Files:MaxInterlacedPixels");
            Assert.NotNull(Processor(interlacedPixels: 100_000).Process(path, Box).Thumbnail);
        }

        // The others stream, row by row, and only Files:MaxImagePixels applies to them.
        Assert.NotNull(strict.Process(plainPng, Box).Thumbnail);
        Assert.NotNull(strict.Process(baselineJpeg, Box).Thumbnail);
    }

    /// <summary>
    /// libvips holds rows at the stored width, so a 10,000,000 x 4 PNG (40 million pixels, under the limit) took 7.8 GB:
    /// past <see cref="NetVipsImageProcessor.MaxWidth"/> only the size is given. JPEG, shrunk while decoded, is exempt.
    /// </summary>
    [Fact]
    public void Images_wider_than_the_row_limit_get_their_size_but_no_thumbnail_unless_they_are_jpegs()
    {
        const int Limit = NetVipsImageProcessor.MaxWidth;
        var processor = Processor();
        var wide = processor.Process(Write("wide.png", TestImages.Png(Limit + 1, 2)), Box);
        Assert.Equal((Limit + 1, 2), (wide.Width, wide.Height));
        Assert.Null(wide.Thumbnail);
        Assert.NotNull(processor.Process(Write("widest.png", TestImages.Png(Limit, 2)), Box).Thumbnail);

        var header = processor.Process(Write("bomb.png", TestImages.PngHeader(10_000_000, 4)), Box);
        Assert.Equal((10_000_000, 4), (header.Width, header.Height));
        Assert.Null(header.Thumbnail);

        using var image = Image.NewFromBuffer(TestImages.Png(Limit + 1, 2));
        Assert.Null(processor.Process(Write("wide.gif", image.GifsaveBuffer()), Box).Thumbnail);
        var jpeg = processor.Process(Write("wide.jpg", image.JpegsaveBuffer()), Box);
        Assert.Equal((Limit + 1, 2), (jpeg.Width, jpeg.Height));
        Assert.NotNull(jpeg.Thumbnail);
    }

    /// <summary>
    /// libjpeg passes over every block once per scan, and a scan that only skips blocks takes a few bytes: 100,000 of
    /// them over a 4000 x 4000 image (3 MB) took 95 s of a media worker's CPU. Past the scan limit only the size is given.
    /// </summary>
    [Fact]
    public void Jpegs_of_more_scans_than_the_limit_get_their_size_but_no_thumbnail()
    {
        const int Limit = NetVipsImageProcessor.MaxJpegScans;
        using var image = Image.NewFromBuffer(TestImages.Png(500, 200));
        var progressive = image.JpegsaveBuffer(interlace: true);
        Assert.InRange(JpegScans.Count(new MemoryStream(progressive), int.MaxValue), 2, 20);
        Assert.Equal(1, JpegScans.Count(new MemoryStream(image.JpegsaveBuffer()), int.MaxValue));

        var processor = Processor();
        var atLimit = TestImages.ProgressiveJpeg(500, 200, Limit);
        Assert.Equal(Limit, JpegScans.Count(new MemoryStream(atLimit), int.MaxValue));
        var media = processor.Process(Write("at-limit.jpg", atLimit), Box);
        Assert.Equal((500, 200), (media.Width, media.Height));
        Assert.NotNull(media.Thumbnail);

        var over = TestImages.ProgressiveJpeg(500, 200, Limit + 1);
        Assert.Equal(Limit + 1, JpegScans.Count(new MemoryStream(over), int.MaxValue));
        media = processor.Process(Write("over.jpg", over), Box);
        Assert.Equal((500, 200), (media.Width, media.Height));
        Assert.Null(media.Thumbnail);

        // Segments are skipped by their length: SOS bytes in a comment (or EXIF, or an ICC profile) are not scans,
        // and neither are the scans of whatever follows the image's end (a second picture, a trailer).
        byte[] sos = [0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00];
        var comment = Enumerable.Repeat(sos, 200).SelectMany(b => b).ToArray();
        byte[] com = [0xFF, 0xFE, (byte)((comment.Length + 2) >> 8), (byte)(comment.Length + 2), .. comment];
        var commented = (byte[])[.. atLimit[..2], .. com, .. atLimit[2..], .. Enumerable.Repeat(over, 3).SelectMany(b => b)];
        Assert.Equal(Limit, JpegScans.Count(new MemoryStream(commented), int.MaxValue));
        Assert.NotNull(processor.Process(Write("commented.jpg", commented), Box).Thumbnail);
    }

    [Fact]
    public void Only_png_jpeg_gif_and_webp_are_parsed_at_all()
    {
        using var image = Image.NewFromBuffer(TestImages.Png(200, 100));
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"100\"><rect width=\"200\" height=\"100\"/></svg>"u8.ToArray();
        // This libvips has loaders for each of these formats: the processor blocks them before any parsing.
        foreach (var loader in new[] { "tiffload_source", "svgload_source", "heifload_source" })
        {
            Assert.NotEqual(IntPtr.Zero, NetVips.NetVips.TypeFind("VipsOperation", loader));
        }

        var avif = image.HeifsaveBuffer(compression: Enums.ForeignHeifCompression.Av1, effort: 0);
        foreach (var (name, bytes) in new[] { ("picture.tif", image.TiffsaveBuffer()), ("picture.svg", svg), ("picture.avif", avif) })
        {
            Assert.True(MediaInfo.None == Processor().Process(Write(name, bytes), Box), name);
        }
    }

    [Fact]
    public void Odd_file_names_are_taken_literally()
    {
        var png = TestImages.Png(200, 100);

        // libvips would read "[shrink=2]" at the end of a file name as load options.
        foreach (var name in new[] { "x.png[shrink=2]", "no extension", "ünïcödé [1].png", "data.bin" })
        {
            var media = Processor().Process(Write(name, png), Box);
            Assert.True((200, 100) == (media.Width, media.Height), name);
            Assert.NotNull(media.Thumbnail);
            Assert.Equal((200, 100), DecodedImage.Size(media.Thumbnail));
        }
    }

    /// <summary>Bad input is never an exception: no size and no thumbnail, or the header's size alone.</summary>
    [Fact]
    public void Garbage_html_truncated_and_missing_inputs_fail_softly()
    {
        var random = new byte[4096];
        new Random(42).NextBytes(random);
        var html = Encoding.UTF8.GetBytes("<!DOCTYPE html>\n<html><head><title>x</title></head><body><img src=x onerror=alert(1)></body></html>\n");
        var svgLike = Encoding.UTF8.GetBytes("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>");
        var png = TestImages.Png(1000, 400);
        var processor = Processor();
        foreach (var bytes in new[] { random, html, svgLike, png[..8], [0], [], "GIF89a"u8.ToArray(), [0xFF, 0xD8, 0xFF, 0xE0] })
        {
            Assert.Equal(MediaInfo.None, processor.Process(Write("bad", bytes), Box));
        }

        Assert.Equal(MediaInfo.None, processor.Process(Path.Combine(_directory, "does-not-exist.png"), Box));
        Assert.Equal(MediaInfo.None, processor.Process(_directory, Box));
        Assert.Equal(MediaInfo.None, processor.Process("", Box));
        Assert.Equal(MediaInfo.None, processor.Process("a\0b", Box));

        // Cut in the middle of the pixel data: the header's size; libvips is lenient (as browsers are) and may make
        // a thumbnail of the rows it has, but it must not throw, and what it gives must decode.
        using var image = Image.NewFromBuffer(png);
        foreach (var (name, bytes) in new[] { ("truncated.png", png), ("truncated.jpg", image.JpegsaveBuffer()) })
        {
            var truncated = processor.Process(Write(name, bytes[..(bytes.Length / 2)]), Box);
            Assert.True((1000, 400) == (truncated.Width, truncated.Height), name);
            if (truncated.Thumbnail is { } partial)
            {
                Assert.Equal((320, 128), DecodedImage.Size(partial));
            }
        }
    }

    [Fact]
    public async Task Two_hundred_thumbnails_in_parallel_all_succeed()
    {
        var processor = Processor();
        var inputs = new[] { Input(1000, 400), Input(300, 900), Input(100, 50), Input(640, 640) };
        var failures = new ConcurrentQueue<string>();

        await Parallel.ForAsync(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = TestContext.Current.CancellationToken }, (i, _) =>
        {
            var (path, width, height) = inputs[i % inputs.Length];
            var media = processor.Process(path, Box);
            var scale = Math.Min(1.0, (double)Box / Math.Max(width, height));
            var expected = ((int)Math.Round(width * scale), (int)Math.Round(height * scale));
            if (media.Thumbnail is null)
            {
                failures.Enqueue($"#{i}: no thumbnail");
            }
            else if (DecodedImage.Size(media.Thumbnail) is var size && size != expected)
            {
                failures.Enqueue($"#{i}: thumbnail is {size}, expected {expected}");
            }

            return ValueTask.CompletedTask;
        });

        Assert.Empty(failures);

        (string, int, int) Input(int width, int height) => (Write($"{width}x{height}.png", TestImages.Png(width, height)), width, height);
    }

    private static NetVipsImageProcessor Processor(long maxPixels = 40_000_000, long interlacedPixels = 16_000_000) =>
        new(Options.Create(new FileUploadOptions { MaxImagePixels = maxPixels, MaxInterlacedPixels = interlacedPixels }), NullLogger<NetVipsImageProcessor>.Instance);

    /// <summary>A baseline JPEG of exactly this size.</summary>
    private static byte[] Jpeg(int width, int height)
    {
        using var image = Image.NewFromBuffer(TestImages.Png(width, height));
        return image.JpegsaveBuffer(q: 90);
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
