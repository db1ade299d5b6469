namespace Parley.Server.Files;

/// <summary>The content type of an upload, read from its first bytes; the client's claim is never trusted.</summary>
public static class ContentSniffer
{
    public const string OctetStream = "application/octet-stream";

    /// <summary>How many leading bytes <see cref="Sniff"/> looks at.</summary>
    public const int HeadLength = 8192;

    private static readonly byte[] Png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly byte[] Jpeg = [0xFF, 0xD8, 0xFF];
    private static readonly byte[] Ebml = [0x1A, 0x45, 0xDF, 0xA3];

    public static string Sniff(ReadOnlySpan<byte> head, bool complete)
    {
        if (head.StartsWith(Png))
        {
            return "image/png";
        }

        if (head.StartsWith(Jpeg))
        {
            return "image/jpeg";
        }

        if (head.StartsWith("GIF87a"u8) || head.StartsWith("GIF89a"u8))
        {
            return "image/gif";
        }

        if (head.Length >= 12 && head.StartsWith("RIFF"u8))
        {
            if (head[8..12].SequenceEqual("WEBP"u8))
            {
                return "image/webp";
            }

            if (head[8..12].SequenceEqual("WAVE"u8))
            {
                return "audio/wav";
            }
        }

        if (head.Length >= 12 && head[4..8].SequenceEqual("ftyp"u8))
        {
            return head[8..12].SequenceEqual("qt  "u8) ? "video/quicktime" : "video/mp4";
        }

        if (head.StartsWith(Ebml))
        {
            return "video/webm";
        }

        if (head.StartsWith("OggS"u8))
        {
            return "audio/ogg";
        }

        if (head.StartsWith("ID3"u8) || (head.Length >= 2 && head[0] == 0xFF && (head[1] & 0xE0) == 0xE0))
        {
            return "audio/mpeg";
        }

        if (head.StartsWith("%PDF-"u8))
        {
            return "application/pdf";
        }

        if (head.StartsWith("PK\x03\x04"u8) || head.StartsWith("PK\x05\x06"u8))
        {
            return "application/zip";
        }

        return IsText(head, complete) ? "text/plain" : OctetStream;
    }

    /// <summary>Images, audio and video may be shown inline; everything else is served as an attachment.</summary>
    public static bool IsMedia(string contentType) =>
        contentType.StartsWith("image/", StringComparison.Ordinal)
        || contentType.StartsWith("audio/", StringComparison.Ordinal)
        || contentType.StartsWith("video/", StringComparison.Ordinal);

    public static bool IsImage(string contentType) => contentType.StartsWith("image/", StringComparison.Ordinal);

    public static bool IsVideo(string contentType) => contentType.StartsWith("video/", StringComparison.Ordinal);

    /// <summary>UTF-8 without control characters other than tab and line breaks (a cut multi-byte sequence at the end of an incomplete head is allowed).</summary>
    private static bool IsText(ReadOnlySpan<byte> head, bool complete)
    {
        if (head.IsEmpty)
        {
            return false;
        }

        var span = head;
        if (!complete)
        {
            // Drop a possibly cut UTF-8 sequence at the end of the sample.
            var cut = Math.Min(3, span.Length);
            for (var i = 1; i <= cut; i++)
            {
                if ((span[^i] & 0xC0) != 0x80)
                {
                    if (span[^i] >= 0xC0)
                    {
                        span = span[..^i];
                    }

                    break;
                }
            }
        }

        if (!System.Text.Unicode.Utf8.IsValid(span))
        {
            return false;
        }

        foreach (var b in span)
        {
            if (b < 0x20 && b is not (byte)'\t' and not (byte)'\n' and not (byte)'\r')
            {
                return false;
            }

            if (b == 0x7F)
            {
                return false;
            }
        }

        return true;
    }
}
