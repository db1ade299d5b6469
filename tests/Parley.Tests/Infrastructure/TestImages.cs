using System.Buffers.Binary;
using System.IO.Compression;

namespace Parley.Tests.Infrastructure;

/// <summary>
/// Small, valid images made without any image library: a minimal PNG encoder (IHDR, one IDAT
/// compressed with zlib, IEND; filter type 0 on every row). The pixels follow a deterministic
/// pattern, so the same call always returns the same bytes. Also a huge interlaced PNG, streamed to a file.
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

    /// <summary>
    /// Writes to <paramref name="path"/> an interlaced (Adam7) 16-bit RGBA PNG of the given size whose pixels are all
    /// zero: each pass's rows are streamed through zlib into IDAT chunks as they are made, so the image is never
    /// held in memory, compressed or not (17000 x 17000 is about 2.2 MB on disk and 2.3 GB decoded).
    /// </summary>
    public static void WriteInterlacedPng(string path, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        const int BytesPerPixel = 8; // RGBA, 16 bits a sample
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(0), width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 16;  // bit depth
        ihdr[9] = 6;   // RGBA
        ihdr[10] = 0;  // deflate
        ihdr[11] = 0;  // filter method 0
        ihdr[12] = 1;  // Adam7 interlace

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        file.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        WriteChunk(file, "IHDR"u8, ihdr);
        using (var idat = new IdatStream(file))
        {
            using var zlib = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true);
            var row = new byte[1 + ((long)width * BytesPerPixel)]; // filter type 0, then zero pixels
            // Adam7: (first column, first row, column step, row step) of each of the seven passes.
            foreach (var (x0, y0, dx, dy) in new[] { (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2) })
            {
                var passWidth = width > x0 ? (width - x0 + dx - 1) / dx : 0;
                var passHeight = height > y0 ? (height - y0 + dy - 1) / dy : 0;
                if (passWidth == 0 || passHeight == 0)
                {
                    continue; // an empty pass has no rows at all, not even filter bytes
                }

                for (var y = 0; y < passHeight; y++)
                {
                    zlib.Write(row, 0, 1 + (passWidth * BytesPerPixel));
                }
            }
        }

        WriteChunk(file, "IEND"u8, []);
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

    /// <summary>Cuts what is written into IDAT chunks of at most 1 MiB each.</summary>
    private sealed class IdatStream(Stream output) : Stream
    {
        private readonly byte[] _buffer = new byte[1 << 20];
        private int _length;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            while (buffer.Length > 0)
            {
                var take = Math.Min(buffer.Length, _buffer.Length - _length);
                buffer[..take].CopyTo(_buffer.AsSpan(_length));
                _length += take;
                buffer = buffer[take..];
                if (_length == _buffer.Length)
                {
                    Flush();
                }
            }
        }

        public override void Flush()
        {
            if (_length > 0)
            {
                WriteChunk(output, "IDAT"u8, _buffer.AsSpan(0, _length));
                _length = 0;
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Flush();
            }

            base.Dispose(disposing);
        }
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
