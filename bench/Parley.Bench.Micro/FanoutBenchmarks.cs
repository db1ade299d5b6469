using BenchmarkDotNet.Attributes;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Bench.Micro;

/// <summary>
/// <see cref="Fanout.MessageCommitted"/> of one message to a group of <see cref="Members"/> members, one connection
/// each: serialized once, queued on every connection, and written by each connection's writer. An operation ends
/// when every connection has written it, so a writer falling behind is measured, not hidden in a growing queue.
/// </summary>
[MemoryDiagnoser]
public class FanoutBenchmarks
{
    private readonly MessageDto _message = Samples.TextMessage();
    private LiveConnections _connections = null!;
    private Fanout _fanout = null!;

    [Params(100, 1000)]
    public int Members { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _connections = new LiveConnections(Members);
        _fanout = _connections.NewFanout();
    }

    [GlobalCleanup]
    public void Cleanup() => _connections.Dispose();

    [Benchmark]
    public void DeliverOne()
    {
        _connections.Expect(Members);
        _fanout.MessageCommitted(_message, _connections.MemberIds, null);
        _connections.WaitAllWritten();
    }
}
