namespace Parley.Server.Files;

/// <summary>Settings section <c>Files</c>.</summary>
public sealed class FileUploadOptions
{
    public const string Section = "Files";

    /// <summary>Largest upload in bytes (413 <c>too_large</c> above it).</summary>
    public long MaxBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Uploads one user may start per minute (a burst of as many, refilled evenly); beyond it 429.</summary>
    public int UploadsPerMinute { get; set; } = 30;

    /// <summary>Uploads of one user that may stream at once; beyond it 429 (so the daily quota cannot be overrun in parallel).</summary>
    public int ConcurrentUploadsPerUser { get; set; } = 4;

    /// <summary>Bytes one user may upload in any 24 hours (0 = no quota); beyond it 429 with Retry-After.</summary>
    public long DailyBytesPerUser { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Longest side of a thumbnail, in pixels.</summary>
    public int ThumbnailMaxSide { get; set; } = 320;

    /// <summary>
    /// Images with more pixels than this (by their header, read before any pixel is decoded) are stored and served
    /// but get no thumbnail; 0 turns image thumbnails off. Their width and height are still reported.
    /// </summary>
    public long MaxImagePixels { get; set; } = 40_000_000;

    /// <summary>
    /// The same for images that libvips must decode whole, at full size, before it can shrink them: interlaced
    /// (Adam7) PNG, progressive JPEG and GIF. Up to 8 bytes a pixel (16-bit RGBA) are held while one is decoded.
    /// </summary>
    public long MaxInterlacedPixels { get; set; } = 16_000_000;

    /// <summary>How many images and videos are measured and thumbnailed at once (each on one core).</summary>
    public int ProcessingConcurrency { get; set; } = 2;

    /// <summary>How many more may wait for their turn; an upload beyond that is stored without size or thumbnail.</summary>
    public int ProcessingQueueLength { get; set; } = 32;

    /// <summary>
    /// How many of one user's uploads may be queued or processed at once; another is stored without size or
    /// thumbnail, so one account cannot take the whole queue from everyone else.
    /// </summary>
    public int ProcessingPerUser { get; set; } = 8;

    /// <summary>
    /// How long an upload waits for its image or video to be processed before it answers without the size and the
    /// thumbnail, which then appear later; 0 never waits.
    /// </summary>
    public int ProcessingWaitSeconds { get; set; } = 10;

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
