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
    private readonly ConnectionContext _context;
    private readonly XmppOutbound _outbound;
    private string? _streamError; // the condition the XMPP side asked for, when it closed the stream itself

    internal XmppConnection(ConnectionContext context, ConnectionShared shared, XmppOutbound outbound, XmppStream stream)
        : base(shared, stream.Caller.UserId, stream.Caller.SessionId)
    {
        _context = context;
        _outbound = outbound;
        Stream = stream;
    }

    /// <summary>The stream's state (JIDs, caches) the outbound translation reads.</summary>
    public XmppStream Stream { get; }

    /// <summary>Queues XML the XMPP side wrote (a stanza or a nonza) on the connection's one writer.</summary>
    public bool TrySendXml(string xml) => TrySend(Encoding.UTF8.GetBytes(xml));

    /// <summary>Ends the stream with this RFC 6120 stream error, after what is queued (a stanza-level violation of a bound stream).</summary>
    public void CloseWithStreamError(string condition, string? text)
    {
        Interlocked.CompareExchange(ref _streamError, condition, null);
        Close(WebSocketCloseStatus.ProtocolError, text ?? condition);
    }

    public override void Abort() => _context.Abort();

    private protected override async ValueTask WriteAsync(byte[][]? pongs, byte[][] frames, int count)
    {
        var output = _context.Transport.Output;
        for (var i = 0; i < count; i++)
        {
            var frame = frames[i];
            if (frame.Length == 0)
            {
                continue;
            }

            if (frame[0] == (byte)'<')
            {
                output.Write(frame);
            }
            else if (await _outbound.TranslateAsync(Stream, frame) is { } xml)
            {
                output.Write(Encoding.UTF8.GetBytes(xml));
            }
        }

        var result = await output.FlushAsync();
        if (result.IsCompleted || result.IsCanceled)
        {
            throw new IOException("The connection is closed.");
        }
    }

    /// <summary>The WebSocket close codes the shared machinery uses, as RFC 6120 stream errors; then the stream ends.</summary>
    private protected override async ValueTask WriteCloseAsync(WebSocketCloseStatus status, string reason)
    {
        var output = _context.Transport.Output;
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
