using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Parley.Protocol;
using Parley.Server.Http;
using Parley.Server.Messaging;

namespace Parley.Bench.Micro;

/// <summary>The server's frames around one committed text message: the DTO serialized, then wrapped as a push and as an ack.</summary>
[MemoryDiagnoser]
public class FrameBenchmarks
{
    private readonly MessageDto _message = Samples.TextMessage();
    private byte[] _messageJson = [];

    [GlobalSetup]
    public void Setup() => _messageJson = JsonSerializer.SerializeToUtf8Bytes(_message, ParleyJson.Default.MessageDto);

    [Benchmark]
    public byte[] SerializeMessage() => JsonSerializer.SerializeToUtf8Bytes(_message, ParleyJson.Default.MessageDto);

    [Benchmark]
    public byte[] Message() => ServerFrames.Message(_messageJson);

    [Benchmark]
    public byte[] Sent() => ServerFrames.Sent("\"r-1f3a9c\"", _messageJson);

    /// <summary>What the commit path does per message today: serialize once, then both frames.</summary>
    [Benchmark]
    public int SerializeThenBoth()
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(_message, ParleyJson.Default.MessageDto);
        return ServerFrames.Message(json).Length + ServerFrames.Sent("\"r-1f3a9c\"", json).Length;
    }
}

internal static class Samples
{
    /// <summary>The same message as a committed row, as the post-commit route hands it to the fan-out.</summary>
    public static CommittedMessage CommittedText() => new(new Parley.Storage.Messaging.MessageRow
    {
        ConversationId = 121259871747178496,
        Seq = 4711,
        SenderId = 121259871751372800,
        ClientMsgId = "5b0c4e0e2d7f4a8c9e1f3a5b7c9d1e2f",
        Type = "text",
        Content = """{"text":"on my way, see you at the station in ten minutes"}""",
        SentAt = 1_796_000_000_000,
    });

    public static MessageDto TextMessage() => new(
        "121259871747178496",
        4711,
        "5b0c4e0e2d7f4a8c9e1f3a5b7c9d1e2f",
        "121259871751372800",
        "text",
        new RawJson("""{"text":"on my way, see you at the station in ten minutes"}"""),
        null,
        null,
        1_796_000_000_000,
        false);
}
