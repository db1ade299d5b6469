using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;

namespace Parley.Client;

/// <summary>Options of a <see cref="ParleySocket"/>.</summary>
public sealed class ParleySocketOptions
{
    /// <summary>
    /// Called for every pushed frame, on the socket's receive loop, in arrival order (so pushes of a conversation
    /// come in seq order). Keep it short; hand work off if it is slow. Without it, events are dropped.
    /// </summary>
    public Action<ServerEvent>? OnEvent { get; set; }

    /// <summary>Send a <c>ping</c> when nothing was sent for half the server's heartbeat interval (default true).</summary>
    public bool AutoPing { get; set; } = true;

    /// <summary>An invoker for the upgrade request, e.g. a <see cref="SocketsHttpHandler"/> whose <c>ConnectCallback</c> binds a source address.</summary>
    public HttpMessageInvoker? Invoker { get; set; }

    /// <summary>An <c>Origin</c> header to send (browsers send one; native clients need not).</summary>
    public string? Origin { get; set; }

    /// <summary>How long to wait for the connection and its <c>hello</c>.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// One device's WebSocket to Parley: requests (<see cref="SendAsync(string, string, JsonElement, string?, long?, IReadOnlyList{string}?, CancellationToken)"/>, <see cref="SyncAsync"/>) are matched to
/// their answers by <c>ref</c>; pushes go to <see cref="ParleySocketOptions.OnEvent"/>. Sends on one socket keep
/// their order. When the socket closes, requests still waiting fail with <see cref="WebSocketException"/>: their
/// outcome is unknown, so retry a send with the same <c>clientMsgId</c> (it never makes a second message) and catch
/// up with <see cref="MessageTracker"/>. While idle the socket holds no receive buffer.
/// </summary>
public sealed class ParleySocket : IAsyncDisposable
{
    private const int InitialBuffer = 4 * 1024;

    private readonly ClientWebSocket _socket;
    private readonly ParleySocketOptions _options;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<long, Pending> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<Hello> _hello = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ClosedEvent> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextRef;
    private long _lastSendTicks = Environment.TickCount64;
    private Task? _receiveLoop;
    private Timer? _pinger;

    private ParleySocket(ClientWebSocket socket, ParleySocketOptions options)
    {
        _socket = socket;
        _options = options;
    }

    /// <summary>The server's <c>hello</c>.</summary>
    public Hello Hello { get; private set; } = null!;

    /// <summary>Completes when the socket has closed, with how.</summary>
    public Task<ClosedEvent> Closed => _closed.Task;

    public bool IsOpen => _socket.State == WebSocketState.Open && !_closed.Task.IsCompleted;

    /// <summary>Connects to <c>/ws</c> of <paramref name="baseUri"/> with an access token and waits for <c>hello</c>.</summary>
    public static async Task<ParleySocket> ConnectAsync(Uri baseUri, string accessToken, ParleySocketOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new ParleySocketOptions();
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + accessToken);
        socket.Options.KeepAliveInterval = TimeSpan.Zero; // the protocol has its own ping
        socket.Options.CollectHttpResponseDetails = true; // else HttpStatusCode stays 0 and a refused upgrade is not recognised below
        if (options.Origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", options.Origin);
        }

        var builder = new UriBuilder(baseUri) { Scheme = baseUri.Scheme == "https" ? "wss" : "ws", Path = "/ws" };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        var client = new ParleySocket(socket, options);
        try
        {
            if (options.Invoker is { } invoker)
            {
                await socket.ConnectAsync(builder.Uri, invoker, timeout.Token);
            }
            else
            {
                await socket.ConnectAsync(builder.Uri, timeout.Token);
            }

            client._receiveLoop = Task.Run(client.ReceiveLoopAsync, CancellationToken.None);
            client.Hello = await client._hello.Task.WaitAsync(timeout.Token);
        }
        catch (WebSocketException e) when (socket.HttpStatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            await client.DisposeAsync();
            throw new ParleyApiException(socket.HttpStatusCode, socket.HttpStatusCode == HttpStatusCode.Unauthorized ? "unauthorized" : "forbidden", e.Message);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }

        if (options.AutoPing && client.Hello.HeartbeatMs > 0)
        {
            var period = TimeSpan.FromMilliseconds(client.Hello.HeartbeatMs / 2.0);
            client._pinger = new Timer(static state => _ = ((ParleySocket)state!).PingIfQuietAsync(), client, period, period);
        }

        return client;
    }

    /// <summary>
    /// Sends a message and waits for its <c>sent</c> (the message as stored: seq assigned, durably committed).
    /// Throws <see cref="ParleyApiException"/> for an <c>error</c> answer (<c>rate_limited</c>, <c>muted</c>, ...).
    /// </summary>
    public Task<Message> SendAsync(string conversationId, string type, JsonElement content, string? clientMsgId = null, long? replyTo = null, IReadOnlyList<string>? mentions = null, CancellationToken cancellationToken = default) =>
        RequestAsync(
            "send",
            [("conversationId", conversationId), ("clientMsgId", clientMsgId ?? ParleyClient.NewClientMsgId()), ("msgType", type), ("content", content), ("replyTo", replyTo), ("mentions", mentions)],
            static e => FrameReader.Message(e.GetProperty("message")),
            cancellationToken);

    public Task<Message> SendTextAsync(string conversationId, string text, string? clientMsgId = null, CancellationToken cancellationToken = default) =>
        SendAsync(conversationId, "text", JsonBody.Text(text), clientMsgId, cancellationToken: cancellationToken);

    /// <summary>Sends typed content (<see cref="TextContent"/>, <see cref="ImageContent"/>, ...) and waits for its <c>sent</c>.</summary>
    public Task<Message> SendAsync(string conversationId, MessageContent content, string? clientMsgId = null, long? replyTo = null, IReadOnlyList<string>? mentions = null, CancellationToken cancellationToken = default) =>
        SendAsync(conversationId, content.Type, content.ToJson(), clientMsgId, replyTo, mentions, cancellationToken);

    /// <summary>Messages after <paramref name="afterSeq"/> (limit 1-200), as a <c>sync</c> request.</summary>
    public Task<MessagePage> SyncAsync(string conversationId, long afterSeq, int limit = 200, CancellationToken cancellationToken = default) =>
        RequestAsync("sync", [("conversationId", conversationId), ("afterSeq", afterSeq), ("limit", limit)], FrameReader.Page, cancellationToken);

    /// <summary>Confirms this device holds everything up to <paramref name="seq"/> (cumulative).</summary>
    public Task AckAsync(string conversationId, long seq, CancellationToken cancellationToken = default) =>
        WriteAsync(Frame("ack", null, [("conversationId", conversationId), ("seq", seq)]), cancellationToken);

    /// <summary>Moves my read marker to <paramref name="seq"/>.</summary>
    public Task ReadAsync(string conversationId, long seq, CancellationToken cancellationToken = default) =>
        WriteAsync(Frame("read", null, [("conversationId", conversationId), ("seq", seq)]), cancellationToken);

    public Task TypingAsync(string conversationId, CancellationToken cancellationToken = default) =>
        WriteAsync(Frame("typing", null, [("conversationId", conversationId)]), cancellationToken);

    public Task PingAsync(CancellationToken cancellationToken = default) => WriteAsync(Frame("ping", null, []), cancellationToken);

    /// <summary>Closes the socket with a normal closure.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                await _sendLock.WaitAsync(cancellationToken);
                try
                {
                    await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken);
                }
                finally
                {
                    _sendLock.Release();
                }

                if (_receiveLoop is not null)
                {
                    await _receiveLoop.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
                }
            }
            catch (Exception e) when (e is WebSocketException or TimeoutException or ObjectDisposedException or OperationCanceledException)
            {
                // closing anyway
            }
        }

        await DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_pinger is not null)
        {
            await _pinger.DisposeAsync();
        }

        await _stop.CancelAsync();
        _socket.Abort();
        if (_receiveLoop is not null)
        {
            try
            {
                await _receiveLoop;
            }
            catch (Exception)
            {
                // reported through Closed
            }
        }

        Finish(new ClosedEvent(null, "disposed", null));
        _socket.Dispose();
    }

    private async Task<T> RequestAsync<T>(string type, (string, object?)[] fields, Func<JsonElement, T> read, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextRef);
        var pending = new Pending(e => read(e)!);
        _pending[id] = pending;
        try
        {
            await WriteAsync(Frame(type, id, fields), cancellationToken);
            using (cancellationToken.Register(static p => ((Pending)p!).Completion.TrySetCanceled(), pending))
            {
                return (T)await pending.Completion.Task;
            }
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    private async Task WriteAsync(byte[] frame, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken);
        try
        {
            if (_closed.Task.IsCompleted)
            {
                throw new WebSocketException(WebSocketError.InvalidState, "The socket is closed.");
            }

            await _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
            Volatile.Write(ref _lastSendTicks, Environment.TickCount64);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task PingIfQuietAsync()
    {
        try
        {
            if (Environment.TickCount64 - Volatile.Read(ref _lastSendTicks) >= Hello.HeartbeatMs / 2 && IsOpen)
            {
                await PingAsync(_stop.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            // the receive loop reports the close
        }
    }

    private static byte[] Frame(string type, long? id, (string Name, object? Value)[] fields)
    {
        var all = new (string, object?)[fields.Length + 2];
        all[0] = ("type", type);
        all[1] = ("ref", id);
        fields.CopyTo(all, 2);
        return JsonBody.Object(all);
    }

    private async Task ReceiveLoopAsync()
    {
        byte[]? buffer = null;
        Exception? error = null;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                // Wait for data without holding a buffer (an idle connection costs no buffer).
                var first = await _socket.ReceiveAsync(Memory<byte>.Empty, _stop.Token);
                if (first.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                buffer = ArrayPool<byte>.Shared.Rent(InitialBuffer);
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        buffer.AsSpan(0, length).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }

                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), _stop.Token);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                if (result.MessageType == WebSocketMessageType.Text && length > 0)
                {
                    Dispatch(buffer.AsMemory(0, length));
                }

                ArrayPool<byte>.Shared.Return(buffer);
                buffer = null;
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            error = _stop.IsCancellationRequested ? null : e;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            error = e; // a frame this client cannot read: a server bug; the connection is given up
            _socket.Abort();
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            Finish(new ClosedEvent((int?)_socket.CloseStatus, _socket.CloseStatusDescription, error));
            if (_socket.State == WebSocketState.CloseReceived)
            {
                _ = AnswerCloseAsync();
            }
        }
    }

    /// <summary>Answers the server's close frame (RFC 6455 5.5.1); else the server holds the connection until its own timeout.</summary>
    private async Task AnswerCloseAsync()
    {
        try
        {
            await _sendLock.WaitAsync(_stop.Token);
            try
            {
                if (_socket.State == WebSocketState.CloseReceived)
                {
                    await _socket.CloseOutputAsync(_socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, _stop.Token);
                }
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // the connection is gone anyway
        }
    }

    private void Dispatch(ReadOnlyMemory<byte> frame)
    {
        using var document = JsonDocument.Parse(frame);
        var root = document.RootElement;
        var type = root.GetProperty("type").GetString();
        if (root.TryGetProperty("ref", out var reference) && reference.ValueKind == JsonValueKind.Number
            && reference.TryGetInt64(out var id) && _pending.TryGetValue(id, out var pending))
        {
            if (type == "error")
            {
                pending.Completion.TrySetException(new ParleyApiException(0, root.GetProperty("code").GetString() ?? "error", root.TryGetProperty("message", out var m) ? m.GetString() ?? "" : ""));
            }
            else
            {
                try
                {
                    pending.Completion.TrySetResult(pending.Read(root));
                }
                catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
                {
                    pending.Completion.TrySetException(new ParleyApiException(0, "invalid_response", "The server's answer could not be read: " + e.Message));
                }
            }

            return;
        }

        switch (type)
        {
            case "hello":
                _hello.TrySetResult(new Hello(
                    root.GetProperty("userId").GetString()!,
                    root.GetProperty("deviceId").GetString()!,
                    root.GetProperty("serverTime").GetInt64(),
                    root.GetProperty("heartbeatMs").GetInt32()));
                return;
            case "pong":
                return;
        }

        if (_options.OnEvent is { } handler && type is not null && FrameReader.Push(type, root) is { } push)
        {
            handler(push);
        }
    }

    private void Finish(ClosedEvent closed)
    {
        if (!_closed.TrySetResult(closed))
        {
            return;
        }

        _hello.TrySetException(new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The socket closed before hello."));
        foreach (var pending in _pending.Values)
        {
            pending.Completion.TrySetException(new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The socket closed before the answer came; the outcome is unknown."));
        }

        _options.OnEvent?.Invoke(closed);
    }

    private sealed class Pending(Func<JsonElement, object> read)
    {
        public Func<JsonElement, object> Read { get; } = read;

        public TaskCompletionSource<object> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
