using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Parley.Bench;

/// <summary>
/// One device over XMPP c2s (--transport xmpp): SASL PLAIN in the clear (loopback, the server with
/// Xmpp:AllowPlaintext=true), bind, then chat stanzas written as strings. What arrives is read with a cheap scanner:
/// only <c>&lt;message</c> stanzas are looked at (their <c>id</c>, the sender's clientMsgId, and <c>type</c>); pings
/// are answered; everything else is skipped. No XML parser, so the tool's cost stays small beside the server's.
/// </summary>
public sealed class XmppLink : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly StringBuilder _pending = new();
    private readonly byte[] _buffer = new byte[16 * 1024];
    private readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
    private readonly char[] _chars = new char[16 * 1024];
    private Task? _loop;
    private volatile bool _disposing;

    private XmppLink(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public bool IsOpen { get; private set; }

    /// <summary>Connects, authenticates and binds; then <paramref name="onMessage"/> gets (clientMsgId, isError) per message stanza.</summary>
    public static async Task<XmppLink> ConnectAsync(IPAddress source, int port, string domain, string username, string password, Action<string, bool> onMessage, Action<Exception?> onClosed, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Bind(new IPEndPoint(source, 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
        var link = new XmppLink(socket);
        var header = $"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>";
        await link.WriteAsync(header);
        await link.UntilAsync("</stream:features>", cancellationToken);
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{username}\0{password}"));
        await link.WriteAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>");
        var answer = await link.UntilAsync("/>", cancellationToken);
        if (!answer.Contains("<success", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"SASL refused for {username}: {answer}");
        }

        await link.WriteAsync(header);
        await link.UntilAsync("</stream:features>", cancellationToken);
        await link.WriteAsync("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
        await link.UntilAsync("</iq>", cancellationToken);
        link.IsOpen = true;
        link._loop = Task.Run(() => link.ReadLoopAsync(onMessage, onClosed), CancellationToken.None);
        return link;
    }

    /// <summary>A chat stanza to <paramref name="to"/>; <paramref name="id"/> is the clientMsgId (the bench's "sender.n.stamp").</summary>
    public Task SendChatAsync(string to, string id) =>
        WriteAsync($"<message type='chat' to='{to}' id='{id}'><body>a benchmark message of ordinary length, about sixty bytes</body></message>");

    private async Task WriteAsync(string xml)
    {
        var bytes = Encoding.UTF8.GetBytes(xml);
        await _write.WaitAsync();
        try
        {
            await _stream.WriteAsync(bytes);
        }
        finally
        {
            _write.Release();
        }
    }

    /// <summary>Negotiation only: reads until <paramref name="marker"/>, returns what came up to it (the rest is kept).</summary>
    private async Task<string> UntilAsync(string marker, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (true)
        {
            var text = _pending.ToString();
            var at = text.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                _pending.Remove(0, at + marker.Length);
                return text[..(at + marker.Length)];
            }

            if (!await FillAsync(timeout.Token))
            {
                throw new IOException($"the server closed the stream before '{marker}': {text}");
            }
        }
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        var read = await _stream.ReadAsync(_buffer, cancellationToken);
        if (read == 0)
        {
            return false;
        }

        var count = _decoder.GetChars(_buffer, 0, read, _chars, 0);
        _pending.Append(_chars, 0, count);
        return true;
    }

    /// <summary>The scanner: complete top-level elements are cut off the front; message stanzas reported, pings answered.</summary>
    private async Task ReadLoopAsync(Action<string, bool> onMessage, Action<Exception?> onClosed)
    {
        Exception? error = null;
        try
        {
            while (await FillAsync(CancellationToken.None))
            {
                while (TakeElement() is { } element)
                {
                    if (element.StartsWith("<message", StringComparison.Ordinal))
                    {
                        onMessage(Attribute(element, "id") ?? "", Attribute(element, "type") == "error");
                    }
                    else if (element.StartsWith("<iq", StringComparison.Ordinal) && Attribute(element, "type") == "get" && Attribute(element, "id") is { } id)
                    {
                        await WriteAsync($"<iq type='result' id='{id}'/>"); // the keepalive's ping
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            error = e;
        }

        IsOpen = false;
        if (!_disposing)
        {
            onClosed(error); // the server ended it, or the connection broke: the phase reports it
        }
    }

    /// <summary>The first complete top-level element of what is pending (our server's output: no comments, CDATA or PIs).</summary>
    private string? TakeElement()
    {
        var length = _pending.Length;
        var i = 0;
        while (i < length && _pending[i] != '<')
        {
            i++;
        }

        if (i >= length)
        {
            _pending.Clear();
            return null;
        }

        var start = i;
        var depth = 0;
        while (i < length)
        {
            if (_pending[i] != '<')
            {
                i++;
                continue;
            }

            var closing = i + 1 < length && _pending[i + 1] == '/';
            var j = i + 1;
            var quote = '\0';
            for (; j < length; j++)
            {
                var c = _pending[j];
                if (quote != '\0')
                {
                    if (c == quote)
                    {
                        quote = '\0';
                    }
                }
                else if (c is '\'' or '"')
                {
                    quote = c;
                }
                else if (c == '>')
                {
                    break;
                }
            }

            if (j >= length)
            {
                return null; // incomplete
            }

            depth += closing ? -1 : _pending[j - 1] == '/' ? 0 : 1;
            i = j + 1;
            if (depth <= 0)
            {
                var element = _pending.ToString(start, i - start);
                _pending.Remove(0, i);
                return element;
            }
        }

        return null;
    }

    /// <summary>An attribute of the element's start tag (single or double quotes; values are not unescaped: the bench's ids need none).</summary>
    private static string? Attribute(string element, string name)
    {
        var end = element.IndexOf('>', StringComparison.Ordinal);
        var tag = end < 0 ? element.AsSpan() : element.AsSpan(0, end);
        var key = " " + name + "=";
        var at = tag.IndexOf(key, StringComparison.Ordinal);
        if (at < 0 || at + key.Length >= tag.Length)
        {
            return null;
        }

        var quote = tag[at + key.Length];
        var rest = tag[(at + key.Length + 1)..];
        var close = rest.IndexOf(quote);
        return close < 0 ? null : rest[..close].ToString();
    }

    public async ValueTask DisposeAsync()
    {
        _disposing = true;
        try
        {
            if (IsOpen)
            {
                await WriteAsync("</stream:stream>");
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // gone already
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // reset already
        }

        await _stream.DisposeAsync();
        if (_loop is not null)
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        _write.Dispose();
    }
}
