using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Parley.Tests.Infrastructure;

/// <summary>A real WebSocket client of /ws for tests; every wait is bounded.</summary>
public sealed class WsClient : IAsyncDisposable
{
    private static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(30);
    private readonly ClientWebSocket _socket;
    private readonly List<JsonNode> _unread = [];
    // One pump reads the socket into this queue: cancelling a ClientWebSocket read would abort the socket,
    // so waits with a timeout wait on the queue instead.
    private readonly System.Threading.Channels.Channel<JsonNode> _frames = System.Threading.Channels.Channel.CreateUnbounded<JsonNode>();
    private readonly Task _pump;

    private WsClient(ClientWebSocket socket)
    {
        _socket = socket;
        _pump = Task.Run(PumpAsync);
    }

    public JsonNode Hello { get; private set; } = null!;

    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    public WebSocketState State => _socket.State;

    public static async Task<WsClient> ConnectAsync(ApiHost server, string accessToken, string? origin = null)
    {
        var socket = NewSocket(origin);
        var uri = new UriBuilder(server.BaseUri) { Scheme = "ws", Path = "/ws", Query = "access_token=" + Uri.EscapeDataString(accessToken) }.Uri;
        using var timeout = new CancellationTokenSource(DefaultWait);
        await socket.ConnectAsync(uri, timeout.Token);
        var client = new WsClient(socket);
        client.Hello = await client.NextAsync("hello");
        return client;
    }

    /// <summary>Tries to connect and returns the HTTP status the upgrade was refused with.</summary>
    public static async Task<HttpStatusCode> RefusedAsync(ApiHost server, string? accessToken, string? origin = null)
    {
        using var socket = NewSocket(origin);
        var query = accessToken is null ? "" : "access_token=" + Uri.EscapeDataString(accessToken);
        var uri = new UriBuilder(server.BaseUri) { Scheme = "ws", Path = "/ws", Query = query }.Uri;
        using var timeout = new CancellationTokenSource(DefaultWait);
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(uri, timeout.Token));
        return socket.HttpStatusCode;
    }

    public Task SendAsync(JsonObject frame) => SendRawAsync(Encoding.UTF8.GetBytes(frame.ToJsonString()));

    public async Task SendRawAsync(byte[] bytes, WebSocketMessageType type = WebSocketMessageType.Text)
    {
        using var timeout = new CancellationTokenSource(DefaultWait);
        await _socket.SendAsync(bytes, type, true, timeout.Token);
    }

    /// <summary>The next frame of <paramref name="type"/> (other frames are kept for later calls).</summary>
    public Task<JsonNode> NextAsync(string type, TimeSpan? wait = null, Func<JsonNode, bool>? where = null) =>
        NextWhereAsync(f => (string?)f["type"] == type && (where is null || where(f)), wait, $"'{type}' frame", $"'{type}'");

    /// <summary>The next frame of any type that matches <paramref name="where"/> (a send's answer: <c>sent</c> or <c>error</c> with its ref).</summary>
    public Task<JsonNode> NextMatchingAsync(Func<JsonNode, bool> where, TimeSpan? wait = null) =>
        NextWhereAsync(where, wait, "matching frame", "a matching frame");

    /// <summary>Takes the first unread frame that matches, receiving more until one does or the wait runs out.</summary>
    private async Task<JsonNode> NextWhereAsync(Func<JsonNode, bool> where, TimeSpan? wait, string missing, string awaited)
    {
        var deadline = DateTime.UtcNow + (wait ?? DefaultWait);
        while (true)
        {
            var index = _unread.FindIndex(f => where(f));
            if (index >= 0)
            {
                var found = _unread[index];
                _unread.RemoveAt(index);
                return found;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"no {missing}; unread: {string.Join(" | ", _unread.Select(f => f.ToJsonString()))}");
            }

            var frame = await ReceiveAsync(left) ?? throw new InvalidOperationException($"closed ({_socket.CloseStatus}) while waiting for {awaited}");
            _unread.Add(frame);
        }
    }

    /// <summary>
    /// "Nothing of <paramref name="type"/> arrives", asserted with a barrier instead of a quiet window: waits for the
    /// sentinel (the next frame of <paramref name="sentinelType"/> matching <paramref name="sentinel"/>, which the
    /// caller arranges to come through the same ordered route after the unwanted frame would have) and tells
    /// whether no frame of <paramref name="type"/> matching <paramref name="where"/> came before it. Frames after
    /// the sentinel stay unread for later calls.
    /// </summary>
    public async Task<bool> NoneBeforeAsync(string type, string sentinelType, Func<JsonNode, bool>? sentinel = null, Func<JsonNode, bool>? where = null)
    {
        await NextAsync(sentinelType, where: sentinel);
        return !_unread.Exists(f => (string?)f["type"] == type && (where is null || where(f)));
    }

    /// <summary>
    /// Whether a frame of <paramref name="type"/> has already arrived and is unread, without waiting: for checks
    /// made right after a sentinel that the frame, had it been sent, would have preceded.
    /// </summary>
    public bool Has(string type, Func<JsonNode, bool>? where = null) =>
        _unread.Exists(f => (string?)f["type"] == type && (where is null || where(f)));

    /// <summary>
    /// Takes every frame of <paramref name="type"/> received so far, without waiting: for counting what arrived before
    /// a sentinel that was waited for with <see cref="NextAsync"/> (frames still in flight are not this call's business).
    /// </summary>
    public List<JsonNode> TakeAll(string type)
    {
        while (_frames.Reader.TryRead(out var frame))
        {
            _unread.Add(frame);
        }

        var taken = _unread.FindAll(f => (string?)f["type"] == type);
        _unread.RemoveAll(f => (string?)f["type"] == type);
        return taken;
    }

    /// <summary>Waits for the server to close the connection and returns its close status.</summary>
    public async Task<WebSocketCloseStatus?> ClosedAsync(TimeSpan? wait = null)
    {
        await _pump.WaitAsync(wait ?? DefaultWait);
        return _socket.CloseStatus;
    }

    public void Abort() => _socket.Abort();

    /// <summary>Closes from the client's side with <paramref name="status"/> and waits for the server's answer.</summary>
    public async Task CloseAsync(WebSocketCloseStatus status)
    {
        using var timeout = new CancellationTokenSource(DefaultWait);
        await _socket.CloseOutputAsync(status, "client", timeout.Token);
        await _pump.WaitAsync(DefaultWait);
    }

    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
                await _pump.WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or TimeoutException)
            {
                // already gone
            }
        }

        _socket.Dispose();
    }

    private static ClientWebSocket NewSocket(string? origin)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }

        return socket;
    }

    private async Task<JsonNode?> ReceiveAsync(TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        try
        {
            return await _frames.Reader.WaitToReadAsync(timeout.Token) && _frames.Reader.TryRead(out var frame) ? frame : null;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("no frame in time");
        }
    }

    private async Task PumpAsync()
    {
        var buffer = new byte[256 * 1024];
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2); // a page of history can be megabytes
                    }

                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                _frames.Writer.TryWrite(JsonNode.Parse(buffer.AsSpan(0, length))!);
            }
        }
        catch (WebSocketException)
        {
            // aborted or dropped
        }
        finally
        {
            _frames.Writer.TryComplete();
        }
    }
}
