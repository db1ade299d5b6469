using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Parley.Protocol;

namespace Parley.Tests.Protocol;

[Trait("Tier", "Unit")]
public sealed class ServerFramesTests
{
    // Deliberately unusual spacing and escapes: the frame must carry these bytes exactly as they are.
    private const string MessageJson =
        """{"conversationId":"42", "seq":7 ,"clientMsgId":"c-1","senderId":"5","type":"text","content":{"text":"h\u00e9 <b>"},"replyTo":null,"mentions":[],"sentAt":1700000000000,"recalled":false}""";

    [Fact]
    public void Hello()
    {
        using var doc = Parse(ServerFrames.Hello("5", "9", 1_700_000_000_123, 30_000), "hello", 5);
        var root = doc.RootElement;
        Assert.Equal("5", root.GetProperty("userId").GetString());
        Assert.Equal("9", root.GetProperty("deviceId").GetString());
        Assert.Equal(1_700_000_000_123, root.GetProperty("serverTime").GetInt64());
        Assert.Equal(30_000, root.GetProperty("heartbeatMs").GetInt32());
    }

    [Fact]
    public void Pong_is_one_shared_frame()
    {
        Assert.Equal("""{"type":"pong"}""", Encoding.UTF8.GetString(ServerFrames.Pong()));
        Assert.Same(ServerFrames.Pong(), ServerFrames.Pong());
    }

    [Theory]
    [InlineData("\"r-1\"")]
    [InlineData("17")]
    [InlineData("""{"a" : [1, "b"]}""")]
    public void Sent_echoes_the_ref_and_embeds_the_message_verbatim(string refJson)
    {
        var bytes = ServerFrames.Sent(refJson, Encoding.UTF8.GetBytes(MessageJson));
        Assert.Equal("""{"type":"sent","ref":""" + refJson + ""","message":""" + MessageJson + "}", Encoding.UTF8.GetString(bytes));

        using var doc = Parse(bytes, "sent", 3);
        Assert.Equal(refJson, doc.RootElement.GetProperty("ref").GetRawText());
        Assert.Equal(7, doc.RootElement.GetProperty("message").GetProperty("seq").GetInt64());
    }

    [Fact]
    public void A_missing_ref_is_left_out()
    {
        using var sent = Parse(ServerFrames.Sent(null, Encoding.UTF8.GetBytes(MessageJson)), "sent", 2);
        Assert.False(sent.RootElement.TryGetProperty("ref", out _));

        using var error = Parse(ServerFrames.Error(null, "invalid", "bad"), "error", 3);
        Assert.False(error.RootElement.TryGetProperty("ref", out _));
    }

    [Fact]
    public void Error_escapes_its_strings()
    {
        const string message = "bad \"x\" \\ é <script> \n end";
        using var doc = Parse(ServerFrames.Error("null", "not_found", message), "error", 4);
        var root = doc.RootElement;
        Assert.Equal(JsonValueKind.Null, root.GetProperty("ref").ValueKind);
        Assert.Equal("not_found", root.GetProperty("code").GetString());
        Assert.Equal(message, root.GetProperty("message").GetString());
    }

    [Fact]
    public void Messages_embeds_each_item()
    {
        ReadOnlyMemory<byte>[] items = [Encoding.UTF8.GetBytes(MessageJson), Encoding.UTF8.GetBytes("""{"seq":8}""")];
        var bytes = ServerFrames.Messages("\"s\"", "42", items, hasMore: true, maxSeq: 99);
        Assert.Contains("\"items\":[" + MessageJson + ",{\"seq\":8}]", Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);

        using var doc = Parse(bytes, "messages", 6);
        var root = doc.RootElement;
        Assert.Equal("\"s\"", root.GetProperty("ref").GetRawText());
        Assert.Equal("42", root.GetProperty("conversationId").GetString());
        Assert.Equal(2, root.GetProperty("items").GetArrayLength());
        Assert.Equal(8, root.GetProperty("items")[1].GetProperty("seq").GetInt64());
        Assert.True(root.GetProperty("hasMore").GetBoolean());
        Assert.Equal(99, root.GetProperty("maxSeq").GetInt64());
    }

    [Fact]
    public void Messages_with_no_items()
    {
        using var doc = Parse(ServerFrames.Messages(null, "42", [], hasMore: false, maxSeq: 0), "messages", 5);
        Assert.Equal(0, doc.RootElement.GetProperty("items").GetArrayLength());
        Assert.False(doc.RootElement.GetProperty("hasMore").GetBoolean());
    }

    [Fact]
    public void Message_push_embeds_the_message_verbatim()
    {
        var bytes = ServerFrames.Message(Encoding.UTF8.GetBytes(MessageJson));
        Assert.Equal("""{"type":"message","message":""" + MessageJson + "}", Encoding.UTF8.GetString(bytes));
        using var _ = Parse(bytes, "message", 2);
    }

    [Fact]
    public void Recalled()
    {
        using var doc = Parse(ServerFrames.Recalled("42", 7, "5"), "recalled", 4);
        Assert.Equal("42", doc.RootElement.GetProperty("conversationId").GetString());
        Assert.Equal(7, doc.RootElement.GetProperty("seq").GetInt64());
        Assert.Equal("5", doc.RootElement.GetProperty("by").GetString());
    }

    [Fact]
    public void Read()
    {
        using var doc = Parse(ServerFrames.Read("42", "5", 12), "read", 4);
        Assert.Equal("42", doc.RootElement.GetProperty("conversationId").GetString());
        Assert.Equal("5", doc.RootElement.GetProperty("userId").GetString());
        Assert.Equal(12, doc.RootElement.GetProperty("seq").GetInt64());
    }

    [Fact]
    public void Typing()
    {
        using var doc = Parse(ServerFrames.Typing("42", "5"), "typing", 3);
        Assert.Equal("42", doc.RootElement.GetProperty("conversationId").GetString());
        Assert.Equal("5", doc.RootElement.GetProperty("userId").GetString());
    }

    [Fact]
    public void Presence_writes_lastSeenAt_as_a_number_or_null()
    {
        using var offline = Parse(ServerFrames.Presence("5", online: false, lastSeenAt: 1_700_000_000_000), "presence", 4);
        Assert.Equal("5", offline.RootElement.GetProperty("userId").GetString());
        Assert.False(offline.RootElement.GetProperty("online").GetBoolean());
        Assert.Equal(1_700_000_000_000, offline.RootElement.GetProperty("lastSeenAt").GetInt64());

        using var online = Parse(ServerFrames.Presence("5", online: true, lastSeenAt: null), "presence", 4);
        Assert.True(online.RootElement.GetProperty("online").GetBoolean());
        Assert.Equal(JsonValueKind.Null, online.RootElement.GetProperty("lastSeenAt").ValueKind);
    }

    [Fact]
    public void Notify()
    {
        using var data = JsonDocument.Parse("""{"groupId":"8","name":"Chess é","tags":["a"]}""");
        using var doc = Parse(ServerFrames.Notify("group.updated", data.RootElement), "notify", 3);
        Assert.Equal("group.updated", doc.RootElement.GetProperty("kind").GetString());
        var written = doc.RootElement.GetProperty("data");
        Assert.Equal("8", written.GetProperty("groupId").GetString());
        Assert.Equal("Chess é", written.GetProperty("name").GetString());
        Assert.Equal("a", written.GetProperty("tags")[0].GetString());
    }

    [Fact]
    public void A_broken_raw_message_fails_loudly_and_the_next_frame_is_still_right()
    {
        Assert.ThrowsAny<JsonException>(() => ServerFrames.Message("""{"seq":"""u8));
        Assert.ThrowsAny<JsonException>(() => ServerFrames.Sent("{", """{"seq":1}"""u8));
        Assert.Equal("""{"type":"typing","conversationId":"1","userId":"2"}""", Encoding.UTF8.GetString(ServerFrames.Typing("1", "2")));
    }

    [Fact]
    public void Big_frames_then_small_ones()
    {
        var big = Encoding.UTF8.GetBytes($$"""{"text":"{{new string('x', 300_000)}}"}""");
        Assert.Equal(big.Length + """{"type":"message","message":}""".Length, ServerFrames.Message(big).Length);
        Assert.Equal("""{"type":"typing","conversationId":"1","userId":"2"}""", Encoding.UTF8.GetString(ServerFrames.Typing("1", "2")));
    }

    [Fact]
    public void Frames_built_on_many_threads_at_once_stay_separate()
    {
        Parallel.For(0, 2_000, i =>
        {
            var expected = $$"""{"type":"recalled","conversationId":"{{i + 1}}","seq":{{i}},"by":"{{i % 7 + 1}}"}""";
            var frame = ServerFrames.Recalled((i + 1).ToString(CultureInfo.InvariantCulture), i, (i % 7 + 1).ToString(CultureInfo.InvariantCulture));
            Assert.Equal(expected, Encoding.UTF8.GetString(frame));
        });
    }

    [Fact]
    public void Parser_error_answers_echo_the_client_ref()
    {
        var input = """{"ref":{"tab":"x" , "n":[1.50]},"type":"sync","conversationId":"1","afterSeq":-1}"""u8;
        Assert.False(FrameParser.TryParse(input, out _, out var error));
        var answer = Encoding.UTF8.GetString(ServerFrames.Error(error.RefJson, error.Code, error.Message));
        Assert.StartsWith("""{"type":"error","ref":{"tab":"x" , "n":[1.50]},"code":"invalid","message":""", answer, StringComparison.Ordinal);
    }

    [Fact]
    public void Constants_match_the_contract()
    {
        Assert.Equal(4000, (int)CloseCodes.HeartbeatTimeout);
        Assert.Equal(4001, (int)CloseCodes.SessionRevoked);
        Assert.Equal(4008, (int)CloseCodes.RateLimited);
        Assert.Equal(1009, (int)CloseCodes.MessageTooBig);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, CloseCodes.MessageTooBig);
        Assert.Equal(128 * 1024, ProtocolLimits.MaxFrameBytes);
    }

    /// <summary>Parses a frame and checks it is one object with the right type and number of members (type included).</summary>
    private static JsonDocument Parse(byte[] frame, string type, int members)
    {
        var doc = JsonDocument.Parse(frame);
        Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        Assert.Equal(type, doc.RootElement.GetProperty("type").GetString());
        Assert.Equal(members, doc.RootElement.EnumerateObject().Count());
        return doc;
    }
}
