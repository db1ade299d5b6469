using System.Buffers;
using System.Text;
using Parley.Server.Realtime;

namespace Parley.Tests.Realtime;

/// <summary>The lean transport's frame decoder and upgrade parser, on byte arrays.</summary>
public sealed class WebSocketFramingTests
{
    private static FrameHeaderStatus Read(byte[] bytes, out WebSocketFrameHeader header) =>
        WebSocketFraming.TryReadHeader(new ReadOnlySequence<byte>(bytes), out header, out _);

    [Theory]
    [InlineData(0, 2 + 4)]
    [InlineData(125, 2 + 4)]
    [InlineData(126, 4 + 4)]
    [InlineData(65535, 4 + 4)]
    [InlineData(65536, 10 + 4)]
    public void Lengths_in_every_form(int length, int headerLength)
    {
        var frame = RawWebSocket.Frame(1, new byte[length]);
        Assert.Equal(FrameHeaderStatus.Complete, Read(frame, out var header));
        Assert.Equal((true, WebSocketOpcode.Text, (long)length, headerLength), (header.Fin, header.Opcode, header.PayloadLength, header.HeaderLength));
    }

    [Fact]
    public void Every_prefix_of_a_header_is_incomplete()
    {
        var frame = RawWebSocket.Frame(2, new byte[70_000]);
        for (var i = 0; i < 14; i++)
        {
            Assert.Equal(FrameHeaderStatus.Incomplete, Read(frame[..i], out _));
        }

        Assert.Equal(FrameHeaderStatus.Complete, Read(frame[..14], out var header));
        Assert.Equal(70_000, header.PayloadLength);
    }

    [Fact]
    public void A_header_split_across_segments_is_read()
    {
        var frame = RawWebSocket.Frame(1, new byte[300], fin: false);
        var first = new Segment(frame.AsMemory(0, 1));
        var last = first.Append(frame.AsMemory(1, 2)).Append(frame.AsMemory(3));
        var status = WebSocketFraming.TryReadHeader(new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length), out var header, out _);
        Assert.Equal(FrameHeaderStatus.Complete, status);
        Assert.Equal((false, 300L), (header.Fin, header.PayloadLength));
    }

    public static TheoryData<string, byte[]> Refused() => new()
    {
        { "unmasked", RawWebSocket.Frame(1, "x"u8, mask: false) },
        { "rsv1", RawWebSocket.Frame(1, "x"u8, rsv: 4) },
        { "rsv2", RawWebSocket.Frame(1, "x"u8, rsv: 2) },
        { "rsv3", RawWebSocket.Frame(1, "x"u8, rsv: 1) },
        { "opcode 3", RawWebSocket.Frame(3, "x"u8) },
        { "opcode 7", RawWebSocket.Frame(7, "x"u8) },
        { "opcode 11", RawWebSocket.Frame(11, "x"u8) },
        { "opcode 15", RawWebSocket.Frame(15, "x"u8) },
        { "close of 126 bytes", RawWebSocket.Frame(8, new byte[126]) },
        { "ping with a 16-bit length", RawWebSocket.Frame(9, "x"u8, lengthBytes: 2) },
        { "fragmented pong", RawWebSocket.Frame(10, "x"u8, fin: false) },
        { "64-bit length with its top bit set", [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4] },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Protocol_errors(string what, byte[] frame)
    {
        Assert.True(Read(frame, out _) == FrameHeaderStatus.ProtocolError, what);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void Unmasking_from_any_offset_gives_the_payload(int offset)
    {
        var payload = Encoding.UTF8.GetBytes("The quick brown fox jumps over the lazy dog, twice over.");
        var frame = RawWebSocket.Frame(1, payload);
        Assert.Equal(FrameHeaderStatus.Complete, Read(frame, out var header));
        var masked = frame.AsSpan(header.HeaderLength).ToArray();
        WebSocketFraming.Unmask(masked.AsSpan(0, offset), header.MaskKey, 0);
        WebSocketFraming.Unmask(masked.AsSpan(offset), header.MaskKey, offset);
        Assert.Equal(payload, masked);
    }

    [Theory]
    [InlineData(0, 2)]
    [InlineData(125, 2)]
    [InlineData(126, 4)]
    [InlineData(65535, 4)]
    [InlineData(65536, 10)]
    public void Server_headers_are_unmasked_and_final(int length, int expected)
    {
        var header = new byte[10];
        Assert.Equal(expected, WebSocketFraming.WriteHeader(header, WebSocketOpcode.Text, length));
        Assert.Equal(0x81, header[0]);
        Assert.Equal(0, header[1] & 0x80);
    }

    [Theory]
    [InlineData(1000, true)]
    [InlineData(1003, true)]
    [InlineData(1007, true)]
    [InlineData(1011, true)]
    [InlineData(3000, true)]
    [InlineData(4999, true)]
    [InlineData(999, false)]
    [InlineData(1004, false)]
    [InlineData(1005, false)]
    [InlineData(1006, false)]
    [InlineData(1015, false)]
    [InlineData(2000, false)]
    [InlineData(2999, false)]
    [InlineData(5000, false)]
    public void Close_codes(int code, bool valid) => Assert.Equal(valid, WebSocketFraming.IsValidCloseCode(code));

    private static UpgradePeek Peek(string head, out UpgradeRequest? request, int max = 40_000) =>
        UpgradeRequest.TryParse(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(head)), max, out request);

    private const string Good = "GET /ws?access_token=abc HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://h:1\r\n\r\n";

    [Fact]
    public void A_plain_upgrade_is_taken()
    {
        Assert.Equal(UpgradePeek.Upgrade, Peek(Good + "\u0081\u0080", out var request));
        Assert.Equal((Good.Length, "?access_token=abc", "h:1", "http://h:1"), (request!.HeadLength, request.Query, request.Host, request.Origin));
        // RFC 6455's own example.
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", UpgradeRequest.AcceptKey(request.Key));
    }

    [Fact]
    public void Every_prefix_of_an_upgrade_is_incomplete_and_anything_else_is_seen_at_once()
    {
        for (var i = 0; i < Good.Length; i++)
        {
            Assert.Equal(UpgradePeek.Incomplete, Peek(Good[..i], out _));
        }

        Assert.Equal(UpgradePeek.NotLean, Peek("P", out _));
        Assert.Equal(UpgradePeek.NotLean, Peek("GET /h", out _));
        Assert.Equal(UpgradePeek.NotLean, Peek("\u0016\u0003\u0001", out _)); // a TLS ClientHello
        Assert.Equal(UpgradePeek.NotLean, Peek("PRI * HTTP/2.0", out _));
        Assert.Equal(UpgradePeek.NotLean, Peek(Good[..100], out _, max: 100)); // longer than Kestrel's limits
    }

    [Theory]
    [InlineData("GET /ws?", "GET /ws/?")]
    [InlineData("GET /ws?", "GET /wsx?")]
    [InlineData("GET /ws?", "GET /WS?")]
    [InlineData("abc HTTP/1.1", "abc HTTP/1.0")]
    [InlineData("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8")]
    [InlineData("Upgrade: websocket", "Upgrade: h2c")]
    [InlineData("keep-alive, Upgrade", "keep-alive")]
    [InlineData("dGhlIHNhbXBsZSBub25jZQ==", "short")]
    [InlineData("Host: h:1\r\n", "")]
    [InlineData("Host: h:1\r\n", "Host: h/x\r\n")]
    [InlineData("Host: h:1\r\n", "Host: \r\n")]
    [InlineData("Origin: http://h:1\r\n", "Origin: http://h:1\r\nOrigin: http://x\r\n")]
    [InlineData("Origin: http://h:1\r\n", "Content-Length: 0\r\n")]
    [InlineData("Origin: http://h:1\r\n", "Origin : http://h:1\r\n")]
    [InlineData("Origin: http://h:1\r\n", "Origin: http://h:1\r\n folded\r\n")]
    public void Anything_unusual_is_left_to_kestrel(string part, string replacement)
    {
        var head = Good.Replace(part, replacement, StringComparison.Ordinal);
        Assert.Equal(UpgradePeek.NotLean, Peek(head, out _));
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
