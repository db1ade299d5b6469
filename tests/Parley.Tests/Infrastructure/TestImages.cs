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
    public static void WriteInterlacedPng(string path, int width, int height) => WriteBlankPng(path, width, height, interlaced: true);

    /// <summary>
    /// Writes a 16-bit RGBA PNG of the given size whose pixels are all zero, interlaced (Adam7) or not, streamed
    /// through zlib into IDAT chunks row by row (see <see cref="WriteInterlacedPng"/>).
    /// </summary>
    public static void WriteBlankPng(string path, int width, int height, bool interlaced)
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
        ihdr[12] = interlaced ? (byte)1 : (byte)0;  // Adam7 interlace, or none

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        file.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        WriteChunk(file, "IHDR"u8, ihdr);
        using (var idat = new IdatStream(file))
        {
            using var zlib = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true);
            var row = new byte[1 + ((long)width * BytesPerPixel)]; // filter type 0, then zero pixels
            // Adam7: (first column, first row, column step, row step) of each of the seven passes.
            var passes = interlaced
                ? new[] { (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2) }
                : new[] { (0, 0, 1, 1) };
            foreach (var (x0, y0, dx, dy) in passes)
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

    /// <summary>
    /// A black grayscale progressive JPEG of exactly <paramref name="scans"/> scans (at least 2): the DC scan, then AC
    /// first scans of one coefficient each (1 to 63, round and round), each coded as end-of-band runs over every
    /// block (32767 blocks a symbol), so a scan takes a few bytes however large the image. A first scan of a coefficient already coded is
    /// decoded again without a warning, which is what makes it cost libjpeg a pass over the image for a few bytes.
    /// </summary>
    public static byte[] ProgressiveJpeg(int width, int height, int scans)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(scans, 2);
        var blocks = ((width + 7) / 8) * ((height + 7) / 8);
        using var jpeg = new MemoryStream();
        jpeg.Write([0xFF, 0xD8]);
        Segment(jpeg, 0xDB, [0, .. Enumerable.Repeat((byte)1, 64)]);                              // one quantisation table
        Segment(jpeg, 0xC2, [8, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, 1, 1, 0x11, 0]); // SOF2, one component
        Segment(jpeg, 0xC4, [0x00, 1, .. new byte[15], 0x00]);                                    // DC table 0: category 0 only, code "0"
        // AC table 1: the 15 end-of-band run symbols EOB0-EOB14 (0x00, 0x10, ... 0xE0), 4-bit codes 0-14 in that order.
        Segment(jpeg, 0xC4, [0x11, 0, 0, 0, 15, .. new byte[12], .. Enumerable.Range(0, 15).Select(r => (byte)(r << 4))]);
        Segment(jpeg, 0xDA, [1, 1, 0x01, 0, 0, 0]);                                              // DC first scan, Al = 0
        var bits = new JpegBits(jpeg);
        for (var i = 0; i < blocks; i++)
        {
            bits.Put(0, 1); // every DC difference is 0
        }

        bits.Flush();
        for (var scan = 1; scan < scans; scan++)
        {
            var k = (byte)(1 + ((scan - 1) % 63));
            Segment(jpeg, 0xDA, [1, 1, 0x01, k, k, 0x00]); // coefficient k, first scan, Ah = Al = 0
            bits = new JpegBits(jpeg);
            for (var left = blocks; left > 0;)
            {
                // EOBr: a run of 2^r to 2^(r+1) - 1 blocks, r extra bits giving run - 2^r.
                var run = Math.Min(left, 32767);
                var r = 31 - int.LeadingZeroCount(run);
                bits.Put(r, 4);
                bits.Put(run - (1 << r), r);
                left -= run;
            }

            bits.Flush();
        }

        jpeg.Write([0xFF, 0xD9]);
        return jpeg.ToArray();
    }

    private static void Segment(Stream output, byte marker, ReadOnlySpan<byte> data)
    {
        output.Write([0xFF, marker, (byte)((data.Length + 2) >> 8), (byte)(data.Length + 2)]);
        output.Write(data);
    }

    /// <summary>Entropy-coded bits, most significant first, with FF bytes stuffed and the last byte padded with ones.</summary>
    private sealed class JpegBits(Stream output)
    {
        private int _byte;
        private int _count;

        public void Put(int value, int length)
        {
            for (var i = length - 1; i >= 0; i--)
            {
                _byte = (_byte << 1) | ((value >> i) & 1);
                if (++_count == 8)
                {
                    output.WriteByte((byte)_byte);
                    if (_byte == 0xFF)
                    {
                        output.WriteByte(0);
                    }

                    _byte = _count = 0;
                }
            }
        }

        public void Flush()
        {
            while (_count != 0)
            {
                Put(1, 1);
            }
        }
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
