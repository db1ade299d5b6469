using Microsoft.Extensions.Options;

namespace Parley.Server.Files;

/// <summary>Image measuring and thumbnails; backed by libvips when it is installed.</summary>
public interface IImageProcessor
{
    bool TryReadSize(string path, out int width, out int height);

    /// <summary>An image of at most <paramref name="maxSide"/> pixels on its long side, or null.</summary>
    byte[]? TryThumbnail(string path, int maxSide);
}

/// <summary>libvips through <see cref="Vips"/>; without the library, images get no size and no thumbnail.</summary>
public sealed partial class VipsImageProcessor : IImageProcessor
{
    public VipsImageProcessor(IOptions<FileUploadOptions> options, ILogger<VipsImageProcessor> logger)
    {
        if (!Vips.UseLibrary(options.Value.Libvips))
        {
            LogAlreadyLoaded(logger, options.Value.Libvips);
        }

        if (!Vips.IsAvailable)
        {
            LogUnavailable(logger, options.Value.Libvips);
        }
    }

    public bool TryReadSize(string path, out int width, out int height)
    {
        width = height = 0;
        return Vips.IsAvailable && Vips.TryReadSizeFile(path, out width, out height);
    }

    public byte[]? TryThumbnail(string path, int maxSide) => Vips.IsAvailable ? Vips.TryThumbnailFile(path, maxSide) : null;

    [LoggerMessage(Level = LogLevel.Warning, Message = "libvips ({Library}) is not available: uploads work, but images get no size and no thumbnail. Install Debian's libvips42 (scripts/deps.sh)")]
    private static partial void LogUnavailable(ILogger logger, string library);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Files:Libvips = {Library} is ignored: this process set up another libvips already")]
    private static partial void LogAlreadyLoaded(ILogger logger, string library);
}
