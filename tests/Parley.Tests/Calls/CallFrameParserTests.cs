using System.Text;
using Parley.Protocol;

namespace Parley.Tests.Calls;

/// <summary>The call.* frames through the frame parser and the server's frame builders.</summary>
[Trait("Tier", "Unit")]
public sealed class CallFrameParserTests
{
    private static ClientFrame? Parse(string json, out FrameError error)
    {
        FrameParser.TryParse(Encoding.UTF8.GetBytes(json), out var frame, out error);
        return frame;
    }

    [Fact]
    public void Call_frames_parse_with_their_members()
    {
        var invite = Assert.IsType<CallInviteFrame>(Parse("""{"media":"video","type":"call.invite","ref":{"n":1},"conversationId":"42"}""", out _));
        Assert.Equal(("{\"n\":1}", "42", "video"), (invite.RefJson, invite.ConversationId, invite.Media));
        Assert.Equal("7", Assert.IsType<CallAcceptFrame>(Parse("""{"type":"call.accept","ref":"a","callId":"7"}""", out _)).CallId);
        Assert.Equal("7", Assert.IsType<CallRejectFrame>(Parse("""{"type":"call.reject","callId":"7"}""", out _)).CallId);
        Assert.Equal("7", Assert.IsType<CallHangupFrame>(Parse("""{"type":"call.hangup","callId":"7"}""", out _)).CallId);
        var signal = Assert.IsType<CallSignalFrame>(Parse("""{"type":"call.signal","callId":"7","data":{"type":"offer","sdp":"v=0\r\n"} ,"ref":1}""", out _));
        Assert.Equal("""{"type":"offer","sdp":"v=0\r\n"}""", Encoding.UTF8.GetString(signal.Data));
        Assert.Equal("1", signal.RefJson);
        Assert.Equal("\"c\"", Encoding.UTF8.GetString(Assert.IsType<CallSignalFrame>(Parse("""{"type":"call.signal","callId":"7","data":"c"}""", out _)).Data));
    }

    [Theory]
    [InlineData("""{"type":"call.invite","ref":"r","conversationId":"42"}""", "media is required.")]
    [InlineData("""{"type":"call.invite","ref":"r","conversationId":"42","media":"screen"}""", "media must be \"audio\" or \"video\".")]
    [InlineData("""{"type":"call.invite","ref":"r","conversationId":42,"media":"audio"}""", "conversationId must be a string.")]
    [InlineData("""{"type":"call.accept","ref":"r"}""", "callId is required.")]
    [InlineData("""{"type":"call.accept","ref":"r","callId":"-1"}""", "callId must be an id (a decimal string).")]
    [InlineData("""{"type":"call.signal","ref":"r","callId":"7"}""", "data is required.")]
    [InlineData("""{"type":"call.signal","ref":"r","callId":"7","data":null}""", "data must not be null.")]
    [InlineData("""{"type":"call.signal","ref":"r","callId":"7","data":1,"data":2}""", "data is given more than once.")]
    public void Bad_call_frames_are_invalid_with_their_ref(string json, string problem)
    {
        Assert.Null(Parse(json, out var error));
        Assert.Equal((FrameError.Invalid, problem, "\"r\""), (error.Code, error.Message, error.RefJson));
    }

    [Fact]
    public void Server_call_frames_are_the_contracts()
    {
        Assert.Equal("""{"type":"call.invited","ref":5,"callId":"9"}""", Encoding.UTF8.GetString(ServerFrames.CallInvited("5", "9")));
        Assert.Equal("""{"type":"call.ring","callId":"9","conversationId":"4","from":"1","fromDeviceId":"2","media":"audio"}""", Encoding.UTF8.GetString(ServerFrames.CallRing("9", "4", "1", "2", "audio")));
        Assert.Equal("""{"type":"call.accepted","callId":"9","by":"3","deviceId":"8"}""", Encoding.UTF8.GetString(ServerFrames.CallAccepted("9", "3", "8")));
        Assert.Equal("""{"type":"call.signal","callId":"9","data":{"candidate":"x"}}""", Encoding.UTF8.GetString(ServerFrames.CallSignal("9", """{"candidate":"x"}"""u8)));
        Assert.Equal("""{"type":"call.ended","callId":"9","reason":"timeout"}""", Encoding.UTF8.GetString(ServerFrames.CallEnded("9", "timeout")));
    }
}
