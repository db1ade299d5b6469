using System.Buffers;
using System.Net.WebSockets;
using Parley.Protocol;
using Parley.Server.Http;

namespace Parley.Server.Realtime;

/// <summary>
/// The fallback transport: ASP.NET Core's WebSocket (HTTP/2 WebSockets, a connection whose first request was
/// something else, or <c>Realtime:LeanWebSockets=false</c>).
/// </summary>
internal sealed class WebSocketConnection(WebSocket socket, ConnectionShared shared, long userId, long sessionId)
    : Connection(shared, userId, sessionId)
{
    private const int SendChunkBytes = 64 * 1024;

    public override void Abort() => socket.Abort();

    private protected override async ValueTask WriteAsync(byte[][]? pongs, byte[][] frames, int count)
    {
        // The socket answers pings itself; pongs are only ever queued by the lean transport.
        for (var i = 0; i < count; i++)
        {
            var frame = frames[i];
            // In fragments: the socket copies what it is given into a buffer rented for that size, and the shared
            // pool keeps a rented buffer after it is returned; pieces of 64 KiB keep that memory small instead
            // of holding a megabyte-sized buffer per page sent long after the socket closed.
            var offset = 0;
            do
            {
                var length = Math.Min(SendChunkBytes, frame.Length - offset);
                await socket.SendAsync(frame.AsMemory(offset, length), WebSocketMessageType.Text, endOfMessage: offset + length == frame.Length, CancellationToken.None);
                offset += length;
            }
            while (offset < frame.Length);
        }
    }

    private protected override async ValueTask WriteCloseAsync(WebSocketCloseStatus status, string reason)
    {
        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            await socket.CloseOutputAsync(status, reason, CancellationToken.None);
        }
    }

    /// <summary>Reads messages until the socket closes; returns the client's close status when the client closed first.</summary>
    internal async Task<WebSocketCloseStatus?> ReceiveAsync(ClientSession session, FrameDispatcher dispatcher, CancellationToken cancellationToken)
    {
        var frames = new FrameBucket(Shared);
        while (socket.State == WebSocketState.Open)
        {
            // Zero-byte read: an idle connection holds no receive buffer, only this pending read.
            var peek = await socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
            if (peek.MessageType == WebSocketMessageType.Close)
            {
                return AnswerClose();
            }

            if (!frames.TryTake())
            {
                Close(CloseCodes.RateLimited, "too many frames");
                return null;
            }

            if (peek.EndOfMessage)
            {
                Touch();
                TrySend(ServerFrames.Error(null, ErrorCodes.Invalid, "Empty frame."));
                continue;
            }

            var buffer = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length >= ProtocolLimits.MaxFrameBytes)
                        {
                            Close(CloseCodes.MessageTooBig, "frame too large");
                            return null;
                        }

                        var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, ProtocolLimits.MaxFrameBytes));
                        buffer.AsSpan(0, length).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }

                    result = await socket.ReceiveAsync(buffer.AsMemory(length, Math.Min(buffer.Length, ProtocolLimits.MaxFrameBytes) - length), cancellationToken);
                    length += result.Count;
                    if (length > ProtocolLimits.MaxFrameBytes)
                    {
                        Close(CloseCodes.MessageTooBig, "frame too large");
                        return null;
                    }

                    // An empty fragment of an unfinished message is a frame that brings nothing: it counts, so a stream
                    // of them cannot keep a core busy (the socket shows us reads, not frames; these are the ones the
                    // byte limit above cannot bound).
                    if (result.Count == 0 && !result.EndOfMessage && result.MessageType != WebSocketMessageType.Close && !frames.TryTake())
                    {
                        Close(CloseCodes.RateLimited, "too many frames");
                        return null;
                    }
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return AnswerClose();
                }

                Touch();
                if (result.MessageType != WebSocketMessageType.Text)
                {
                    TrySend(ServerFrames.Error(null, ErrorCodes.Invalid, "Frames are JSON text."));
                    continue;
                }

                await dispatcher.HandleTextAsync(session, buffer.AsMemory(0, length), cancellationToken);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        return null;
    }

    /// <summary>Answers the client's close; its status is the connection's when the server had not closed first.</summary>
    private WebSocketCloseStatus? AnswerClose()
    {
        var status = CloseStatus is null ? socket.CloseStatus ?? WebSocketCloseStatus.Empty : (WebSocketCloseStatus?)null;
        Close(WebSocketCloseStatus.NormalClosure, "bye");
        return status;
    }
}

/// <summary>Frames a client may send: a sustained rate with a burst, on the injected clock; lives on its connection's receive loop.</summary>
internal struct FrameBucket(ConnectionShared shared)
{
    private double _tokens = shared.FrameBurst;
    private long _stamp = shared.Time.GetTimestamp();

    public bool TryTake()
    {
        var now = shared.Time.GetTimestamp();
        var seconds = (now - _stamp) / (double)shared.Time.TimestampFrequency;
        _tokens = Math.Min(shared.FrameBurst, _tokens + (seconds * shared.FramesPerSecond));
        _stamp = now;
        if (_tokens < 1)
        {
            return false;
        }

        _tokens -= 1;
        return true;
    }
}
