using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Parley.Protocol;
using Parley.Server.Realtime;

namespace Parley.Server.Xmpp;

/// <summary>
/// An XMPP stream as a real-time <see cref="Connection"/>: registered in the <see cref="ConnectionRegistry"/> like a
/// socket, so fan-out, cluster delivery, heartbeats, slow-consumer drops and revocation reach it unchanged. What
/// it is sent is of two kinds, told apart by the first byte: XML the XMPP side wrote itself (<c>&lt;</c>, written
/// as it is) and the JSON server frames every connection gets (<c>{</c>), which <see cref="XmppOutbound"/> turns
/// into stanzas here, on the connection's one writer (frames with no XMPP meaning are dropped).
/// </summary>
public sealed class XmppConnection : Connection
{
    private readonly XmppOutbound _outbound;
    private readonly XmppResumption _resumption;
    private string? _streamError; // the condition the XMPP side asked for, when it closed the stream itself

    // XEP-0198: the TCP connection the writer writes to. Null while the stream is detached (waiting for a resume) or
    // after a write failed; set again by the writer itself at a resume's control frame (StreamManagement.cs).
    private volatile ConnectionContext? _transport;
    private volatile bool _dead;

    internal XmppConnection(ConnectionContext context, ConnectionShared shared, XmppOutbound outbound, XmppStream stream, XmppResumption resumption)
        : base(shared, stream.Caller.UserId, stream.Caller.SessionId)
    {
        _transport = context;
        _outbound = outbound;
        _resumption = resumption;
        Stream = stream;
    }

    /// <summary>Aborted (slow consumer, close timeout): not resumable.</summary>
    internal bool Dead => _dead;

    /// <summary>The TCP connection ended (the receive loop's end): nothing is written until a resume attaches another.</summary>
    internal void DetachTransport() => _transport = null;

    /// <summary>The stream's state (JIDs, caches) the outbound translation reads.</summary>
    public XmppStream Stream { get; }

    /// <summary>XEP-0198: queues a control frame (the writer acts on it in queue order; see StreamManagement).</summary>
    internal bool TrySendControl(byte op, string xml)
    {
        var bytes = Encoding.UTF8.GetBytes(xml);
        var frame = new byte[bytes.Length + 2];
        frame[0] = StreamManagement.Control;
        frame[1] = op;
        bytes.CopyTo(frame, 2);
        return TrySend(frame);
    }

    /// <summary>Queues XML the XMPP side wrote (a stanza or a nonza) on the connection's one writer.</summary>
    public bool TrySendXml(string xml) => TrySend(Encoding.UTF8.GetBytes(xml));

    /// <summary>Ends the stream with this RFC 6120 stream error, after what is queued (a stanza-level violation of a bound stream).</summary>
    public void CloseWithStreamError(string condition, string? text)
    {
        Interlocked.CompareExchange(ref _streamError, condition, null);
        Close(WebSocketCloseStatus.ProtocolError, text ?? condition);
    }

    public override void Abort()
    {
        _dead = true;
        _transport?.Abort();
        if (_transport is null)
        {
            _ = Task.Run(() => _resumption.EndAsync(Stream, "dropped while detached")); // no receive loop will end it
        }
    }

    private protected override async ValueTask WriteAsync(byte[][]? pongs, byte[][] frames, int count)
    {
        var sm = Stream.Sm;
        var transport = _transport;
        var output = transport?.Transport.Output;
        var overflow = false;
        for (var i = 0; i < count; i++)
        {
            var frame = frames[i];
            if (frame.Length == 0)
            {
                continue;
            }

            byte[]? bytes;
            if (frame[0] == StreamManagement.Control)
            {
                // XEP-0198 control frames, in queue order: <enabled/> (counting starts after it) or <resumed/> (the new
                // transport is attached here, so nothing queued before the resume went to it ahead of <resumed/>).
                bytes = frame.AsSpan(2).ToArray();
                if (frame[1] == StreamManagement.ControlResume && sm.TakePending() is { } pending)
                {
                    transport = _transport = pending;
                    output = pending.Transport.Output;
                    output.Write(bytes);
                    foreach (var kept in sm.UnackedSnapshot())
                    {
                        output.Write(kept); // every stanza the client did not acknowledge, in order
                    }

                    continue;
                }

                output?.Write(bytes);
                if (frame[1] == StreamManagement.ControlEnable)
                {
                    sm.StartCounting();
                }

                continue;
            }

            if (frame[0] == (byte)'<')
            {
                bytes = frame;
            }
            else
            {
                bytes = await _outbound.TranslateAsync(Stream, frame) is { } xml ? Encoding.UTF8.GetBytes(xml) : null;
            }

            if (bytes is null)
            {
                continue;
            }

            if (sm.Counting)
            {
                overflow |= !TrackStanzas(sm, bytes);
            }

            output?.Write(bytes);
        }

        if (output is not null && sm.Counting && sm.TakeRequest(StreamManagement.RequestEvery))
        {
            output.Write("<r xmlns='urn:xmpp:sm:3'/>"u8);
        }

        if (overflow)
        {
            // Like a full send queue: a client that does not acknowledge is dropped (not resumable).
            Shared.SlowConsumerDropped();
            CloseWithStreamError("policy-violation", "too many unacknowledged stanzas");
        }

        if (output is null)
        {
            return; // detached: kept for the resume
        }

        try
        {
            var result = await output.FlushAsync();
            if (result.IsCompleted || result.IsCanceled)
            {
                throw new IOException("The connection is closed.");
            }
        }
        catch (Exception e) when (sm.ResumeId is not null && e is IOException or InvalidOperationException or ConnectionResetException or ConnectionAbortedException or OperationCanceledException)
        {
            // Resumable: what was written is kept until acknowledged; the receive loop ends and the stream waits.
            if (_transport == transport)
            {
                _transport = null;
            }

            transport!.Abort();
        }
    }

    /// <summary>Keeps each stanza of <paramref name="bytes"/> (one or several elements) until acknowledged.</summary>
    private static bool TrackStanzas(StreamManagement sm, byte[] bytes)
    {
        var ok = true;
        var first = StreamManagement.ElementEnd(bytes, 0, out var start);
        if (first == bytes.Length && start >= 0)
        {
            // One element (the usual case): kept as it is.
            return !StreamManagement.IsStanza(bytes, start) || sm.Track(bytes);
        }

        for (var end = first; end > 0; end = StreamManagement.ElementEnd(bytes, end, out start))
        {
            if (StreamManagement.IsStanza(bytes, start))
            {
                ok &= sm.Track(bytes.AsSpan(start, end - start).ToArray());
            }

            if (end >= bytes.Length)
            {
                break;
            }
        }

        return ok;
    }

    /// <summary>The WebSocket close codes the shared machinery uses, as RFC 6120 stream errors; then the stream ends.</summary>
    private protected override async ValueTask WriteCloseAsync(WebSocketCloseStatus status, string reason)
    {
        if (_transport is not { } transport)
        {
            // Detached (revoked, shutdown, dropped as a slow consumer while waiting for a resume): nobody to tell, and
            // no receive loop to end the session.
            _ = Task.Run(() => _resumption.EndAsync(Stream, "closed while detached"));
            return;
        }

        var output = transport.Transport.Output;
        var end = status == WebSocketCloseStatus.NormalClosure
            ? "</stream:stream>" // the client closed its stream: ours closes too, without an error
            : XmppWriter.StreamError(Volatile.Read(ref _streamError) ?? StreamErrorFor(status), reason);
        output.Write(Encoding.UTF8.GetBytes(end));
        await output.FlushAsync();
        await output.CompleteAsync(); // the peer sees the end and closes its side; the receive loop then ends
    }

    internal static string StreamErrorFor(WebSocketCloseStatus status) => status switch
    {
        CloseCodes.HeartbeatTimeout => "connection-timeout",
        CloseCodes.SessionRevoked => "not-authorized",
        CloseCodes.RateLimited => "policy-violation",
        CloseCodes.MessageTooBig => "policy-violation",
        WebSocketCloseStatus.EndpointUnavailable => "system-shutdown",
        _ => "internal-server-error",
    };
}
