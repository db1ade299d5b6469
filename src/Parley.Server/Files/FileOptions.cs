namespace Parley.Server.Files;

/// <summary>Settings section <c>Files</c>.</summary>
public sealed class FileUploadOptions
{
    public const string Section = "Files";

    /// <summary>Largest upload in bytes (413 <c>too_large</c> above it).</summary>
    public long MaxBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Longest side of a thumbnail, in pixels.</summary>
    public int ThumbnailMaxSide { get; set; } = 320;

    /// <summary>The libvips to load, a name or a path; empty turns image sizes and thumbnails off.</summary>
    public string Libvips { get; set; } = "libvips.so.42";

    /// <summary>The ffmpeg that makes video poster frames, a name on PATH or a path; empty turns them off.</summary>
    public string Ffmpeg { get; set; } = "ffmpeg";

    /// <summary>
    /// An upload that no message and no avatar references is deleted after this many days (0 keeps it forever).
    /// </summary>
    public int UnusedFileDays { get; set; } = 7;

    /// <summary>How often the sweeper removes unused files and blobs, in minutes.</summary>
    public int SweepIntervalMinutes { get; set; } = 60;

    /// <summary>
    /// Bytes are removed only after no record has used them for this many minutes (also the age after which a
    /// left-over temporary upload or stray blob is removed).
    /// </summary>
    public int BlobGraceMinutes { get; set; } = 60;
}

public sealed record FileDto(string Id, string Name, long Size, string ContentType, string Sha256, int? Width, int? Height, bool HasThumbnail);
