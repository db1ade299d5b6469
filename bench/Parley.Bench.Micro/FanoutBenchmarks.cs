using BenchmarkDotNet.Attributes;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Bench.Micro;

/// <summary>
/// <see cref="Fanout.Message"/> of one committed message to a group of <see cref="Members"/> members, one connection
/// each: serialized once, queued on every connection, and written by each connection's writer. An operation ends
/// when every connection has written it, so a writer falling behind is measured, not hidden in a growing queue.
/// </summary>
[MemoryDiagnoser]
public class FanoutBenchmarks
{
    private readonly CommittedMessage _message = Samples.CommittedText();
    private (long UserId, long JoinedSeq)[] _members = [];
    private LiveConnections _connections = null!;
    private Fanout _fanout = null!;

    [Params(100, 1000)]
    public int Members { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _connections = new LiveConnections(Members);
        _fanout = _connections.NewFanout();
        _members = _connections.MemberIds.Select(id => (id, 0L)).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _connections.Dispose();

    [Benchmark]
    public void DeliverOne()
    {
        _connections.Expect(Members);
        _fanout.Message(_message, _members, null);
        _connections.WaitAllWritten();
    }
}
