using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics.Metrics;
using Parley.Server.Operations;
using Parley.Server.Realtime;

namespace Parley.Bench.Micro;

/// <summary>
/// Registered connections, one per member, each with its writer running over a WebSocket on
/// <see cref="Stream.Null"/>: everything the server does per recipient but the kernel's send. The only file that
/// knows how a <see cref="Connection"/> is built, so a new transport changes this file alone.
/// </summary>
internal sealed class LiveConnections : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Connection> _all = [];
    private readonly List<Task> _writers = [];
    private readonly ServiceProvider _services;
    private readonly ManualResetEventSlim _written = new();
    private int _remaining;

    public LiveConnections(int members)
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        Registry = new ConnectionRegistry();
        var ids = new long[members];
        for (var i = 0; i < members; i++)
        {
            ids[i] = 1_000_000 + i;
            var socket = WebSocket.CreateFromStream(Stream.Null, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
            var connection = new Connection(socket, ids[i], ids[i], 1024, 4 * 1024 * 1024, new CancellationTokenSource())
            {
                FrameWritten = OnWritten,
            };
            Registry.Add(connection);
            _all.Add(connection);
            _writers.Add(Task.Run(() => connection.RunWriterAsync(_stop.Token)));
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
        foreach (var connection in _all)
        {
            connection.Complete();
        }

        _stop.Cancel();
        Task.WhenAll(_writers).Wait(TimeSpan.FromSeconds(10));
        _services.Dispose();
        _written.Dispose();
        _stop.Dispose();
    }

    private void OnWritten()
    {
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _written.Set();
        }
    }
}
