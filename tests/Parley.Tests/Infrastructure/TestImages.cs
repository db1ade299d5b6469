using System.Buffers.Binary;
using System.IO.Compression;

namespace Parley.Tests.Infrastructure;

/// <summary>
/// Small, valid images made without any image library: a minimal PNG encoder (IHDR, one IDAT
/// compressed with zlib, IEND; filter type 0 on every row). The pixels follow a deterministic
/// pattern, so the same call always returns the same bytes.
/// </summary>
public static class TestImages
{
    private static readonly uint[] CrcTable = MakeCrcTable();

    /// <summary>An 8-bit RGB PNG (or RGBA with <paramref name="alpha"/>) of the given size.</summary>
    public static byte[] Png(int width, int height, bool alpha = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        var channels = alpha ? 4 : 3;
        var stride = 1 + (width * channels);

        var raw = new byte[(long)stride * height];
        for (var y = 0; y < height; y++)
        {
            var row = raw.AsSpan(y * stride, stride);
            row[0] = 0; // filter: none
            for (var x = 0; x < width; x++)
            {
                var pixel = row.Slice(1 + (x * channels), channels);
                pixel[0] = (byte)(x * 255 / Math.Max(1, width - 1));
                pixel[1] = (byte)(y * 255 / Math.Max(1, height - 1));
                pixel[2] = (byte)(((x / 8) + (y / 8)) % 2 == 0 ? 40 : 215);
                if (alpha)
                {
                    // Transparent left half, opaque right half.
                    pixel[3] = x < width / 2 ? (byte)0 : (byte)255;
                }
            }
        }

        using var idat = new MemoryStream();
        using (var zlib = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
        {
            zlib.Write(raw);
        }

        return Assemble(width, height, colourType: alpha ? (byte)6 : (byte)2, idat.GetBuffer().AsSpan(0, (int)idat.Length));
    }

    /// <summary>
    /// A PNG whose header claims <paramref name="width"/> × <paramref name="height"/> but whose pixel data is one
    /// short compressed row: cheap to make at any size, for tests that must only ever read the header.
    /// </summary>
    public static byte[] PngHeader(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        using var idat = new MemoryStream();
        using (var zlib = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
        {
            zlib.Write(new byte[64]);
        }

        return Assemble(width, height, colourType: 2, idat.GetBuffer().AsSpan(0, (int)idat.Length));
    }

    private static byte[] Assemble(int width, int height, byte colourType, ReadOnlySpan<byte> compressedRows)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(0), width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;           // bit depth
        ihdr[9] = colourType;  // 2 = RGB, 6 = RGBA
        ihdr[10] = 0;          // compression: deflate
        ihdr[11] = 0;          // filter method 0
        ihdr[12] = 0;          // no interlace

        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        WriteChunk(png, "IHDR"u8, ihdr);
        WriteChunk(png, "IDAT"u8, compressedRows);
        WriteChunk(png, "IEND"u8, []);
        return png.ToArray();
    }

    private static void WriteChunk(Stream output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        output.Write(type);
        output.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, ~Crc(Crc(0xFFFFFFFFu, type), data));
        output.Write(word);
    }

    /// <summary>CRC-32 (IEEE 802.3, as PNG uses it) continued over <paramref name="data"/>; pre/post inversion is the caller's.</summary>
    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
