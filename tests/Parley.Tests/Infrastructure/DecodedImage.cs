namespace Parley.Tests.Infrastructure;

/// <summary>What a test needs to know about an encoded image (a thumbnail): read with NetVips, in the test's process.</summary>
public static class DecodedImage
{
    /// <summary>The image's width and height; fails the test when the bytes are no JPEG, PNG, GIF or WebP.</summary>
    public static (int Width, int Height) Size(byte[] encoded)
    {
        using var image = NetVips.Image.NewFromBuffer(encoded);
        return (image.Width, image.Height);
    }

    /// <summary>True for a JPEG (the thumbnails' format).</summary>
    public static bool IsJpeg(byte[] encoded) => encoded is [0xFF, 0xD8, 0xFF, ..];
}
