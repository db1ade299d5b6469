namespace Parley.Server.Files;

/// <summary>
/// Counts the scans (SOS segments) of a JPEG's primary image by walking its markers, as libjpeg reads them: marker
/// segments are skipped by their length (so bytes inside EXIF, ICC or a comment are never taken for markers), and
/// entropy-coded data runs to the next marker other than a stuffed <c>FF 00</c> or a restart marker.
/// </summary>
/// <remarks>
/// libjpeg passes over every block of the image once per scan, and a progressive scan that only skips blocks takes a
/// few bytes: a 3 MB upload of 100,000 such scans of a 4000 x 4000 image held a media worker for 95 s of CPU, and
/// nothing can interrupt libjpeg while it does. Encoders write about ten scans; djpeg's <c>-maxscans</c> and
/// TurboJPEG's scan limit exist for exactly this.
/// </remarks>
internal static class JpegScans
{
    /// <summary>The number of scans up to the primary image's end, or a number above <paramref name="limit"/> as soon as it is passed.</summary>
    public static int Count(Stream jpeg, int limit)
    {
        var input = new BufferedStream(jpeg, 64 * 1024);
        if (input.ReadByte() != 0xFF || input.ReadByte() != 0xD8)
        {
            return 0;
        }

        var scans = 0;
        var marker = NextMarker(input);
        while (marker >= 0)
        {
            switch (marker)
            {
                case 0xD9: // EOI: libjpeg stops here; whatever follows (MPF images, trailers) is not decoded
                    return scans;
                case 0x01 or >= 0xD0 and <= 0xD8: // TEM, RSTn, SOI: no length
                    marker = NextMarker(input);
                    continue;
            }

            var high = input.ReadByte();
            var low = input.ReadByte();
            if (low < 0 || high < 0 || !Skip(input, ((high << 8) | low) - 2))
            {
                return scans; // cut short: libjpeg stops there too
            }

            if (marker != 0xDA)
            {
                marker = NextMarker(input);
                continue;
            }

            if (++scans > limit)
            {
                return scans;
            }

            marker = AfterEntropyCodedData(input);
        }

        return scans;
    }

    /// <summary>The next marker's code (fill bytes skipped), or -1 at the end; anything else between segments (FF 00 included) is skipped as libjpeg does.</summary>
    private static int NextMarker(Stream input)
    {
        while (true)
        {
            int b;
            do
            {
                b = input.ReadByte();
            }
            while (b >= 0 && b != 0xFF);

            var code = b < 0 ? -1 : MarkerCode(input);
            if (code != 0x00)
            {
                return code;
            }
        }
    }

    /// <summary>Reads the entropy-coded data of a scan; returns the code of the marker that ends it, or -1 at the end.</summary>
    private static int AfterEntropyCodedData(Stream input)
    {
        while (true)
        {
            var b = input.ReadByte();
            if (b < 0)
            {
                return -1;
            }

            if (b != 0xFF)
            {
                continue;
            }

            var code = MarkerCode(input);
            if (code is not (0x00 or >= 0xD0 and <= 0xD7))
            {
                return code; // a stuffed FF 00 or a restart marker is still the scan's data
            }
        }
    }

    /// <summary>After an FF: the marker code, past any fill FFs; -1 at the end.</summary>
    private static int MarkerCode(Stream input)
    {
        int b;
        do
        {
            b = input.ReadByte();
        }
        while (b == 0xFF);

        return b;
    }

    private static bool Skip(Stream input, int count)
    {
        if (count < 0)
        {
            return false;
        }

        Span<byte> sink = stackalloc byte[1024];
        while (count > 0)
        {
            var read = input.Read(sink[..Math.Min(count, sink.Length)]);
            if (read == 0)
            {
                return false;
            }

            count -= read;
        }

        return true;
    }
}
