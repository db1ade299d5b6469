using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Parley.Server.Realtime;

/// <summary>RFC 6455 opcodes (section 5.2); the others are reserved and refused.</summary>
public enum WebSocketOpcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// <summary>A client frame's header: what follows it is <see cref="PayloadLength"/> masked bytes.</summary>
public readonly record struct WebSocketFrameHeader(bool Fin, WebSocketOpcode Opcode, long PayloadLength, uint MaskKey, int HeaderLength)
{
    public bool IsControl => (byte)Opcode >= 0x8;
}

public enum FrameHeaderStatus
{
    /// <summary>Not all of the header has arrived yet.</summary>
    Incomplete,
    Complete,
    /// <summary>The header breaks the protocol: the connection is closed with 1002.</summary>
    ProtocolError,
}

/// <summary>
/// The server side of RFC 6455 framing, on byte sequences: client frames must be masked, carry no RSV bits (no
/// extension is ever negotiated) and a known opcode; control frames are final and at most 125 bytes. Server
/// frames are unmasked. Pure functions: the transport keeps no framing state besides its current message.
/// </summary>
public static class WebSocketFraming
{
    public const int MaxControlPayload = 125;

    /// <summary>The longest server frame header (2 bytes, 8 of length, no mask).</summary>
    public const int MaxServerHeader = 10;

    /// <summary>Reads the header at the start of <paramref name="buffer"/>; never throws.</summary>
    public static FrameHeaderStatus TryReadHeader(ReadOnlySequence<byte> buffer, out WebSocketFrameHeader header, out string? error)
    {
        header = default;
        error = null;
        if (buffer.Length < 2)
        {
            return FrameHeaderStatus.Incomplete;
        }

        Span<byte> head = stackalloc byte[14];
        var available = (int)Math.Min(head.Length, buffer.Length);
        buffer.Slice(0, available).CopyTo(head);
        return TryReadHeader(head[..available], out header, out error);
    }

    public static FrameHeaderStatus TryReadHeader(ReadOnlySpan<byte> head, out WebSocketFrameHeader header, out string? error)
    {
        header = default;
        error = null;
        if (head.Length < 2)
        {
            return FrameHeaderStatus.Incomplete;
        }

        var b0 = head[0];
        var b1 = head[1];
        if ((b0 & 0x70) != 0)
        {
            error = "RSV bits set without a negotiated extension";
            return FrameHeaderStatus.ProtocolError;
        }

        var opcode = (WebSocketOpcode)(b0 & 0x0F);
        if (opcode is not (WebSocketOpcode.Continuation or WebSocketOpcode.Text or WebSocketOpcode.Binary or WebSocketOpcode.Close or WebSocketOpcode.Ping or WebSocketOpcode.Pong))
        {
            error = "reserved opcode";
            return FrameHeaderStatus.ProtocolError;
        }

        var fin = (b0 & 0x80) != 0;
        if ((b1 & 0x80) == 0)
        {
            error = "client frames must be masked";
            return FrameHeaderStatus.ProtocolError;
        }

        var length7 = b1 & 0x7F;
        if ((byte)opcode >= 0x8 && (!fin || length7 > MaxControlPayload))
        {
            error = fin ? "control frame longer than 125 bytes" : "fragmented control frame";
            return FrameHeaderStatus.ProtocolError;
        }

        var lengthBytes = length7 switch
        {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        var headerLength = 2 + lengthBytes + 4;
        if (head.Length < headerLength)
        {
            return FrameHeaderStatus.Incomplete;
        }

        long length = length7;
        if (lengthBytes == 2)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(head[2..]);
        }
        else if (lengthBytes == 8)
        {
            var wide = BinaryPrimitives.ReadUInt64BigEndian(head[2..]);
            if (wide > long.MaxValue)
            {
                error = "payload length with its most significant bit set";
                return FrameHeaderStatus.ProtocolError;
            }

            length = (long)wide;
        }

        var mask = BinaryPrimitives.ReadUInt32LittleEndian(head[(2 + lengthBytes)..]);
        header = new WebSocketFrameHeader(fin, opcode, length, mask, headerLength);
        return FrameHeaderStatus.Complete;
    }

    /// <summary>
    /// Unmasks <paramref name="data"/> in place; <paramref name="offset"/> is how many payload bytes of the same
    /// frame came before it (the mask key repeats every 4 bytes).
    /// </summary>
    public static void Unmask(Span<byte> data, uint maskKey, long offset)
    {
        var mask = BitOperations.RotateRight(maskKey, (int)(offset & 3) * 8);
        var wide = ((ulong)mask << 32) | mask;
        var i = 0;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        for (; i < words.Length; i++)
        {
            words[i] ^= wide;
        }

        i *= 8;
        for (; i < data.Length; i++)
        {
            data[i] ^= (byte)(mask >> ((i & 3) * 8));
        }
    }

    /// <summary>Writes a final, unmasked server frame header; returns its length.</summary>
    public static int WriteHeader(Span<byte> destination, WebSocketOpcode opcode, long payloadLength)
    {
        destination[0] = (byte)(0x80 | (byte)opcode);
        if (payloadLength <= 125)
        {
            destination[1] = (byte)payloadLength;
            return 2;
        }

        if (payloadLength <= ushort.MaxValue)
        {
            destination[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payloadLength);
            return 4;
        }

        destination[1] = 127;
        BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payloadLength);
        return 10;
    }

    /// <summary>Close codes a peer may send (RFC 6455 7.4 and the IANA registry); 1005, 1006 and 1015 never go on the wire.</summary>
    public static bool IsValidCloseCode(int code) => code is (>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999);
}
