using System.Net.WebSockets;
using Parley.Protocol;

namespace Parley.Server.Realtime;

/// <summary>
/// One open real-time connection, whatever carries it (the lean RFC 6455 transport on Kestrel's pipes, or
/// ASP.NET Core's WebSocket as the fallback). Everything it is sent goes through one bounded queue (frames and
/// bytes) drained by one writer that takes every frame queued at that moment and writes them in one go, so
/// frames never interleave, frames queued together leave in one socket write, and a client too slow to drain
/// its queue is disconnected (it catches up by after= when it returns) instead of growing the server's memory.
/// The writer is not a loop parked per connection: it is scheduled on the thread pool when the first frame
/// arrives and ends when the queue is empty, so an idle connection holds no writer, buffer or task.
/// </summary>
public abstract partial class Connection : IThreadPoolWorkItem
{
    private static long _nextId;
    private readonly ConnectionShared _shared;

    // Guarded by the lock on this object (internal: nothing else locks a connection).
    private byte[][]? _queue; // frames waiting for the writer, in order
    private int _queueCount;
    private byte[][]? _writing; // the batch the writer is writing (swapped with _queue)
    private long _queuedBytes; // bytes of every frame not yet written (queued or being written)
    private int _queuedFrames;
    private bool _writerScheduled;
    private bool _completed; // the receive side ended: no more frames, the writer finishes and stops
    private bool _dropped;
    private List<byte[]>? _pongs; // payloads of pings not answered yet (made on the first ping), answered before the next batch
    private WebSocketCloseStatus? _closeStatus;
    private string _closeReason = "";
    private bool _closeWritten;
    private TaskCompletionSource? _writerDone;
    private ITimer? _closeTimer;

    private long _lastReceived;

    private protected Connection(ConnectionShared shared, long userId, long sessionId)
    {
        _shared = shared;
        UserId = userId;
        SessionId = sessionId;
        Id = Interlocked.Increment(ref _nextId);
        _lastReceived = shared.Time.GetTimestamp();
    }

    public long Id { get; }

    public long UserId { get; }

    public long SessionId { get; }

    /// <summary>Milliseconds since anything was last received from the client.</summary>
    public long SilentForMs => (long)_shared.Time.GetElapsedTime(Volatile.Read(ref _lastReceived)).TotalMilliseconds;

    /// <summary>The close status the server asked for first, if it asked for one.</summary>
    public WebSocketCloseStatus? CloseStatus
    {
        get
        {
            lock (this)
            {
                return _closeStatus;
            }
        }
    }

    internal ConnectionShared Shared => _shared;

    public void Touch() => Volatile.Write(ref _lastReceived, _shared.Time.GetTimestamp());

    /// <summary>Queues a frame; a client whose queue is full (frames or bytes) is disconnected.</summary>
    public bool TrySend(byte[] frame)
    {
        var schedule = false;
        var drop = false;
        lock (this)
        {
            if (_completed || _dropped || _closeStatus is not null)
            {
                return false;
            }

            if (_queuedBytes + frame.Length <= _shared.MaxQueuedBytes && _queuedFrames < _shared.MaxQueuedFrames)
            {
                Enqueue(frame);
                _queuedBytes += frame.Length;
                _queuedFrames++;
                schedule = !_writerScheduled;
                _writerScheduled = true;
            }
            else
            {
                _dropped = drop = true;
            }
        }

        if (schedule)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            return true;
        }

        if (!drop)
        {
            return true; // queued; the writer is already on its way
        }

        // Too slow: drop it now, it will catch up by after= on reconnect.
        Abort();
        LogSlowConsumer(_shared.Logger, Id, UserId);
        _shared.SlowConsumerDropped();
        return false;
    }

    /// <summary>Closes after the frames already queued have been written; a peer that never answers is cut off after 5 s.</summary>
    public void Close(WebSocketCloseStatus status, string reason)
    {
        lock (this)
        {
            if (_closeStatus is not null || _completed)
            {
                return;
            }

            _closeStatus = status;
            _closeReason = reason;
            _closeTimer = _shared.Time.CreateTimer(static state => ((Connection)state!).Abort(), this, ConnectionShared.CloseTimeout, Timeout.InfiniteTimeSpan);
        }

        ScheduleWriter();
    }

    /// <summary>The transport answers a ping with this payload (each ping its pong, up to 16 waiting; beyond, the latest only: RFC 6455 5.5.3).</summary>
    private protected void QueuePong(byte[] payload)
    {
        lock (this)
        {
            if (_completed || _closeWritten)
            {
                return;
            }

            _pongs ??= [];
            if (_pongs.Count >= 16)
            {
                _pongs.RemoveAt(_pongs.Count - 1);
            }

            _pongs.Add(payload);
        }

        ScheduleWriter();
    }

    /// <summary>
    /// The receive side ended: what is queued (and the close frame, if one was asked for) gets up to 5 s to
    /// leave; the task ends when the writer has stopped.
    /// </summary>
    public Task CompleteAsync()
    {
        Task done;
        lock (this)
        {
            _completed = true;
            _writerDone ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            done = _writerDone.Task;
            _closeTimer ??= _shared.Time.CreateTimer(static state => ((Connection)state!).Abort(), this, ConnectionShared.CloseTimeout, Timeout.InfiniteTimeSpan);
        }

        ScheduleWriter();
        return done;
    }

    /// <summary>Ends the connection at once (slow consumer, close timeout, shutdown).</summary>
    public abstract void Abort();

    /// <summary>Writes every frame of the batch (and the pongs first, if any) in as few socket writes as the transport allows.</summary>
    private protected abstract ValueTask WriteAsync(byte[][]? pongs, byte[][] frames, int count);

    /// <summary>Writes the close frame.</summary>
    private protected abstract ValueTask WriteCloseAsync(WebSocketCloseStatus status, string reason);

    /// <summary>Releases what the transport holds once the writer is done for good.</summary>
    private protected virtual void WriterStopped()
    {
    }

    void IThreadPoolWorkItem.Execute() => _ = DrainAsync();

    private void ScheduleWriter()
    {
        lock (this)
        {
            if (_writerScheduled)
            {
                return;
            }

            _writerScheduled = true;
        }

        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    private void Enqueue(byte[] frame)
    {
        if (_queue is null)
        {
            _queue = new byte[4][];
        }
        else if (_queueCount == _queue.Length)
        {
            Array.Resize(ref _queue, _queueCount * 2);
        }

        _queue[_queueCount++] = frame;
    }

    /// <summary>The writer: runs until the queue is empty, then lets the next frame schedule it again.</summary>
    private async Task DrainAsync()
    {
        try
        {
            while (true)
            {
                byte[][]? batch;
                int count;
                byte[][]? pong = null;
                WebSocketCloseStatus? close = null;
                string reason = "";
                lock (this)
                {
                    if (_dropped)
                    {
                        // Aborted: what is queued can no longer leave.
                        _queue = null;
                        _writing = null;
                        _queueCount = 0;
                        _writerScheduled = false;
                        Finish();
                        return;
                    }

                    if (_pongs is { Count: > 0 })
                    {
                        pong = [.. _pongs];
                        _pongs.Clear();
                    }

                    batch = _queue;
                    count = _queueCount;
                    if (count > 0)
                    {
                        // Swap: frames queued while this batch is written go to the other array.
                        _queue = _writing;
                        _writing = batch;
                        _queueCount = 0;
                    }
                    else if (pong is null)
                    {
                        if (_closeStatus is { } status && !_closeWritten && !_dropped)
                        {
                            close = status;
                            reason = _closeReason;
                            _closeWritten = true;
                        }
                        else
                        {
                            // Idle: one queue array is kept (it is empty), the other goes.
                            _queue ??= _writing;
                            _writing = null;
                            _writerScheduled = false;
                            if (_completed || _closeWritten || _dropped)
                            {
                                Finish();
                            }

                            return;
                        }
                    }
                }

                if (close is { } closeStatus)
                {
                    await WriteCloseAsync(closeStatus, reason);
                    continue;
                }

                if (count == 0)
                {
                    await WriteAsync(pong, [], 0);
                    continue;
                }

                await WriteAsync(pong, batch!, count);
                long bytes = 0;
                for (var i = 0; i < count; i++)
                {
                    bytes += batch![i].Length;
                    batch[i] = null!;
                }

                lock (this)
                {
                    _queuedBytes -= bytes;
                    _queuedFrames -= count;
                }

                _shared.FramesDelivered(count);
            }
        }
        catch (Exception e)
        {
            if (e is not (WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException))
            {
                LogWriterFailed(_shared.Logger, e, Id);
            }

            // The peer is gone (or the writer broke): the receive side ends too, and nothing waits on this writer.
            Abort();
            lock (this)
            {
                _dropped = true;
                _writerScheduled = false;
                _queue = null;
                _writing = null;
                _queueCount = 0;
                Finish();
            }
        }
    }

    /// <summary>Under the lock: the writer will not run again once the receive side has ended.</summary>
    private void Finish()
    {
        if (!_completed)
        {
            return;
        }

        _queue = null;
        _writing = null;
        _pongs = null;
        _closeTimer?.Dispose();
        _closeTimer = null;
        WriterStopped();
        _writerDone?.TrySetResult();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The writer of connection {ConnectionId} failed; the connection is dropped")]
    private static partial void LogWriterFailed(ILogger logger, Exception exception, long connectionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connection {ConnectionId} of user {UserId} dropped: its send queue was full (slow consumer)")]
    private static partial void LogSlowConsumer(ILogger logger, long connectionId, long userId);
}

/// <summary>What every connection shares (one object for all): limits, clock, metrics and logger.</summary>
public sealed class ConnectionShared(RealtimeOptions options, TimeProvider time, Action<int> framesDelivered, Action slowConsumerDropped, ILogger logger)
{
    /// <summary>How long a close handshake (or the last frames before it) may take before the connection is cut off.</summary>
    public static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    public TimeProvider Time { get; } = time;

    public int MaxQueuedFrames { get; } = Math.Max(1, options.SendQueueFrames);

    public long MaxQueuedBytes { get; } = Math.Max(ProtocolLimits.MaxFrameBytes, options.SendQueueBytes);

    public double FramesPerSecond { get; } = options.FramesPerSecond;

    public int FrameBurst { get; } = options.FrameBurst;

    public Action<int> FramesDelivered { get; } = framesDelivered;

    public Action SlowConsumerDropped { get; } = slowConsumerDropped;

    public ILogger Logger { get; } = logger;
}
