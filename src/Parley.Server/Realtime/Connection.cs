using System.Net.WebSockets;
using System.Threading.Channels;
using Parley.Protocol;

namespace Parley.Server.Realtime;

/// <summary>
/// One open WebSocket. Everything it is sent goes through one bounded queue drained by one writer, so
/// frames never interleave and a client too slow to drain its queue is disconnected (it catches up by
/// after= when it returns) instead of growing the server's memory.
/// </summary>
public sealed class Connection
{
    private const int SendChunkBytes = 64 * 1024;
    private static long _nextId;
    private readonly WebSocket _socket;
    private readonly Channel<byte[]> _outgoing;
    private WebSocketCloseStatus? _closeStatus;
    private string _closeReason = "";
    private long _lastReceived = Environment.TickCount64;

    private readonly CancellationTokenSource _lifetime;

    /// <param name="lifetime">Cancelled a little after a close is asked for, so a peer that never answers the
    /// close handshake cannot hold the connection open.</param>
    private readonly long _maxQueuedBytes;
    private long _queuedBytes;
    private int _dropped;

    public Connection(WebSocket socket, long userId, long sessionId, int queueFrames, long queueBytes, CancellationTokenSource lifetime)
    {
        _socket = socket;
        _lifetime = lifetime;
        _maxQueuedBytes = Math.Max(ProtocolLimits.MaxFrameBytes, queueBytes);
        UserId = userId;
        SessionId = sessionId;
        _outgoing = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(Math.Max(1, queueFrames))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full; nothing is dropped silently
        });
    }

    public long Id { get; } = Interlocked.Increment(ref _nextId);

    public long UserId { get; }

    public long SessionId { get; }

    /// <summary>Milliseconds since anything was last received from the client.</summary>
    public long SilentForMs => Environment.TickCount64 - Volatile.Read(ref _lastReceived);

    /// <summary>Raised after each frame is written to the socket.</summary>
    public Action? FrameWritten { get; init; }

    /// <summary>Raised once when the connection is dropped for being too slow to drain its queue.</summary>
    public Action? SlowConsumerDropped { get; init; }

    /// <summary>The close status the server asked for first, if it asked for one.</summary>
    public WebSocketCloseStatus? CloseStatus => _closeStatus;

    public void Touch() => Volatile.Write(ref _lastReceived, Environment.TickCount64);

    /// <summary>Queues a frame; a client whose queue is full (frames or bytes) is disconnected.</summary>
    public bool TrySend(byte[] frame)
    {
        if (Interlocked.Add(ref _queuedBytes, frame.Length) <= _maxQueuedBytes && _outgoing.Writer.TryWrite(frame))
        {
            return true;
        }

        Interlocked.Add(ref _queuedBytes, -frame.Length);

        if (_closeStatus is null && Interlocked.Exchange(ref _dropped, 1) == 0)
        {
            _socket.Abort(); // too slow: drop it now, it will catch up by after= on reconnect
            SlowConsumerDropped?.Invoke();
        }

        return false;
    }

    /// <summary>Closes after the frames already queued have been written.</summary>
    public void Close(WebSocketCloseStatus status, string reason)
    {
        if (_closeStatus is not null)
        {
            return;
        }

        _closeStatus = status;
        _closeReason = reason;
        _outgoing.Writer.TryComplete();
        try
        {
            _lifetime.CancelAfter(TimeSpan.FromSeconds(5));
        }
        catch (ObjectDisposedException)
        {
            // already finished
        }
    }

    /// <summary>The single writer: drains the queue, then sends the close frame if one was asked for.</summary>
    public async Task RunWriterAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var frame in _outgoing.Reader.ReadAllAsync(cancellationToken))
            {
                // In fragments: the socket copies what it is given into a buffer rented for that size, and the shared
                // pool keeps a rented buffer after it is returned; pieces of 64 KiB keep that memory small instead
                // of holding a megabyte-sized buffer per page sent long after the socket closed.
                var offset = 0;
                do
                {
                    var count = Math.Min(SendChunkBytes, frame.Length - offset);
                    await _socket.SendAsync(frame.AsMemory(offset, count), WebSocketMessageType.Text, endOfMessage: offset + count == frame.Length, cancellationToken);
                    offset += count;
                }
                while (offset < frame.Length);

                Interlocked.Add(ref _queuedBytes, -frame.Length);
                FrameWritten?.Invoke();
            }

            if (_closeStatus is { } status && _socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseOutputAsync(status, _closeReason, timeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer is gone; the receive loop ends too.
        }
    }

    /// <summary>Stops the writer once the receive side has ended.</summary>
    public void Complete() => _outgoing.Writer.TryComplete();
}
