using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using System.Diagnostics.Metrics;
using Parley.Server.Operations;
using Parley.Server.Realtime;

namespace Parley.Bench.Micro;

/// <summary>
/// Registered connections, one per member, each the stock transport's connection over a WebSocket on
/// <see cref="Stream.Null"/> (its writer is scheduled when a frame is queued): everything the server does per
/// recipient but the kernel's send. The only file that
/// knows how a <see cref="Connection"/> is built, so a new transport changes this file alone.
/// </summary>
internal sealed class LiveConnections : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Connection> _all = [];
    private readonly ServiceProvider _services;
    private readonly ManualResetEventSlim _written = new();
    private int _remaining;

    public LiveConnections(int members)
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        Registry = new ConnectionRegistry();
        var options = new RealtimeOptions { SendQueueFrames = 1024, SendQueueBytes = 4 * 1024 * 1024 };
        var shared = new ConnectionShared(options, TimeProvider.System, OnWritten, static () => { }, NullLogger.Instance);
        var ids = new long[members];
        for (var i = 0; i < members; i++)
        {
            ids[i] = 1_000_000 + i;
            var socket = WebSocket.CreateFromStream(Stream.Null, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
            var connection = new WebSocketConnection(socket, shared, ids[i], ids[i]);
            Registry.Add(connection);
            _all.Add(connection);
        }

        MemberIds = ids;
    }

    public ConnectionRegistry Registry { get; }

    public IReadOnlyList<long> MemberIds { get; }

    public Fanout NewFanout() =>
        new(Registry, TimeProvider.System, new ParleyMetrics(_services.GetRequiredService<IMeterFactory>(), Registry));

    /// <summary>Arms the wait for <paramref name="frames"/> written frames (one operation's).</summary>
    public void Expect(int frames)
    {
        _written.Reset();
        Volatile.Write(ref _remaining, frames);
    }

    public void WaitAllWritten()
    {
        if (!_written.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException($"{Volatile.Read(ref _remaining)} connections did not write the frame");
        }
    }

    public void Dispose()
    {
        Task.WhenAll(_all.Select(c => c.CompleteAsync())).Wait(TimeSpan.FromSeconds(10));
        _stop.Cancel();
        _services.Dispose();
        _written.Dispose();
        _stop.Dispose();
    }

    private void OnWritten(int frames)
    {
        if (Interlocked.Add(ref _remaining, -frames) == 0)
        {
            _written.Set();
        }
    }
}
