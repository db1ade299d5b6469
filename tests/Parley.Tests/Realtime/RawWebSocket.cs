using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Realtime;

/// <summary>A frame the server sent, as read off the wire.</summary>
public sealed record WireFrame(bool Fin, int Opcode, byte[] Payload)
{
    public string Text => Encoding.UTF8.GetString(Payload);

    public int CloseCode => Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Payload) : 1005;
}

/// <summary>
/// A WebSocket client written byte by byte over a TcpClient (in the spirit of Autobahn's fuzzing client): it can
/// send what a real client library never would (unmasked frames, RSV bits, bad opcodes, split headers). Every
/// read is bounded by a timeout.
/// </summary>
public sealed class RawWebSocket : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly List<byte> _pending = [];

    private RawWebSocket(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<RawWebSocket> OpenAsync(ApiHost server)
    {
        var tcp = new TcpClient { NoDelay = true };
        using var timeout = new CancellationTokenSource(Wait);
        await tcp.ConnectAsync(server.BaseUri.Host, server.BaseUri.Port, timeout.Token);
        return new RawWebSocket(tcp);
    }

    /// <summary>Opens, upgrades with the token in the query, and reads the hello frame.</summary>
    public static async Task<RawWebSocket> ConnectAsync(ApiHost server, string accessToken)
    {
        var socket = await OpenAsync(server);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        await socket.WriteAsync(UpgradeHead(server, "/ws?access_token=" + Uri.EscapeDataString(accessToken), key));
        var head = await socket.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 101 ", head, StringComparison.Ordinal);
        Assert.Contains("Sec-WebSocket-Accept: " + Accept(key), head, StringComparison.OrdinalIgnoreCase);
        var hello = await socket.ReadFrameAsync();
        Assert.Contains("\"hello\"", hello.Text, StringComparison.Ordinal);
        return socket;
    }

    public static byte[] UpgradeHead(ApiHost server, string target, string? key = null, string extra = "") => Encoding.ASCII.GetBytes(
        $"GET {target} HTTP/1.1\r\nHost: {server.BaseUri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + $"Sec-WebSocket-Key: {key ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(16))}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n");

    public static string Accept(string key) =>
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));

    /// <summary>A client frame: masked unless told otherwise; <paramref name="lengthBytes"/> forces the 16- or 64-bit length form.</summary>
    public static byte[] Frame(int opcode, ReadOnlySpan<byte> payload, bool fin = true, bool mask = true, int rsv = 0, int lengthBytes = -1)
    {
        var frame = new List<byte> { (byte)((fin ? 0x80 : 0) | (rsv << 4) | opcode) };
        var maskBit = mask ? 0x80 : 0;
        var form = lengthBytes >= 0 ? lengthBytes : payload.Length <= 125 ? 0 : payload.Length <= ushort.MaxValue ? 2 : 8;
        if (form == 0)
        {
            frame.Add((byte)(maskBit | payload.Length));
        }
        else if (form == 2)
        {
            frame.Add((byte)(maskBit | 126));
            frame.Add((byte)(payload.Length >> 8));
            frame.Add((byte)payload.Length);
        }
        else
        {
            frame.Add((byte)(maskBit | 127));
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(length, (ulong)payload.Length);
            frame.AddRange(length);
        }

        var key = mask ? RandomNumberGenerator.GetBytes(4) : [0, 0, 0, 0];
        if (mask)
        {
            frame.AddRange(key);
        }

        for (var i = 0; i < payload.Length; i++)
        {
            frame.Add((byte)(payload[i] ^ key[i & 3]));
        }

        return [.. frame];
    }

    public static byte[] Text(string text, bool fin = true) => Frame(1, Encoding.UTF8.GetBytes(text), fin);

    public static byte[] CloseFrame(int code, string reason = "")
    {
        var payload = new byte[2 + Encoding.UTF8.GetByteCount(reason)];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        Encoding.UTF8.GetBytes(reason, payload.AsSpan(2));
        return Frame(8, payload);
    }

    public async Task WriteAsync(byte[] bytes)
    {
        using var timeout = new CancellationTokenSource(Wait);
        await _stream.WriteAsync(bytes, timeout.Token);
        await _stream.FlushAsync(timeout.Token);
    }

    /// <summary>An HTTP answer's head (through the blank line), as text.</summary>
    public async Task<string> ReadHeadAsync()
    {
        while (true)
        {
            var text = Encoding.ASCII.GetString([.. _pending]);
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                _pending.RemoveRange(0, end + 4);
                return text[..(end + 4)];
            }

            await FillAsync();
        }
    }

    /// <summary>An HTTP answer: head and a body of its Content-Length (or chunked).</summary>
    public async Task<(string Head, string Body)> ReadResponseAsync()
    {
        var head = await ReadHeadAsync();
        var lengthLine = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        if (lengthLine is not null)
        {
            var length = int.Parse(lengthLine["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            return (head, Encoding.UTF8.GetString(await TakeAsync(length)));
        }

        var body = new StringBuilder();
        while (true)
        {
            var size = Convert.ToInt32((await ReadLineAsync()).Trim(), 16);
            if (size == 0)
            {
                await ReadLineAsync();
                return (head, body.ToString());
            }

            body.Append(Encoding.UTF8.GetString(await TakeAsync(size)));
            await ReadLineAsync();
        }
    }

    public async Task<WireFrame> ReadFrameAsync()
    {
        var head = await TakeAsync(2);
        Assert.True((head[1] & 0x80) == 0, "server frames are never masked");
        long length = head[1] & 0x7F;
        if (length == 126)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(await TakeAsync(2));
        }
        else if (length == 127)
        {
            length = (long)BinaryPrimitives.ReadUInt64BigEndian(await TakeAsync(8));
        }

        return new WireFrame((head[0] & 0x80) != 0, head[0] & 0x0F, await TakeAsync((int)length));
    }

    /// <summary>Reads frames until a close frame; text frames before it are skipped.</summary>
    public async Task<WireFrame> ReadCloseAsync()
    {
        while (true)
        {
            var frame = await ReadFrameAsync();
            if (frame.Opcode == 8)
            {
                return frame;
            }
        }
    }

    /// <summary>True once the server has closed the TCP connection (bounded wait).</summary>
    public async Task<bool> ServerClosedAsync()
    {
        using var timeout = new CancellationTokenSource(Wait);
        var buffer = new byte[1024];
        try
        {
            while (true)
            {
                if (await _stream.ReadAsync(buffer, timeout.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }

    private async Task<string> ReadLineAsync()
    {
        while (true)
        {
            var index = _pending.IndexOf((byte)'\n');
            if (index >= 0)
            {
                var line = Encoding.ASCII.GetString([.. _pending.GetRange(0, index + 1)]);
                _pending.RemoveRange(0, index + 1);
                return line;
            }

            await FillAsync();
        }
    }

    private async Task<byte[]> TakeAsync(int count)
    {
        while (_pending.Count < count)
        {
            await FillAsync();
        }

        var bytes = _pending.GetRange(0, count).ToArray();
        _pending.RemoveRange(0, count);
        return bytes;
    }

    private async Task FillAsync()
    {
        using var timeout = new CancellationTokenSource(Wait);
        var buffer = new byte[64 * 1024];
        int read;
        try
        {
            read = await _stream.ReadAsync(buffer, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("nothing from the server in time");
        }

        if (read == 0)
        {
            throw new EndOfStreamException("the server closed the connection");
        }

        _pending.AddRange(buffer.AsSpan(0, read));
    }
}
