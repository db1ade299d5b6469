using System.Text;
using System.Text.Json;
using Parley.Protocol;

namespace Parley.Tests.Protocol;

[Trait("Tier", "Unit")]
public sealed class FrameParserTests
{
    [Theory]
    [InlineData("""{"type":"send","ref":"r1","conversationId":"42","clientMsgId":"c-1","msgType":"text","content":{"text":"hi"},"replyTo":7,"mentions":["5","6"]}""")]
    [InlineData("""{"mentions":["5","6"],"replyTo":7,"content":{"text":"hi"},"msgType":"text","clientMsgId":"c-1","conversationId":"42","ref":"r1","type":"send"}""")]
    [InlineData("""  { "content" : { "text" : "hi" } , "type" : "send" , "clientMsgId" : "c-1" , "extra" : [1, {"type":"ping"}] , "ref" : "r1" , "conversationId" : "42" , "msgType" : "text" , "replyTo" : 7 , "mentions" : [ "5" , "6" ] }  """)]
    public void Send_parses_in_any_member_order(string json)
    {
        var send = Assert.IsType<SendFrame>(Parse(json));
        Assert.Equal("\"r1\"", send.RefJson);
        Assert.Equal(42, send.Command.ConversationId);
        Assert.Equal("c-1", send.Command.ClientMsgId);
        Assert.Equal("text", send.Command.MsgType);
        Assert.Equal(JsonValueKind.Object, send.Command.Content.ValueKind);
        Assert.Equal("hi", send.Command.Content.GetProperty("text").GetString());
        Assert.Equal(7, send.Command.ReplyTo);
        Assert.Equal([5L, 6L], send.Command.MentionIds);
        Assert.False(send.Command.MentionsAll);
        Assert.Equal("""["5","6"]""", send.Command.MentionsJson());
    }

    [Theory]
    [InlineData("""{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{}}""")]
    [InlineData("""{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"replyTo":null,"mentions":null}""")]
    public void Send_optional_members_may_be_absent_or_null(string json)
    {
        var send = Assert.IsType<SendFrame>(Parse(json));
        Assert.Null(send.RefJson);
        Assert.Null(send.Command.ReplyTo);
        Assert.Empty(send.Command.MentionIds);
        Assert.Null(send.Command.MentionsJson());
        Assert.Equal("{}", send.Command.Content.GetRawText());
    }

    [Fact]
    public void Send_accepts_every_limit_exactly()
    {
        var mentions = string.Join(",", Enumerable.Range(0, ProtocolLimits.MaxMentions).Select(_ => "\"9223372036854775807\""));
        var json = $$"""
            {"type":"send","conversationId":"9223372036854775807","clientMsgId":"{{new string('c', 64)}}",
             "msgType":"{{new string('t', 32)}}","content":{"a":[1,2,{"b":null}]},"replyTo":9223372036854775807,"mentions":[{{mentions}}]}
            """;
        var send = Assert.IsType<SendFrame>(Parse(json));
        Assert.Equal(long.MaxValue, send.Command.ConversationId);
        Assert.Equal(64, send.Command.ClientMsgId.Length);
        Assert.Equal(32, send.Command.MsgType.Length);
        Assert.Equal(long.MaxValue, send.Command.ReplyTo);
        Assert.Equal(ProtocolLimits.MaxMentions, send.Command.MentionIds.Count);
    }

    [Fact]
    public void Send_content_keeps_its_text_and_outlives_the_frame_buffer()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"custom","content":{ "x" : [1, 2.50, "\u00e9"] , "y":{"z":true}}}""");
        Assert.True(FrameParser.TryParse(bytes, out var frame, out _));
        Array.Fill(bytes, (byte)'#');

        var send = Assert.IsType<SendFrame>(frame);
        Assert.Equal("""{ "x" : [1, 2.50, "\u00e9"] , "y":{"z":true}}""", send.Command.Content.GetRawText());
        Assert.Equal("é", send.Command.Content.GetProperty("x")[2].GetString());
    }

    [Fact]
    public void Content_may_be_large()
    {
        var text = new string('x', 100_000);
        var send = Assert.IsType<SendFrame>(Parse($$$"""{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{"text":"{{{text}}}"}}"""));
        Assert.Equal(text, send.Command.Content.GetProperty("text").GetString());
    }

    [Theory]
    [InlineData("""{"type":"sync","ref":1,"conversationId":"42","afterSeq":0}""", 0L, null)]
    [InlineData("""{"afterSeq":17,"limit":200,"conversationId":"42","type":"sync","ref":1}""", 17L, 200)]
    [InlineData("""{"limit":1,"ref":1,"type":"sync","afterSeq":9223372036854775807,"conversationId":"42"}""", long.MaxValue, 1)]
    [InlineData("""{"type":"sync","ref":1,"conversationId":"42","afterSeq":3,"limit":null}""", 3L, null)]
    public void Sync_parses(string json, long afterSeq, int? limit)
    {
        var sync = Assert.IsType<SyncFrame>(Parse(json));
        Assert.Equal("1", sync.RefJson);
        Assert.Equal("42", sync.ConversationId);
        Assert.Equal(afterSeq, sync.AfterSeq);
        Assert.Equal(limit, sync.Limit);
    }

    [Theory]
    [InlineData("""{"type":"ack","conversationId":"5","seq":9}""")]
    [InlineData("""{"seq":9,"conversationId":"5","type":"ack","ref":"ignored"}""")]
    public void Ack_parses(string json) => Assert.Equal(new AckFrame("5", 9), Parse(json));

    [Theory]
    [InlineData("""{"type":"read","conversationId":"5","seq":0}""")]
    [InlineData("""{"seq":0,"type":"read","conversationId":"5"}""")]
    public void Read_parses(string json) => Assert.Equal(new ReadFrame("5", 0), Parse(json));

    [Theory]
    [InlineData("""{"type":"typing","conversationId":"5"}""")]
    [InlineData("""{"conversationId":"5","seq":"not a number, but typing has no seq","type":"typing"}""")]
    public void Typing_parses_and_ignores_members_it_does_not_use(string json) => Assert.Equal(new TypingFrame("5"), Parse(json));

    [Theory]
    [InlineData("""{"type":"ping"}""")]
    [InlineData("""{"ref":[1,2],"conversationId":7,"type":"ping","junk":{"deep":[[[]]]}}""")]
    [InlineData(""" {"\u0074ype" : "p\u0069ng"} """)]
    public void Ping_parses_to_the_single_instance(string json) => Assert.Same(PingFrame.Instance, Parse(json));

    [Theory]
    [InlineData("\"abc\"")]
    [InlineData("\"with \\\"quotes\\\", \\\\ and \\u00e9 escapes\"")]
    [InlineData("\"été ✓ 😀\"")]
    [InlineData("42")]
    [InlineData("-1.5e+3")]
    [InlineData("true")]
    [InlineData("null")]
    [InlineData("""{"a" : [1, {"b":null}], "c":"d"}""")]
    [InlineData("""[ 1 , "two" ]""")]
    public void Ref_is_echoed_byte_for_byte(string refJson)
    {
        var send = Assert.IsType<SendFrame>(Parse(
            $$$"""{"type":"send","ref":{{{refJson}}},"conversationId":"1","clientMsgId":"c","msgType":"text","content":{"text":"x"}}"""));
        Assert.Equal(refJson, send.RefJson);

        var sync = Assert.IsType<SyncFrame>(Parse($$"""{"conversationId":"1","afterSeq":0,"type":"sync","ref":{{refJson}}}"""));
        Assert.Equal(refJson, sync.RefJson);

        var error = Fail($$"""{"type":"sync","ref":{{refJson}},"conversationId":"x","afterSeq":0}""");
        Assert.Equal(refJson, error.RefJson);

        // And it goes back out exactly as it came in.
        var answer = Encoding.UTF8.GetString(ServerFrames.Error(error.RefJson, error.Code, error.Message));
        Assert.Contains("\"ref\":" + refJson + ",", answer, StringComparison.Ordinal);
    }

    public static TheoryData<string> InvalidFrames =>
    [
        // type
        """{}""",
        """{"type":7}""",
        """{"type":null}""",
        """{"type":["send"]}""",
        """{"Type":"ping"}""",
        // duplicates of a known member
        """{"type":"ping","type":"ping"}""",
        """{"type":"ack","conversationId":"1","seq":1,"seq":2}""",
        // ... and of any member of the content, at any depth, as on HTTP
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{"text":"a","text":"b"}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"custom","content":{"a":[{"x":1,"x":2}]}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"custom","content":{"a":{"b":{"x":1}},"c":{"x":1,"y":{},"x":2}}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"custom","content":{"x":1,"\u0078":2}}""", // escaped
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"custom","content":{"x":"\u00e9","x":2}}""", // an escaped value
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"custom","content":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}}""", // past the few
        // conversationId
        """{"type":"typing"}""",
        """{"type":"typing","conversationId":5}""",
        """{"type":"typing","conversationId":null}""",
        """{"type":"typing","conversationId":""}""",
        """{"type":"typing","conversationId":"abc"}""",
        """{"type":"typing","conversationId":"0"}""",
        """{"type":"typing","conversationId":"012"}""",
        """{"type":"typing","conversationId":"-1"}""",
        """{"type":"typing","conversationId":" 1"}""",
        """{"type":"typing","conversationId":"1.0"}""",
        """{"type":"typing","conversationId":"9223372036854775808"}""",
        """{"type":"typing","conversationId":"12345678901234567890"}""",
        """{"type":"typing","conversationId":"123456789012345678901"}""",
        // send: clientMsgId, msgType, content, replyTo, mentions
        """{"type":"send","conversationId":"1","msgType":"text","content":{}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"","msgType":"text","content":{}}""",
        """{"type":"send","conversationId":"1","clientMsgId":7,"msgType":"text","content":{}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"a\u0000b","msgType":"text","content":{}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"\ud800","msgType":"text","content":{}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","content":{}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"","content":{}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":{},"content":{}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text"}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":null}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":"hi"}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":["hi"]}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{"text":"a\u0000b"}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{"a\u0000":1}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{"x":[{"text":"\udc00"}]}}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"replyTo":0}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"replyTo":-3}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"replyTo":"5"}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"replyTo":1.5}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"replyTo":1e3}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"replyTo":9223372036854775808}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"mentions":"5"}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"mentions":[5]}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"mentions":[""]}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"mentions":[null]}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"mentions":[["5"]]}""",
        """{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"mentions":{"0":"5"}}""",
        // sync: afterSeq, limit
        """{"type":"sync","conversationId":"1"}""",
        """{"type":"sync","conversationId":"1","afterSeq":-1}""",
        """{"type":"sync","conversationId":"1","afterSeq":"1"}""",
        """{"type":"sync","conversationId":"1","afterSeq":1.5}""",
        """{"type":"sync","conversationId":"1","afterSeq":null}""",
        """{"type":"sync","conversationId":"1","afterSeq":9223372036854775808}""",
        """{"type":"sync","conversationId":"1","afterSeq":0,"limit":0}""",
        """{"type":"sync","conversationId":"1","afterSeq":0,"limit":201}""",
        """{"type":"sync","conversationId":"1","afterSeq":0,"limit":"10"}""",
        """{"type":"sync","conversationId":"1","afterSeq":0,"limit":2.5}""",
        """{"type":"sync","conversationId":"1","afterSeq":0,"limit":4294967296}""",
        // ack and read: seq
        """{"type":"ack","conversationId":"1"}""",
        """{"type":"ack","conversationId":"1","seq":-1}""",
        """{"type":"read","conversationId":"1","seq":"3"}""",
        """{"type":"read","conversationId":"1","seq":true}""",
        """{"type":"read","seq":3}""",
    ];

    [Theory]
    [MemberData(nameof(InvalidFrames))]
    public void Invalid_members_are_refused_with_the_ref_wherever_it_stands(string json)
    {
        const string refJson = """{"n":1}""";
        var body = json[1..^1];
        var separator = body.Length == 0 ? "" : ",";

        Assert.Equal(FrameError.Invalid, Fail(json).Code);
        Assert.Null(Fail(json).RefJson);

        var refFirst = Fail("{\"ref\":" + refJson + separator + body + "}");
        Assert.Equal(FrameError.Invalid, refFirst.Code);
        Assert.Equal(refJson, refFirst.RefJson);
        Assert.False(string.IsNullOrWhiteSpace(refFirst.Message));

        var refLast = Fail("{" + body + separator + "\"ref\":" + refJson + "}");
        Assert.Equal(FrameError.Invalid, refLast.Code);
        Assert.Equal(refJson, refLast.RefJson);
    }

    [Fact]
    public void Error_messages_name_the_member()
    {
        Assert.Contains("conversationId", Fail("""{"type":"typing"}""").Message, StringComparison.Ordinal);
        Assert.Contains("limit", Fail("""{"type":"sync","conversationId":"1","afterSeq":0,"limit":0}""").Message, StringComparison.Ordinal);
        Assert.Contains("seq", Fail("""{"type":"ack","conversationId":"1","seq":1,"seq":2}""").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_many_or_too_long_mentions_are_refused()
    {
        var many = string.Join(",", Enumerable.Range(0, ProtocolLimits.MaxMentions + 1).Select(i => $"\"{i + 1}\""));
        Assert.Equal(FrameError.Invalid, Fail($$"""{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"mentions":[{{many}}]}""").Code);
        Assert.Equal(FrameError.Invalid, Fail($$"""{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"mentions":["{{new string('1', 21)}}"]}""").Code);
        Assert.Equal(FrameError.Invalid, Fail($$$"""{"type":"send","conversationId":"1","clientMsgId":"{{{new string('c', 65)}}}","msgType":"text","content":{}}""").Code);
        Assert.Equal(FrameError.Invalid, Fail($$$"""{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"{{{new string('t', 33)}}}","content":{}}""").Code);
    }

    [Theory]
    [InlineData("""{"type":"nope","ref":"x"}""")]
    [InlineData("""{"ref":"x","type":"Send"}""")]
    [InlineData("""{"ref":"x","type":"","conversationId":false}""")]
    [InlineData("""{"ref":"x","type":"sent"}""")]
    public void An_unknown_type_is_reported_as_such(string json)
    {
        var error = Fail(json);
        Assert.Equal(FrameError.UnknownType, error.Code);
        Assert.Equal("\"x\"", error.RefJson);
    }

    public static TheoryData<string> Malformed =>
    [
        "",
        " ",
        "{",
        "}",
        "[",
        "[]",
        "[{\"type\":\"ping\"}]",
        "1",
        "-0.5e10",
        "\"ping\"",
        "null",
        "true",
        "{\"type\":\"ping\"}{}",
        "{\"type\":\"ping\"} x",
        "{\"type\":\"ping\"},",
        "{\"type\":\"ping\",}",
        "{'type':'ping'}",
        "{type:\"ping\"}",
        "{\"type\":\"ping\"",
        "{\"type\":\"pi",
        "{\"type\":\"ping\" /* c */}",
        "{\"type\":\"ping\"} // c",
        "{\"type\":\"ack\",\"conversationId\":\"1\",\"seq\":NaN}",
        "{\"type\":\"ack\",\"conversationId\":\"1\",\"seq\":01}",
        "{\"type\":\"ack\",\"conversationId\":\"1\",\"seq\":+1}",
        "{\"type\":\"ack\",\"conversationId\":\"1\",\"seq\":1e400}",
        "{\"type\":\"ack\",\"conversationId\":\"1\",\"seq\":123456789012345678901234567890123456789}",
        "{\"type\":\"ping\",\"x\":\"tab\there\"}",
        "{\"type\":\"ping\",\"x\":\"\\q\"}",
        "{\"type\":\"ping\",\"x\":\"\\u12\"}",
        "\uFEFF{\"type\":\"ping\"}",
        new string('[', 100_000),
        new string('[', 100) + new string(']', 100),
        "{\"type\":\"ping\",\"x\":" + string.Concat(Enumerable.Repeat("{\"a\":", 1000)) + "1" + new string('}', 1000) + "}",
    ];

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_or_non_object_input_is_invalid(string input)
    {
        var error = Fail(input);
        Assert.Equal(FrameError.Invalid, error.Code);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void Bytes_that_are_not_UTF8_are_invalid()
    {
        byte[][] inputs =
        [
            [0xFF],
            [.. "{\"type\":\"ping\",\"x\":\""u8, 0xC3, .. "\"}"u8],
            [.. "{\"type\":\"ping\",\"x\":\""u8, 0xED, 0xA0, 0x80, .. "\"}"u8],
            [.. "{\"ref\":\""u8, 0xF8, .. "\",\"type\":\"nope\"}"u8],
        ];
        foreach (var input in inputs)
        {
            Assert.False(FrameParser.TryParse(input, out var frame, out var error));
            Assert.Null(frame);
            Assert.Equal(FrameError.Invalid, error.Code);
        }
    }

    [Theory]
    [InlineData("""{"ref":"r","type":"send","content":{""", "\"r\"")]
    [InlineData("""{"ref":{"id":1},"type":"ping",}""", """{"id":1}""")]
    [InlineData("""{"ref":5,"type":"ping"} trailing""", "5")]
    [InlineData("""{"type":"ping","ref":"r"}{}""", "\"r\"")]
    public void Malformed_json_still_gives_the_ref_found_before_the_damage(string input, string refJson)
    {
        var error = Fail(input);
        Assert.Equal(FrameError.Invalid, error.Code);
        Assert.Equal(refJson, error.RefJson);
    }

    [Fact]
    public void Random_mutations_never_throw_and_keep_the_result_consistent()
    {
        string[] seeds =
        [
            """{"type":"send","ref":{"k":[1,"2"]},"conversationId":"42","clientMsgId":"c-1","msgType":"text","content":{"text":"hi \u00e9","n":[1,2.5,null,true]},"replyTo":7,"mentions":["5","6"]}""",
            """{"type":"sync","ref":"s","conversationId":"42","afterSeq":10,"limit":50}""",
            """{"type":"ack","conversationId":"42","seq":9}""",
            """{"type":"read","conversationId":"42","seq":9}""",
            """{"type":"typing","conversationId":"42"}""",
            """{"type":"ping"}""",
        ];
        byte[] alphabet = [.. "{}[]\":,\\0123456789-+.eEtrufalsn \tabc\u0000"u8, 0x80, 0xC3, 0xFF];
        var random = new Random(20240611);
        var parsed = 0;

        for (var i = 0; i < 2_000; i++)
        {
            var bytes = new List<byte>(Encoding.UTF8.GetBytes(seeds[random.Next(seeds.Length)]));
            for (var edits = random.Next(1, 4); edits > 0 && bytes.Count > 0; edits--)
            {
                var at = random.Next(bytes.Count);
                switch (random.Next(5))
                {
                    case 0:
                        bytes[at] = alphabet[random.Next(alphabet.Length)];
                        break;
                    case 1:
                        bytes.RemoveRange(at, random.Next(1, Math.Min(8, bytes.Count - at) + 1));
                        break;
                    case 2:
                        bytes.Insert(at, alphabet[random.Next(alphabet.Length)]);
                        break;
                    case 3:
                        bytes.InsertRange(at, bytes.GetRange(at, Math.Min(random.Next(1, 16), bytes.Count - at)));
                        break;
                    default:
                        bytes.RemoveRange(at, bytes.Count - at);
                        break;
                }
            }

            var input = bytes.ToArray();
            if (FrameParser.TryParse(input, out var frame, out var error))
            {
                parsed++;
                Assert.Equal(default, error);
                if (frame is SendFrame send)
                {
                    Assert.Equal(JsonValueKind.Object, send.Command.Content.ValueKind);
                }
            }
            else
            {
                Assert.Null(frame);
                Assert.Contains(error.Code, new[] { FrameError.Invalid, FrameError.UnknownType });
                Assert.False(string.IsNullOrWhiteSpace(error.Message));
            }

            // Whatever ref came out is valid JSON that the server can echo.
            var refJson = (frame as SendFrame)?.RefJson ?? (frame as SyncFrame)?.RefJson ?? error.RefJson;
            if (refJson is not null)
            {
                using var _ = JsonDocument.Parse(refJson);
                Assert.NotEmpty(ServerFrames.Error(refJson, "invalid", "x"));
            }
        }

        // Some mutations (inside strings, extra whitespace) leave a valid frame: the fuzz covers both outcomes.
        Assert.InRange(parsed, 1, 1_999);
    }

    [Fact]
    public void The_same_member_name_in_sibling_objects_of_the_content_is_no_repetition()
    {
        var send = Assert.IsType<SendFrame>(Parse("""{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"custom","content":{"a":[{"x":1},{"x":2}],"x":{"x":3}}}"""));
        Assert.Equal(3, send.Command.Content.GetProperty("x").GetProperty("x").GetInt32());
        var many = string.Join(",", Enumerable.Range(0, 40).Select(i => $"\"k{i}\":{{\"k{i}\":{i}}}"));
        send = Assert.IsType<SendFrame>(Parse("""{"type":"send","conversationId":"1","clientMsgId":"c","msgType":"custom","content":{""" + many + "}}"));
        Assert.Equal(39, send.Command.Content.GetProperty("k39").GetProperty("k39").GetInt32());
    }

    [Theory]
    [InlineData("text")]
    [InlineData("custom")]
    [InlineData("t\\u0065xt")]
    [InlineData("Text")]
    [InlineData("sticker")]
    public void Send_reads_its_message_type_and_conversation_however_they_are_spelled(string msgType)
    {
        var send = Assert.IsType<SendFrame>(Parse(Frame("\\u0034\\u0032", msgType)));
        Assert.Equal(System.Text.Json.JsonDocument.Parse($"\"{msgType}\"").RootElement.GetString(), send.Command.MsgType);
        Assert.Equal(42, send.Command.ConversationId);
        Assert.Equal(42, Assert.IsType<SendFrame>(Parse(Frame("42", msgType))).Command.ConversationId);

        static string Frame(string conversationId, string msgType) =>
            "{\"type\":\"send\",\"conversationId\":\"" + conversationId + "\",\"clientMsgId\":\"c\",\"msgType\":\"" + msgType + "\",\"content\":{}}";
    }

    private static ClientFrame Parse(string json)
    {
        var ok = FrameParser.TryParse(Encoding.UTF8.GetBytes(json), out var frame, out var error);
        Assert.True(ok, $"{error.Code}: {error.Message}");
        Assert.Equal(default, error);
        return frame!;
    }

    private static FrameError Fail(string json)
    {
        Assert.False(FrameParser.TryParse(Encoding.UTF8.GetBytes(json), out var frame, out var error));
        Assert.Null(frame);
        return error;
    }
}
