using System.Text;
using BenchmarkDotNet.Attributes;
using Parley.Protocol;

namespace Parley.Bench.Micro;

/// <summary><see cref="FrameParser.TryParse"/> of the frames a client sends most, as a client writes them.</summary>
[MemoryDiagnoser]
public class ParseBenchmarks
{
    private readonly byte[] _send = Encoding.UTF8.GetBytes(
        """{"type":"send","ref":"r-1f3a9c","conversationId":"121259871747178496","clientMsgId":"5b0c4e0e2d7f4a8c9e1f3a5b7c9d1e2f","msgType":"text","content":{"text":"on my way, see you at the station in ten minutes"}}""");

    private readonly byte[] _ack = Encoding.UTF8.GetBytes("""{"type":"ack","conversationId":"121259871747178496","seq":4711}""");

    private readonly byte[] _read = Encoding.UTF8.GetBytes("""{"type":"read","conversationId":"121259871747178496","seq":4711}""");

    private readonly byte[] _sync = Encoding.UTF8.GetBytes("""{"type":"sync","ref":17,"conversationId":"121259871747178496","afterSeq":4600,"limit":50}""");

    [Benchmark]
    public ClientFrame? Send() => Parse(_send);

    [Benchmark]
    public ClientFrame? Ack() => Parse(_ack);

    [Benchmark]
    public ClientFrame? Read() => Parse(_read);

    [Benchmark]
    public ClientFrame? Sync() => Parse(_sync);

    private static ClientFrame? Parse(byte[] json) =>
        FrameParser.TryParse(json, out var frame, out _) ? frame : throw new InvalidOperationException("the sample frame does not parse");
}
