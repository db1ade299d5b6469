using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp;

/// <summary>A server with a 1 s heartbeat, so the keepalive and the silence rule show within a test.</summary>
public sealed class XmppHeartbeatFixture : XmppFixture
{
    public override Backend Backend => Backend.Sqlite;

    protected override string[] ExtraArgs => [.. base.ExtraArgs, "--Realtime:HeartbeatMs=1000"];
}

/// <summary>The WebSocket's heartbeat rule on XMPP streams: a silent stream is pinged (XEP-0199), and closed if it stays silent.</summary>
public sealed class XmppHeartbeatTests(XmppHeartbeatFixture fixture) : BackendTests(fixture), IClassFixture<XmppHeartbeatFixture>
{
    [Fact]
    public async Task A_silent_stream_is_pinged_an_answer_keeps_it_and_silence_closes_it()
    {
        var alice = await Server.RegisterAsync();
        await using var raw = await RawXmpp.LoginAsync(fixture.XmppPort, alice.Username, alice.Password);
        var ping = await raw.UntilAsync("<ping xmlns='urn:xmpp:ping'/></iq>");
        var idStart = ping.LastIndexOf("id='", StringComparison.Ordinal) + 4;
        var id = ping[idStart..ping.IndexOf('\'', idStart)];
        await raw.SendAsync($"<iq type='result' id='{id}'/>");

        // Answered: the stream lives on (another ping comes, not the end).
        await raw.UntilAsync("<ping xmlns='urn:xmpp:ping'/></iq>");
        // Not answered from now on: the monitor closes it after two heartbeats of silence.
        var end = await raw.UntilClosedAsync();
        Assert.Contains("<stream:error><connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", end);
    }
}
