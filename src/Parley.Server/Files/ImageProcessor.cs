using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using NetVips;

namespace Parley.Server.Files;

/// <summary>Image measuring and thumbnails of uploads (hostile input).</summary>
public interface IImageProcessor
{
    /// <summary>
    /// The displayed size of the image in the file and a JPEG thumbnail of at most <paramref name="maxSide"/> pixels on
    /// its long side, each when it can be had within the limits. Never throws for any input; synchronous and
    /// CPU-bound, so it is run by <see cref="MediaWorkers"/>, never on a request thread.
    /// </summary>
    MediaInfo Process(string path, int maxSide);
}

/// <summary>
/// libvips through NetVips, with the libvips that the NetVips.Native packages ship (nothing to install). Every
/// image is opened once to read its header (no pixel decoded), refused past the pixel limits, then thumbnailed
/// with shrink-on-load and sequential access, so memory holds a few rows, not the image; for the images libvips
/// must decode whole, the lower limit (<see cref="FileUploadOptions.MaxInterlacedPixels"/>) bounds it. Two shapes cost
/// far more than their pixel count: very wide images (rows are held at full width, <see cref="MaxWidth"/>) and JPEGs
/// of many scans (<see cref="MaxJpegScans"/>): they get their size but no thumbnail, before any pixel is decoded.
/// </summary>
public sealed partial class NetVipsImageProcessor : IImageProcessor, IDisposable
{
    /// <summary>
    /// The widest image thumbnailed, but for JPEG. libvips holds rows of the stored width through the whole
    /// pipeline, so memory grows with the width whatever the pixel count: a 311 KB 10,000,000 x 4 16-bit RGBA PNG
    /// (40 million pixels) took 7.8 GB and 20 s of CPU, one 1,000,000 pixels wide 0.7 GB; at 16384 (about WebP's own
    /// maximum, 16383) a 40-million-pixel 16-bit PNG takes about 110 MB. JPEG is exempt: it is shrunk while it is decoded,
    /// by up to 8, so its rows are at most 65535 / 8 wide.
    /// </summary>
    internal const int MaxWidth = 16384;

    /// <summary>The most scans a JPEG thumbnailed may have (see <see cref="JpegScans"/>); encoders write about ten.</summary>
    internal const int MaxJpegScans = 100;

    private readonly FileUploadOptions _options;
    private readonly ILogger<NetVipsImageProcessor> _logger;

    public NetVipsImageProcessor(IOptions<FileUploadOptions> options, ILogger<NetVipsImageProcessor> logger)
    {
        _options = options.Value;
        _logger = logger;
        if (LibVips.Failure is { } failure)
        {
            LogUnavailable(logger, failure.Message);
        }
        else
        {
            LibVips.Logger = logger;
            LogLoaded(logger, LibVips.Version);
        }
    }

    public MediaInfo Process(string path, int maxSide)
    {
        if (!LibVips.IsAvailable || string.IsNullOrEmpty(path) || path.Contains('\0', StringComparison.Ordinal))
        {
            return MediaInfo.None;
        }

        // A source takes the name literally, where a file name would have a trailing "[...]" read as load options.
        Source source;
        try
        {
            source = Source.NewFromFile(path);
        }
        catch (VipsException e)
        {
            LogUnreadable(_logger, FirstLine(e.Message));
            return MediaInfo.None;
        }

        using (source)
        {
            if (ReadHeader(source) is not var (width, height, whole, jpeg, storedWidth))
            {
                return MediaInfo.None;
            }

            var limit = whole ? Math.Min(_options.MaxInterlacedPixels, _options.MaxImagePixels) : _options.MaxImagePixels;
            if (maxSide <= 0 || (long)width * height > limit)
            {
                if (maxSide > 0)
                {
                    LogTooLarge(_logger, width, height, whole ? "Files:MaxInterlacedPixels" : "Files:MaxImagePixels", limit);
                }

                return new MediaInfo(width, height, null);
            }

            if (!jpeg && storedWidth > MaxWidth)
            {
                LogTooWide(_logger, width, height, MaxWidth);
                return new MediaInfo(width, height, null);
            }

            if (jpeg && CountScans(path) > MaxJpegScans)
            {
                LogTooManyScans(_logger, width, height, MaxJpegScans);
                return new MediaInfo(width, height, null);
            }

            // The header's size is reported even when the pixels turn out to be damaged (a truncated upload).
            return new MediaInfo(width, height, Thumbnail(source, maxSide));
        }
    }

    /// <summary>
    /// The displayed size, whether libvips must decode the image whole, whether it is a JPEG and its stored width (the
    /// rows libvips decodes); null when it is no image of an allowed format.
    /// </summary>
    private (int Width, int Height, bool Whole, bool Jpeg, int StoredWidth)? ReadHeader(Source source)
    {
        try
        {
            // Sequential access, and only the header is read: no pixel is decoded here.
            using var header = Image.NewFromSource(source, access: Enums.Access.Sequential);
            var (width, height) = (header.Width, header.Height);
            if (width <= 0 || height <= 0)
            {
                return null;
            }

            // libvips sets "interlaced" for Adam7 PNG, progressive JPEG and interlaced GIF: those it decodes at full
            // size into memory before it can shrink them; GIF frames are always decoded whole.
            var loader = header.Get("vips-loader") as string ?? "";
            var whole = (header.Contains("interlaced") && header.Get("interlaced") is 1) || loader.StartsWith("gifload", StringComparison.Ordinal);
            var jpeg = loader.StartsWith("jpegload", StringComparison.Ordinal);

            // EXIF orientations 5-8 turn the image by 90°, as the thumbnail will be turned.
            if (header.Contains("orientation") && header.Get("orientation") is int orientation and >= 5 and <= 8)
            {
                (width, height) = (height, width);
            }

            return (width, height, whole, jpeg, header.Width);
        }
        catch (VipsException e)
        {
            // Not an image, or of a format that is not allowed, or a damaged header.
            LogUnreadable(_logger, FirstLine(e.Message));
            return null;
        }
    }

    /// <summary>The JPEG's scans, or one past the limit when there are more or the file cannot be read.</summary>
    private int CountScans(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            return JpegScans.Count(file, MaxJpegScans);
        }
        catch (IOException e)
        {
            LogUnreadable(_logger, e.Message);
            return MaxJpegScans + 1;
        }
    }

    private byte[]? Thumbnail(Source source, int maxSide)
    {
        try
        {
            // The same source again (rewound). The thumbnail loader shrinks on load where the format allows (JPEG by
            // 2, 4 or 8; WebP at any scale), reads sequentially, turns the image upright and never enlarges it;
            // the JPEG keeps no metadata (no camera, no GPS) and transparency is flattened onto white.
            using var thumbnail = Image.ThumbnailSource(source, maxSide, height: maxSide, size: Enums.Size.Down);
            var bytes = thumbnail.JpegsaveBuffer(q: 80, keep: Enums.ForeignKeep.None, background: [255]);
            return bytes is { Length: > 0 } ? bytes : null;
        }
        catch (VipsException e)
        {
            LogUnreadable(_logger, FirstLine(e.Message));
            return null;
        }
    }

    public void Dispose()
    {
        if (ReferenceEquals(LibVips.Logger, _logger))
        {
            LibVips.Logger = null;
        }
    }

    private static string FirstLine(string message) =>
        message.Trim() is var text && text.IndexOf('\n', StringComparison.Ordinal) is var at and >= 0 ? text[..at] : text;

    [LoggerMessage(Level = LogLevel.Warning, Message = "libvips is not available on this platform ({Reason}): uploads work, but images get no size and no thumbnail")]
    private static partial void LogUnavailable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Images: libvips {Version} from NetVips.Native")]
    private static partial void LogLoaded(ILogger logger, string version);

    [LoggerMessage(Level = LogLevel.Information, Message = "An uploaded image of {Width} x {Height} pixels is over {Setting} ({Limit}): stored without a thumbnail")]
    private static partial void LogTooLarge(ILogger logger, int width, int height, string setting, long limit);

    [LoggerMessage(Level = LogLevel.Information, Message = "An uploaded image of {Width} x {Height} pixels is wider than {Limit} pixels: stored without a thumbnail")]
    private static partial void LogTooWide(ILogger logger, int width, int height, int limit);

    [LoggerMessage(Level = LogLevel.Information, Message = "An uploaded JPEG of {Width} x {Height} pixels has more than {Limit} scans: stored without a thumbnail")]
    private static partial void LogTooManyScans(ILogger logger, int width, int height, int limit);

    [LoggerMessage(Level = LogLevel.Debug, Message = "libvips could not read an uploaded image: {Reason}")]
    private static partial void LogUnreadable(ILogger logger, string reason);
}

/// <summary>
/// libvips' process-wide state, set once before the first image: NetVips' module initializer has already called
/// <c>vips_init</c> when its assembly loaded, with the <c>libvips.so.42</c> (or <c>.dylib</c>, <c>.dll</c>) of the
/// NetVips.Native package for this runtime, found in the app's <c>runtimes/</c> directory before any system copy.
/// </summary>
internal static partial class LibVips
{
    /// <summary>The only loaders allowed: the formats that <see cref="ContentSniffer"/> calls images.</summary>
    private static readonly string[] AllowedLoaders = ["VipsForeignLoadPng", "VipsForeignLoadJpeg", "VipsForeignLoadNsgif", "VipsForeignLoadWebp"];

    private static readonly Lazy<Exception?> State = new(Initialize, LazyThreadSafetyMode.ExecutionAndPublication);

    private static Log.LogDelegate? s_handler;

    /// <summary>Where libvips' warnings go (the latest server's logger; none between servers).</summary>
    public static volatile ILogger? Logger;

    public static bool IsAvailable => State.Value is null;

    /// <summary>Why libvips cannot be used here (no NetVips.Native binary for this platform), or null.</summary>
    public static Exception? Failure => State.Value;

    public static string Version => IsAvailable ? $"{NetVips.NetVips.Version(0)}.{NetVips.NetVips.Version(1)}.{NetVips.NetVips.Version(2)}" : "none";

    /// <summary>mallopt's M_MMAP_THRESHOLD (glibc's malloc.h).</summary>
    private const int MmapThreshold = -3;

    [DllImport("libc.so.6", EntryPoint = "mallopt")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    private static extern int MallOpt(int parameter, int value);

    private static Exception? Initialize()
    {
        try
        {
            if (!ModuleInitializer.VipsInitialized)
            {
                return ModuleInitializer.Exception ?? new InvalidOperationException("libvips did not initialise");
            }

            // GLib prints libvips' warnings ("not enough data", "error in tile ..." for every damaged row of an
            // upload) and GObject's criticals on stderr, outside the structured log: route them to the logger.
            // Informational messages stay off (they would be many per image).
            s_handler = Forward;
            const Enums.LogLevelFlags Levels = Enums.LogLevelFlags.Error | Enums.LogLevelFlags.Critical | Enums.LogLevelFlags.Warning;
            foreach (var domain in new[] { "VIPS", "GLib", "GLib-GObject" })
            {
                Log.SetLogHandler(domain, Levels, s_handler);
            }

            // No operation cache: each upload is processed once, so it would only keep decoded images, their memory
            // and open files of hostile input alive (and a cached load would answer for a file that has changed).
            Cache.Max = 0;
            Cache.MaxMem = 0;
            Cache.MaxFiles = 0;

            // glibc serves an allocation of 128 KiB or more with its own mmap, given back when freed, until one such
            // block is freed: from then on it raises that threshold to the block's size (up to 32 MiB) and keeps
            // what is freed in the freeing thread's arena for reuse. libvips' buffers (strips of rows of up to 16384
            // pixels at 8 bytes: from 128 KiB to a few MiB) are freed on the media threads and on libvips' own, so
            // each thread's arena kept what its largest image took: the server's RSS rose from 115 MB to 840 MB over 50
            // large images and stayed there. A fixed threshold keeps it near 160 MB, at the same CPU.
            if (OperatingSystem.IsLinux())
            {
                try
                {
                    _ = MallOpt(MmapThreshold, 128 * 1024);
                }
                catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
                {
                    // musl or another C library: its allocator is left as it is
                }
            }

            // One libvips worker thread per image: the parallelism is Files:ProcessingConcurrency images at once,
            // so media never takes more cores than that, whatever libvips would start per image (one per core).
            NetVips.NetVips.Concurrency = 1;

            // Uploads are hostile input: block the loaders libvips marks untrusted (fuzzed less, or ImageMagick,
            // ...), then every loader but the four formats sniffed as images, so SVG, TIFF, HEIF and the rest are
            // never parsed even if their bytes reach here. Libvips' leak checker stays off (it is a debugging aid
            // that prints to stderr at vips_shutdown, which a server never calls).
            NetVips.NetVips.BlockUntrusted = true;
            Operation.Block("VipsForeignLoad", true);
            foreach (var loader in AllowedLoaders)
            {
                Operation.Block(loader, false);
            }

            return null;
        }
        catch (Exception e)
        {
            // DllNotFoundException, EntryPointNotFoundException, TypeInitializationException...: never cached as a
            // throw, so callers only ever see "not available".
            return e;
        }
    }

    private static void Forward(string domain, Enums.LogLevelFlags level, string message)
    {
        try
        {
            // Warnings are about the input (a damaged upload), worth a look only when debugging; criticals are bugs.
            var logLevel = (level & (Enums.LogLevelFlags.Error | Enums.LogLevelFlags.Critical)) != 0 ? LogLevel.Error : LogLevel.Debug;
            if (Logger is { } logger)
            {
                LogMessage(logger, logLevel, domain, message.Trim());
            }
        }
        catch (Exception)
        {
            // Called from native code: nothing may escape.
        }
    }

    [LoggerMessage(Message = "libvips: {Domain}: {Message}")]
    private static partial void LogMessage(ILogger logger, LogLevel level, string domain, string message);
}
