using System.Text;
using System.Text.Json;
using Parley.Protocol;

namespace Parley.Tests.Protocol;

/// <summary>The one set of rules on a send's members, applied to WebSocket frames and HTTP bodies alike.</summary>
public sealed class SendCommandTests
{
    private static readonly JsonElement Content = JsonDocument.Parse("""{"text":"hi"}""").RootElement;

    [Fact]
    public void A_valid_command_has_numeric_ids_and_a_trimmed_client_id()
    {
        Assert.True(SendCommand.TryCreate(42, "  c-1 ", "text", Content, 3, ["7", "9", "7"], out var command, out var problems));
        Assert.Null(problems);
        Assert.Equal(42, command!.ConversationId);
        Assert.Equal("c-1", command.ClientMsgId);
        Assert.Equal([7L, 9L, 7L], command.MentionIds);
        Assert.False(command.MentionsAll);
        Assert.Equal("""["7","9","7"]""", command.MentionsJson());
    }

    [Fact]
    public void Mentioning_everyone_is_all_alone()
    {
        Assert.True(SendCommand.TryCreate(1, "c", "text", Content, null, ["all"], out var command, out _));
        Assert.True(command!.MentionsAll);
        Assert.Empty(command.MentionIds);
        Assert.Equal("""["all"]""", command.MentionsJson());

        Assert.True(SendCommand.TryCreate(1, "c", "text", Content, null, [], out var none, out _));
        Assert.Null(none!.MentionsJson());
        Assert.False(SendCommand.TryCreate(1, "c", "text", Content, null, ["5", "all"], out _, out var problems));
        Assert.Equal("mentions", Assert.Single(problems!).Member);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("tab\there")]
    [InlineData("\u0085")]
    public void A_client_id_must_be_text_without_control_characters(string? clientMsgId)
    {
        Assert.False(SendCommand.TryCreate(1, clientMsgId, "text", Content, null, null, out var command, out var problems));
        Assert.Null(command);
        Assert.Equal("clientMsgId", Assert.Single(problems!).Member);
    }

    [Fact]
    public void Every_bad_member_is_named()
    {
        var tooMany = Enumerable.Range(1, ProtocolLimits.MaxMentions + 1).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.False(SendCommand.TryCreate(1, new string('c', ProtocolLimits.MaxClientMsgIdLength + 1), "text", Content, 0, tooMany, out _, out var problems));
        Assert.Equal(["clientMsgId", "replyTo", "mentions"], problems!.Select(p => p.Member));
        Assert.False(SendCommand.TryCreate(1, "c", "text", Content, null, ["0"], out _, out _));
        Assert.False(SendCommand.TryCreate(1, "c", "text", Content, null, ["+5"], out _, out _));
        Assert.False(SendCommand.TryCreate(1, "c", "text", Content, null, ["9223372036854775808"], out _, out _));
    }

    [Theory]
    [InlineData("""{"type":"send","ref":1,"conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"mentions":["x"]}""")]
    [InlineData("""{"type":"send","ref":1,"conversationId":"1","clientMsgId":"c","msgType":"text","content":{},"mentions":["5","all"]}""")]
    [InlineData("""{"type":"send","ref":1,"conversationId":"1","clientMsgId":"\u0007","msgType":"text","content":{}}""")]
    [InlineData("""{"type":"send","ref":1,"conversationId":"1","clientMsgId":" ","msgType":"text","content":{}}""")]
    public void The_frame_parser_applies_the_same_rules(string json)
    {
        Assert.False(FrameParser.TryParse(Encoding.UTF8.GetBytes(json), out var frame, out var error));
        Assert.Null(frame);
        Assert.Equal(FrameError.Invalid, error.Code);
        Assert.Equal("1", error.RefJson);
    }
}
