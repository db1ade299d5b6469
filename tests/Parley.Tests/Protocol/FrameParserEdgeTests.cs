using System.Text;
using Parley.Protocol;

namespace Parley.Tests.Protocol;

/// <summary>
/// The parser's edges on the frames besides <c>send</c> (whose shape the sender work changes): repeated
/// members however they are spelled, numbers past 64 bits, every wrong type, and the <c>ref</c> echoed exactly.
/// </summary>
[Trait("Tier", "Unit")]
public sealed class FrameParserEdgeTests
{
    [Theory]
    [InlineData("""{"type":"sync","conversationId":"1","conversationId":"1","afterSeq":0}""")]
    [InlineData("""{"type":"sync","conversationId":"1","afterSeq":0,"afterSeq":0}""")]
    [InlineData("""{"type":"sync","conversationId":"1","afterSeq":0,"limit":5,"limit":null}""")]
    [InlineData("""{"type":"read","conversationId":"1","seq":1,"seq":1}""")]
    [InlineData("""{"type":"typing","conversationId":"1","conversationId":"2"}""")]
    [InlineData("""{"type":"ping","type":"ack","conversationId":"1","seq":1}""")]
    [InlineData("""{"type":"ack","conversationId":"1","seq":1,"s\u0065q":2}""")] // the same name, escaped
    [InlineData("""{"\u0074\u0079\u0070\u0065":"ping","type":"ping"}""")]
    [InlineData("""{"type":"typing","conversationId":"1","seq":1,"seq":2}""")] // repeated even where this type does not use it
    public void A_member_given_twice_is_refused_however_it_is_spelled(string json)
    {
        var error = Fail(json);
        Assert.Equal(FrameError.Invalid, error.Code);
        Assert.Contains("more than once", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_ref_given_twice_is_refused_and_the_first_is_echoed()
    {
        var error = Fail("""{"ref":"first","type":"ping","ref":"second"}""");
        Assert.Equal(FrameError.Invalid, error.Code);
        Assert.Equal("\"first\"", error.RefJson);
    }

    [Fact]
    public void Members_a_frame_does_not_know_may_repeat()
    {
        Assert.Equal(new TypingFrame("1"), Parse("""{"type":"typing","conversationId":"1","x":1,"x":2,"TYPE":"ack","Type":"sync"}"""));
    }

    [Theory]
    [InlineData("9223372036854775807", true)]
    [InlineData("0", true)]
    [InlineData("9223372036854775808", false)]
    [InlineData("18446744073709551616", false)]
    [InlineData("99999999999999999999999999999999999999999999999999", false)]
    [InlineData("-9223372036854775809", false)]
    [InlineData("-1", false)]
    [InlineData("1e19", false)]
    [InlineData("1e0", false)]
    [InlineData("1.0", false)]
    [InlineData("10E-1", false)]
    [InlineData("0.0", false)]
    [InlineData("-0", true)] // JSON's minus zero is the number zero
    public void Seqs_are_whole_numbers_of_64_bits(string number, bool ok)
    {
        foreach (var type in new[] { "ack", "read" })
        {
            var json = $$"""{"type":"{{type}}","conversationId":"1","seq":{{number}}}""";
            if (ok)
            {
                var frame = Parse(json);
                Assert.Equal(long.Parse(number, System.Globalization.CultureInfo.InvariantCulture), frame is AckFrame ack ? ack.Seq : ((ReadFrame)frame).Seq);
            }
            else
            {
                Assert.Equal(FrameError.Invalid, Fail(json).Code);
            }
        }

        var sync = $$"""{"type":"sync","conversationId":"1","afterSeq":{{number}}}""";
        Assert.Equal(ok, FrameParser.TryParse(Encoding.UTF8.GetBytes(sync), out _, out _));
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("200", true)]
    [InlineData("201", false)]
    [InlineData("2147483648", false)]
    [InlineData("9223372036854775808", false)]
    [InlineData("-1", false)]
    [InlineData("1.0", false)]
    [InlineData("1e2", false)]
    public void A_sync_limit_is_1_to_200(string number, bool ok) =>
        Assert.Equal(ok, FrameParser.TryParse(Encoding.UTF8.GetBytes($$"""{"type":"sync","conversationId":"1","afterSeq":0,"limit":{{number}}}"""), out _, out _));

    public static TheoryData<string> WrongTypes()
    {
        var data = new TheoryData<string>();
        string[] notAString = ["1", "true", "false", "null", "{}", "[]", """["1"]""", """{"id":"1"}"""];
        string[] notANumber = ["\"1\"", "\"\"", "true", "null", "{}", "[]", "[1]", """{"seq":1}"""];
        foreach (var value in notAString)
        {
            data.Add($$"""{"type":"ack","conversationId":{{value}},"seq":1}""");
            data.Add($$"""{"type":"read","conversationId":{{value}},"seq":1}""");
            data.Add($$"""{"type":"typing","conversationId":{{value}}}""");
            data.Add($$"""{"type":"sync","conversationId":{{value}},"afterSeq":0}""");
        }

        foreach (var value in notANumber)
        {
            data.Add($$"""{"type":"ack","conversationId":"1","seq":{{value}}}""");
            data.Add($$"""{"type":"read","conversationId":"1","seq":{{value}}}""");
            data.Add($$"""{"type":"sync","conversationId":"1","afterSeq":{{value}}}""");
            if (value != "null")
            {
                data.Add($$"""{"type":"sync","conversationId":"1","afterSeq":0,"limit":{{value}}}"""); // null is "the default page"
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(WrongTypes))]
    public void A_member_of_the_wrong_type_is_refused_and_named(string json)
    {
        var error = Fail(json);
        Assert.Equal(FrameError.Invalid, error.Code);
        Assert.Matches("conversationId|seq|afterSeq|limit", error.Message);
    }

    [Theory]
    [InlineData("\"}\"")]
    [InlineData("\"\\\"ref\\\":\\\"x\\\",\\\"type\\\":\\\"ping\\\"\"")]
    [InlineData("\"a,b:c{[\"")]
    [InlineData("[ 1 , [ 2 , { \"ref\" : 3 } ] ]")]
    [InlineData("{\"ref\":{\"ref\":null}}")]
    [InlineData("1.5E-300")]
    [InlineData("-0")]
    [InlineData("123456789012345678901234567890")]
    [InlineData("\"\\ud83d\\ude00 \\u00e9\"")]
    [InlineData("\"😀 é\"")]
    [InlineData("false")]
    public void The_ref_is_echoed_byte_for_byte_on_every_frame_that_answers(string refJson)
    {
        // sync answers with the ref; the other frames only answer with an error, which carries it.
        Assert.Equal(refJson, Assert.IsType<SyncFrame>(Parse($$"""{"type":"sync","ref":{{refJson}},"conversationId":"1","afterSeq":0}""")).RefJson);
        Assert.Equal(refJson, Fail($$"""{"ref":{{refJson}},"type":"ack","conversationId":"1","seq":-1}""").RefJson);
        Assert.Equal(refJson, Fail($$"""{"type":"read","conversationId":"x","seq":1,"ref":{{refJson}}}""").RefJson);
        Assert.Equal(refJson, Fail($$"""{"type":"typing","ref":{{refJson}}}""").RefJson);
        Assert.Equal(refJson, Fail($$"""{"type":"shout","ref":{{refJson}}}""").RefJson);
        Assert.Equal(refJson, Fail($$"""{"ref":{{refJson}},"type":"sync","conversationId":"1","conversationId":"1","afterSeq":0}""").RefJson);
    }

    [Fact]
    public void The_ref_keeps_its_inner_spacing_and_drops_the_spacing_around_it()
    {
        var sync = Assert.IsType<SyncFrame>(Parse("{ \"ref\" :  [ 1 ,\t{ } ]\n , \"type\":\"sync\",\"conversationId\":\"1\",\"afterSeq\":0}"));
        Assert.Equal("[ 1 ,\t{ } ]", sync.RefJson);
    }

    [Fact]
    public void A_long_ref_is_echoed_whole()
    {
        var refJson = "\"" + new string('r', 50_000) + "\"";
        Assert.Equal(refJson, Assert.IsType<SyncFrame>(Parse($$"""{"type":"sync","ref":{{refJson}},"conversationId":"1","afterSeq":0}""")).RefJson);
    }

    [Theory]
    [InlineData("""{"type":"ack","ref":"x","conversationId":"1","seq":1}""")]
    [InlineData("""{"type":"read","ref":"x","conversationId":"1","seq":1}""")]
    [InlineData("""{"type":"typing","ref":"x","conversationId":"1"}""")]
    [InlineData("""{"type":"ping","ref":"x"}""")]
    public void Frames_that_never_answer_parse_with_a_ref_and_carry_none(string json)
    {
        var frame = Parse(json);
        Assert.IsNotType<SyncFrame>(frame);
        Assert.DoesNotContain("RefJson", frame.GetType().GetProperties().Select(p => p.Name));
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
