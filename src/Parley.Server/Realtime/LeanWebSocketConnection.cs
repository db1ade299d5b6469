using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using System.Text.Unicode;
using Microsoft.AspNetCore.Connections;
using Parley.Protocol;
using Parley.Server.Http;

namespace Parley.Server.Realtime;

/// <summary>
/// The lean transport: RFC 6455 framing of our own straight on the Kestrel connection's pipes, after
/// <see cref="LeanWebSocketMiddleware"/> took the upgrade. Per connection it keeps only Kestrel's socket and
/// pipes, this object and its receive loop: no HTTP/1.1 connection state, no WebSocket object, no buffer while
/// idle (Kestrel's socket transport waits with a zero-byte read; a message's bytes are rented only while it is
/// assembled and handled). The writer puts every frame queued at that moment into the output pipe and flushes
/// once: one socket write for frames queued together.
/// </summary>
internal sealed class LeanWebSocketConnection(ConnectionContext context, ConnectionShared shared, long userId, long sessionId)
    : Connection(shared, userId, sessionId)
{
    /// <summary>A big frame (a sync page of megabytes) is flushed in pieces, so the pipe never holds all of it.</summary>
    private const int FlushEvery = 64 * 1024;

    public override void Abort() => context.Abort();

    private protected override async ValueTask WriteAsync(byte[][]? pongs, byte[][] frames, int count)
    {
        var output = context.Transport.Output;
        foreach (var pong in pongs ?? [])
        {
            WriteFrame(output, WebSocketOpcode.Pong, pong);
        }

        long unflushed = 0;
        for (var i = 0; i < count; i++)
        {
            var frame = frames[i];
            var header = output.GetSpan(WebSocketFraming.MaxServerHeader);
            output.Advance(WebSocketFraming.WriteHeader(header, WebSocketOpcode.Text, frame.Length));
            if (frame.Length <= FlushEvery)
            {
                output.Write(frame);
                unflushed += frame.Length;
                if (unflushed >= FlushEvery)
                {
                    await FlushAsync(output);
                    unflushed = 0;
                }

                continue;
            }

            for (var offset = 0; offset < frame.Length; offset += FlushEvery)
            {
                output.Write(frame.AsSpan(offset, Math.Min(FlushEvery, frame.Length - offset)));
                await FlushAsync(output);
            }

            unflushed = 0;
        }

        await FlushAsync(output);
    }

    private protected override async ValueTask WriteCloseAsync(WebSocketCloseStatus status, string reason)
    {
        var output = context.Transport.Output;
        if (status == WebSocketCloseStatus.Empty)
        {
            WriteFrame(output, WebSocketOpcode.Close, []);
        }
        else
        {
            Span<byte> payload = stackalloc byte[WebSocketFraming.MaxControlPayload];
            BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)status);
            var reasonBytes = Encoding.UTF8.GetBytes(reason.Length > 40 ? reason[..40] : reason, payload[2..]);
            WriteFrame(output, WebSocketOpcode.Close, payload[..(2 + reasonBytes)]);
        }

        await FlushAsync(output);
    }

    private static void WriteFrame(PipeWriter output, WebSocketOpcode opcode, ReadOnlySpan<byte> payload)
    {
        var span = output.GetSpan(WebSocketFraming.MaxServerHeader + payload.Length);
        var header = WebSocketFraming.WriteHeader(span, opcode, payload.Length);
        payload.CopyTo(span[header..]);
        output.Advance(header + payload.Length);
    }

    private static async ValueTask FlushAsync(PipeWriter output)
    {
        var result = await output.FlushAsync();
        if (result.IsCompleted || result.IsCanceled)
        {
            throw new IOException("The connection is closed.");
        }
    }

    /// <summary>Reads frames until the connection ends; returns the client's close status when the client closed first.</summary>
    internal async Task<WebSocketCloseStatus?> ReceiveAsync(ClientSession session, FrameDispatcher dispatcher, CancellationToken cancellationToken)
    {
        var input = context.Transport.Input;
        var state = new ReceiveState { Frames = new FrameBucket(Shared) };
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    // No token: a registration on it would be held by every idle socket; the pipe ends with the connection.
                    result = await input.ReadAsync();
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or ConnectionResetException or ConnectionAbortedException)
                {
                    return null;
                }

                var buffer = result.Buffer;
                var step = Step(buffer, ref state, out var consumed);
                if (step == ReceiveStep.NeedMore)
                {
                    input.AdvanceTo(consumed, buffer.End);
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        return null; // the peer went away without a close frame
                    }

                    continue;
                }

                input.AdvanceTo(consumed);
                if (step == ReceiveStep.Ended)
                {
                    return state.ClientClose;
                }

                // A whole message: handled before the next is read, so a connection's frames keep their order.
                var message = state.Message!;
                var length = state.Length;
                state.Message = null;
                state.Length = 0;
                var handled = ValueTask.CompletedTask;
                try
                {
                    Touch();
                    if (length == 0)
                    {
                        TrySend(ServerFrames.Error(null, ErrorCodes.Invalid, "Empty frame."));
                    }
                    else if (state.Type != WebSocketOpcode.Text)
                    {
                        TrySend(ServerFrames.Error(null, ErrorCodes.Invalid, "Frames are JSON text."));
                    }
                    else
                    {
                        handled = dispatcher.HandleTextAsync(session, message.AsMemory(0, length), cancellationToken);
                    }
                }
                finally
                {
                    // The dispatcher has read the payload once HandleTextAsync returns, so the buffer goes back to the
                    // pool on the thread that rented it, not after the send has committed on another (where the
                    // pool's per-thread cache misses it, and a thousand sends in flight would each allocate one).
                    if (message.Length > 0)
                    {
                        ArrayPool<byte>.Shared.Return(message);
                    }
                }

                await handled;
            }
        }
        finally
        {
            if (state.Message is { Length: > 0 } partial)
            {
                ArrayPool<byte>.Shared.Return(partial);
            }
        }
    }

    /// <summary>
    /// Parses what has arrived: control frames are answered here; a complete data message stops the step so it is
    /// handled before anything after it. Protocol errors close the connection (1002, 1007, 1009); after the server
    /// has asked to close, frames are skipped until the client's close frame (or the close timeout) ends it.
    /// </summary>
    private ReceiveStep Step(ReadOnlySequence<byte> buffer, ref ReceiveState state, out SequencePosition consumed)
    {
        // Made once, outside the loop: a stackalloc in the loop stays on the stack until the method returns, and one
        // read holding a hundred thousand empty pings (a megabyte) overflowed the stack and killed the process.
        Span<byte> control = stackalloc byte[WebSocketFraming.MaxControlPayload];
        while (true)
        {
            consumed = buffer.Start;
            if (state.Draining)
            {
                if (state.Skip > 0)
                {
                    var skipped = Math.Min(state.Skip, buffer.Length);
                    buffer = buffer.Slice(skipped);
                    state.Skip -= skipped;
                    consumed = buffer.Start;
                    if (state.Skip > 0)
                    {
                        return ReceiveStep.NeedMore;
                    }
                }

                // After our close, frames are only looked at for the client's close (leniently: even one we would refuse).
                if (!TryReadAnyHeader(buffer, out var opcode, out var frameLength))
                {
                    return ReceiveStep.NeedMore;
                }

                if (opcode == WebSocketOpcode.Close)
                {
                    consumed = buffer.End;
                    return ReceiveStep.Ended;
                }

                // Skipped frames still count: a client that floods after our close (a 4008 for flooding, say) is no
                // longer read at all, and the close timeout ends the connection, instead of being parsed for 5 s.
                if (!state.Frames.TryTake())
                {
                    consumed = buffer.End;
                    return ReceiveStep.Ended;
                }

                state.Skip = frameLength;
                continue;
            }

            var status = WebSocketFraming.TryReadHeader(buffer, out var header, out var error);
            if (status == FrameHeaderStatus.Incomplete)
            {
                return ReceiveStep.NeedMore;
            }

            if (status == FrameHeaderStatus.ProtocolError)
            {
                // The header itself is unreadable: nothing after it can be framed, so the close frame is the last word.
                Close(WebSocketCloseStatus.ProtocolError, error!);
                consumed = buffer.End;
                return ReceiveStep.Ended;
            }

            var frameBytes = header.HeaderLength + header.PayloadLength;
            if (header.IsControl)
            {
                if (buffer.Length < frameBytes)
                {
                    return ReceiveStep.NeedMore;
                }

                // Pings and pongs count as frames: a flood of them (answered or not) would otherwise keep a core busy
                // with no limit, and pings from a client that reads nothing would be taken in for ever.
                if (header.Opcode != WebSocketOpcode.Close && CloseStatus is null && !state.Frames.TryTake())
                {
                    return Fail(ref state, CloseCodes.RateLimited, "too many frames", buffer, frameBytes, out consumed);
                }

                var payload = control[..(int)header.PayloadLength];
                buffer.Slice(header.HeaderLength, header.PayloadLength).CopyTo(payload);
                WebSocketFraming.Unmask(payload, header.MaskKey, 0);
                buffer = buffer.Slice(frameBytes);
                consumed = buffer.Start;
                switch (header.Opcode)
                {
                    case WebSocketOpcode.Ping:
                        if (CloseStatus is null)
                        {
                            QueuePong(payload.ToArray());
                        }

                        continue;
                    case WebSocketOpcode.Pong:
                        continue;
                    default:
                        return ClientClosed(payload, ref state);
                }
            }

            if (CloseStatus is not null)
            {
                // Closing (heartbeat, revocation): nothing more is handled; wait for the client's close.
                state.Draining = true;
                continue;
            }

            if (header.Opcode == WebSocketOpcode.Continuation ? !state.InMessage : state.InMessage)
            {
                return Fail(ref state, WebSocketCloseStatus.ProtocolError, state.InMessage ? "a new message inside a fragmented one" : "a continuation frame without a message", buffer, frameBytes, out consumed);
            }

            if (header.PayloadLength > ProtocolLimits.MaxFrameBytes - state.Length)
            {
                return Fail(ref state, CloseCodes.MessageTooBig, "frame too large", buffer, frameBytes, out consumed);
            }

            if (buffer.Length < frameBytes)
            {
                return ReceiveStep.NeedMore; // bounded: at most the message limit waits in the pipe
            }

            // Every frame counts, fragments too (a message in k fragments costs k), once the frame is whole: a big frame
            // arrives in many reads, and each one steps over its header again. Counting only messages let a client stream
            // empty continuation frames of one message that never ends and keep a core busy.
            if (!state.Frames.TryTake())
            {
                return Fail(ref state, CloseCodes.RateLimited, "too many frames", buffer, frameBytes, out consumed);
            }

            if (!state.InMessage)
            {
                state.InMessage = true;
                state.Type = header.Opcode;
            }

            var length = (int)header.PayloadLength;
            if (length > 0)
            {
                Grow(ref state, state.Length + length);
                var target = state.Message.AsSpan(state.Length, length);
                buffer.Slice(header.HeaderLength, length).CopyTo(target);
                WebSocketFraming.Unmask(target, header.MaskKey, 0);
                state.Length += length;
            }

            buffer = buffer.Slice(frameBytes);
            consumed = buffer.Start;
            if (state.Type == WebSocketOpcode.Text && !ValidateText(ref state, header.Fin))
            {
                return Fail(ref state, WebSocketCloseStatus.InvalidPayloadData, "invalid UTF-8", buffer, 0, out consumed);
            }

            if (!header.Fin)
            {
                continue;
            }

            state.InMessage = false;
            state.Validated = 0;
            state.Message ??= [];
            return ReceiveStep.Message;
        }
    }

    private ReceiveStep ClientClosed(ReadOnlySpan<byte> payload, ref ReceiveState state)
    {
        if (CloseStatus is not null)
        {
            return ReceiveStep.Ended; // the client's answer to ours: the handshake is complete
        }

        if (payload.Length == 1)
        {
            Close(WebSocketCloseStatus.ProtocolError, "close frame of one byte");
            return ReceiveStep.Ended;
        }

        if (payload.Length >= 2)
        {
            var code = BinaryPrimitives.ReadUInt16BigEndian(payload);
            if (!WebSocketFraming.IsValidCloseCode(code))
            {
                Close(WebSocketCloseStatus.ProtocolError, "invalid close code");
                return ReceiveStep.Ended;
            }

            if (!Utf8.IsValid(payload[2..]))
            {
                Close(WebSocketCloseStatus.InvalidPayloadData, "invalid UTF-8 in the close reason");
                return ReceiveStep.Ended;
            }

            state.ClientClose = (WebSocketCloseStatus)code;
        }
        else
        {
            state.ClientClose = WebSocketCloseStatus.Empty;
        }

        Close(state.ClientClose.Value, ""); // echoed (RFC 6455 5.5.1), after what is already queued
        return ReceiveStep.Ended;
    }

    /// <summary>Closes with <paramref name="code"/> and skips the offending frame while waiting for the client's close.</summary>
    private ReceiveStep Fail(ref ReceiveState state, WebSocketCloseStatus code, string reason, ReadOnlySequence<byte> buffer, long frameBytes, out SequencePosition consumed)
    {
        Close(code, reason);
        if (state.Message is { Length: > 0 } message)
        {
            ArrayPool<byte>.Shared.Return(message);
        }

        state.Message = null;
        state.Length = 0;
        state.Validated = 0;
        state.InMessage = false;
        state.Draining = true;
        state.Skip = frameBytes;
        return Step(buffer, ref state, out consumed);
    }

    /// <summary>
    /// Checks the text received since the last check, fragment by fragment, so a bad message fails at once (as
    /// Autobahn's strict cases want); a character split across fragments is checked when its last byte has come.
    /// </summary>
    private static bool ValidateText(ref ReceiveState state, bool final)
    {
        var text = state.Message.AsSpan(state.Validated, state.Length - state.Validated);
        var checkedUpTo = text.Length;
        if (!final)
        {
            // Leave out a trailing sequence whose last bytes are still to come.
            for (var i = text.Length - 1; i >= Math.Max(0, text.Length - 3); i--)
            {
                var b = text[i];
                if ((b & 0xC0) == 0x80)
                {
                    continue;
                }

                var needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
                if (i + needed > text.Length)
                {
                    checkedUpTo = i;
                }

                break;
            }
        }

        if (!Utf8.IsValid(text[..checkedUpTo]))
        {
            return false;
        }

        state.Validated += checkedUpTo;
        return true;
    }

    private static void Grow(ref ReceiveState state, int needed)
    {
        if (state.Message is { } current && current.Length >= needed)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(needed);
        if (state.Message is { Length: > 0 } old)
        {
            old.AsSpan(0, state.Length).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(old);
        }

        state.Message = bigger;
    }

    /// <summary>A frame's opcode and whole length, whatever its flags (used only to find the client's close after ours).</summary>
    private static bool TryReadAnyHeader(ReadOnlySequence<byte> buffer, out WebSocketOpcode opcode, out long frameLength)
    {
        opcode = default;
        frameLength = 0;
        if (buffer.Length < 2)
        {
            return false;
        }

        Span<byte> head = stackalloc byte[14];
        var available = (int)Math.Min(head.Length, buffer.Length);
        buffer.Slice(0, available).CopyTo(head);
        opcode = (WebSocketOpcode)(head[0] & 0x0F);
        var length7 = head[1] & 0x7F;
        var lengthBytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
        var headerLength = 2 + lengthBytes + ((head[1] & 0x80) != 0 ? 4 : 0);
        if (available < headerLength)
        {
            return false;
        }

        long length = lengthBytes switch
        {
            2 => BinaryPrimitives.ReadUInt16BigEndian(head[2..]),
            8 => (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(head[2..]), long.MaxValue / 2),
            _ => length7,
        };
        frameLength = headerLength + length;
        return true;
    }

    private enum ReceiveStep
    {
        NeedMore,
        Message,
        Ended,
    }

    /// <summary>The receive loop's state: the message being assembled (rented only meanwhile), and the closing skip.</summary>
    private struct ReceiveState
    {
        public FrameBucket Frames;
        public byte[]? Message;
        public int Length;
        public int Validated; // bytes of a text message known to be UTF-8 so far
        public WebSocketOpcode Type;
        public bool InMessage;
        public bool Draining;
        public long Skip;
        public WebSocketCloseStatus? ClientClose;
    }
}
