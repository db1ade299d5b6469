namespace Parley.Server.Files;

/// <summary>Settings section <c>Files</c>.</summary>
public sealed class FileUploadOptions
{
    public const string Section = "Files";

    /// <summary>Largest upload in bytes (413 <c>too_large</c> above it).</summary>
    public long MaxBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Longest side of a thumbnail, in pixels.</summary>
    public int ThumbnailMaxSide { get; set; } = 320;
}

public sealed record FileDto(string Id, string Name, long Size, string ContentType, string Sha256, int? Width, int? Height, bool HasThumbnail);
