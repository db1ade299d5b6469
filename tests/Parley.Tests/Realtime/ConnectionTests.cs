using System.Net.WebSockets;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Protocol;
using Parley.Server.Realtime;

namespace Parley.Tests.Realtime;

/// <summary>The transport-neutral connection: one writer, frames queued together written together, bounded queue.</summary>
public sealed class ConnectionTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>A transport that records each write (a batch) and can hold a write open until released.</summary>
    private sealed class RecordingConnection(ConnectionShared shared) : Connection(shared, 1, 2)
    {
        private readonly Lock _gate = new();
        private readonly TaskCompletionSource _release = NewGate();

        public List<string[]> Batches { get; } = [];

        public List<int> Closes { get; } = [];

        public TaskCompletionSource FirstWrite { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Aborted { get; private set; }

        public void Release() => _release.TrySetResult();

        public override void Abort()
        {
            Aborted = true;
            Release();
        }

        private protected override async ValueTask WriteAsync(byte[][]? pongs, byte[][] frames, int count)
        {
            lock (_gate)
            {
                Batches.Add([.. (pongs ?? []).Select(p => "pong:" + System.Text.Encoding.UTF8.GetString(p)), .. frames.Take(count).Select(f => System.Text.Encoding.UTF8.GetString(f))]);
            }

            FirstWrite.TrySetResult();
            await _release.Task.WaitAsync(Wait);
        }

        private protected override ValueTask WriteCloseAsync(WebSocketCloseStatus status, string reason)
        {
            lock (_gate)
            {
                Closes.Add((int)status);
            }

            return ValueTask.CompletedTask;
        }

        private static TaskCompletionSource NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static (RecordingConnection Connection, Func<int> Dropped) New(int frames = 1024, int bytes = 4 * 1024 * 1024)
    {
        var dropped = 0;
        var shared = new ConnectionShared(
            new RealtimeOptions { SendQueueFrames = frames, SendQueueBytes = bytes },
            TimeProvider.System,
            _ => { },
            () => Interlocked.Increment(ref dropped),
            NullLogger.Instance);
        return (new RecordingConnection(shared), () => Volatile.Read(ref dropped));
    }

    private static byte[] Frame(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task Frames_queued_while_a_write_is_under_way_leave_in_the_next_write_together()
    {
        var (connection, _) = New();
        Assert.True(connection.TrySend(Frame("a")));
        await connection.FirstWrite.Task.WaitAsync(Wait);
        Assert.True(connection.TrySend(Frame("b")));
        Assert.True(connection.TrySend(Frame("c")));
        Assert.True(connection.TrySend(Frame("d")));
        connection.Release();
        await connection.CompleteAsync().WaitAsync(Wait);
        Assert.Equal([["a"], ["b", "c", "d"]], connection.Batches);
        Assert.Empty(connection.Closes);
    }

    [Fact]
    public async Task A_full_queue_drops_the_connection_once()
    {
        var (connection, dropped) = New(frames: 2);
        Assert.True(connection.TrySend(Frame("a")));
        await connection.FirstWrite.Task.WaitAsync(Wait);
        Assert.True(connection.TrySend(Frame("b"))); // two frames: one being written, one queued
        Assert.False(connection.TrySend(Frame("c")));
        Assert.False(connection.TrySend(Frame("d")));
        Assert.True(connection.Aborted);
        Assert.Equal(1, dropped());
        await connection.CompleteAsync().WaitAsync(Wait);
        Assert.DoesNotContain(connection.Batches, b => b.Contains("c"));
    }

    [Fact]
    public async Task A_full_byte_budget_drops_the_connection()
    {
        var (connection, dropped) = New(bytes: ProtocolLimits.MaxFrameBytes);
        Assert.True(connection.TrySend(new byte[ProtocolLimits.MaxFrameBytes - 10]));
        await connection.FirstWrite.Task.WaitAsync(Wait);
        Assert.False(connection.TrySend(new byte[11]));
        Assert.Equal(1, dropped());
        await connection.CompleteAsync().WaitAsync(Wait);
    }

    [Fact]
    public async Task A_close_follows_what_was_queued_before_it_and_nothing_after()
    {
        var (connection, _) = New();
        connection.Release();
        Assert.True(connection.TrySend(Frame("a")));
        connection.Close(CloseCodes.HeartbeatTimeout, "heartbeat timeout");
        Assert.False(connection.TrySend(Frame("late")));
        Assert.Equal(CloseCodes.HeartbeatTimeout, connection.CloseStatus);
        await connection.CompleteAsync().WaitAsync(Wait);
        Assert.Equal([["a"]], connection.Batches);
        Assert.Equal([4000], connection.Closes);
    }
}
