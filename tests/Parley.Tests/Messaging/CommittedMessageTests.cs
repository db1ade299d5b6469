using System.Text.Json;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Storage.Messaging;

namespace Parley.Tests.Messaging;

/// <summary>The message JSON written straight from the row is byte for byte what the contract's serializer writes.</summary>
public sealed class CommittedMessageTests
{
    public static TheoryData<string?, string?, long?, long?> Rows => new()
    {
        { """{"text":"hi"}""", null, null, null },
        { """{"text":"<b>&'\"é 😀 \u2028"}""", """["5","6"]""", 3, null },
        { null, """["all"]""", null, 1_700_000_000_000 },
        { """{"a":[1,2.5,{"b":null}],"c":true}""", "[]", long.MaxValue, null },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void Json_matches_the_contract_serializer(string? content, string? mentions, long? replyTo, long? recalledAt)
    {
        var row = new MessageRow
        {
            ConversationId = 9_223_372_036_854_775_807,
            Seq = 42,
            SenderId = 1,
            ClientMsgId = "c-\"<é>\u0001",
            Type = "text",
            Content = content,
            ReplyTo = replyTo,
            Mentions = mentions,
            SentAt = 1_700_000_000_123,
            RecalledAt = recalledAt,
        };
        var expected = JsonSerializer.SerializeToUtf8Bytes(MessagingService.ToDto(row), ParleyJson.Default.MessageDto);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(expected), System.Text.Encoding.UTF8.GetString(new CommittedMessage(row).Json.Span));
        var once = new CommittedMessage(row);
        Assert.Same(once.MessageFrame, once.MessageFrame); // serialized once, then shared
        Assert.True(once.Json.Span.Overlaps(once.MessageFrame)); // the JSON is the frame's, not a copy
        // The push is exactly the frame the protocol's own builder writes for this JSON.
        Assert.Equal(System.Text.Encoding.UTF8.GetString(Parley.Protocol.ServerFrames.Message(expected)), System.Text.Encoding.UTF8.GetString(once.MessageFrame));
    }
}
