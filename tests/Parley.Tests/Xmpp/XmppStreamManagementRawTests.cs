using System.Text;
using Parley.Server.Xmpp;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp;

/// <summary>The writer's stanza scanner (what is counted and kept for XEP-0198).</summary>
public sealed class StreamManagementScannerTests
{
    [Fact]
    public void Elements_are_cut_at_their_ends_and_only_stanzas_count()
    {
        var xml = Encoding.UTF8.GetBytes("<message to='a' id='x&apos;>'><body>1 &lt; 2 > 0</body><e/></message><r xmlns='urn:xmpp:sm:3'/> <iq type=\"result\" id=\"q>\"/><presence/>");
        var ends = new List<(string Text, bool Stanza)>();
        for (var end = StreamManagement.ElementEnd(xml, 0, out var start); end > 0; end = StreamManagement.ElementEnd(xml, end, out start))
        {
            ends.Add((Encoding.UTF8.GetString(xml, start, end - start), StreamManagement.IsStanza(xml, start)));
        }

        Assert.Equal(
            [
                ("<message to='a' id='x&apos;>'><body>1 &lt; 2 > 0</body><e/></message>", true),
                ("<r xmlns='urn:xmpp:sm:3'/>", false),
                ("<iq type=\"result\" id=\"q>\"/>", true),
                ("<presence/>", true),
            ],
            ends);
        Assert.False(StreamManagement.IsStanza("<messages/>"u8, 0));
        Assert.False(StreamManagement.IsStanza("<enabled xmlns='urn:xmpp:sm:3'/>"u8, 0));
    }
}

/// <summary>A server with a 1 s resumption window and small send queues, so the window's end and the bound show within a test.</summary>
public sealed class XmppSmallBoundsFixture : XmppFixture
{
    public override Backend Backend => Backend.Sqlite;

    protected override string[] ExtraArgs => [.. base.ExtraArgs, "--Realtime:SendQueueFrames=16"];
}

/// <summary>XEP-0198 edges with a raw client: refusals, the bound on unacknowledged stanzas, a take-over of a half-open stream.</summary>
public sealed class XmppStreamManagementRawTests(XmppSmallBoundsFixture fixture) : BackendTests(fixture), IClassFixture<XmppSmallBoundsFixture>
{
    private const string Sm = "urn:xmpp:sm:3";

    private static async Task<RawXmpp> AuthenticatedAsync(int port, TestUser user)
    {
        var raw = await RawXmpp.ConnectAsync(port);
        await raw.OpenAsync();
        await raw.UntilAsync("</stream:features>");
        await raw.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user.Username}\0{user.Password}"))}</auth>");
        await raw.UntilAsync("<success");
        await raw.OpenAsync();
        var features = await raw.UntilAsync("</stream:features>");
        Assert.Contains($"<sm xmlns='{Sm}'/>", features);
        return raw;
    }

    private static string IdOf(string enabled)
    {
        var at = enabled.IndexOf("id='", StringComparison.Ordinal) + 4;
        return enabled[at..enabled.IndexOf('\'', at)];
    }

    [Fact]
    public async Task Early_twice_and_unexpected_nonzas_fail_and_a_too_high_ack_ends_the_stream()
    {
        var alice = await Server.RegisterAsync();
        await using (var early = await AuthenticatedAsync(fixture.XmppPort, alice))
        {
            await early.SendAsync($"<enable xmlns='{Sm}'/>"); // before bind
            await early.UntilAsync($"<failed xmlns='{Sm}'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
            await early.SendAsync($"<resume xmlns='{Sm}' previd='x' h='nope'/>");
            await early.UntilAsync($"<failed xmlns='{Sm}'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
        }

        await using var raw = await RawXmpp.LoginAsync(fixture.XmppPort, alice.Username, alice.Password);
        await raw.SendAsync($"<r xmlns='{Sm}'/>"); // before enable
        Assert.Contains("<unexpected-request", await raw.UntilAsync("</failed>"));
        await raw.SendAsync($"<enable xmlns='{Sm}'/>");
        var enabled = await raw.UntilAsync("/>");
        Assert.Contains($"<enabled xmlns='{Sm}'", enabled);
        Assert.DoesNotContain("resume=", enabled); // not asked for: acks only
        await raw.SendAsync($"<enable xmlns='{Sm}' resume='true'/>"); // twice
        Assert.Contains("<unexpected-request", await raw.UntilAsync("</failed>"));
        await raw.SendAsync("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
        await raw.SendAsync($"<r xmlns='{Sm}'/>");
        await raw.UntilAsync($"<a xmlns='{Sm}' h='1'/>"); // the ping was handled
        await raw.SendAsync($"<a xmlns='{Sm}' h='5'/>"); // the server sent one stanza (the ping's result)
        Assert.Contains("<undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", await raw.UntilClosedAsync());
    }

    [Fact]
    public async Task A_client_that_never_acknowledges_is_dropped_at_the_send_queue_bound()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, alice.AccessToken);
        await using var raw = await RawXmpp.LoginAsync(fixture.XmppPort, bob.Username, bob.Password);
        await raw.SendAsync($"<enable xmlns='{Sm}' resume='true'/>");
        await raw.UntilAsync("<enabled");
        for (var i = 1; i <= 20; i++)
        {
            await XmppStreamManagementTests.SendAsync(ws, conversationId, $"unacked {i}");
        }

        var end = await raw.UntilClosedAsync();
        Assert.Contains("<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", end);
        Assert.Contains("too many unacknowledged stanzas", end);
        // Not resumable: the session ended (Bob goes offline for Alice).
        await ws.NextAsync("presence", where: f => (string?)f["userId"] == bob.Id && (bool?)f["online"] == false);
    }

    [Fact]
    public async Task A_resume_takes_over_a_stream_still_attached_and_resends_what_was_not_acknowledged()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, alice.AccessToken);
        await using var old = await RawXmpp.LoginAsync(fixture.XmppPort, bob.Username, bob.Password);
        await old.SendAsync($"<enable xmlns='{Sm}' resume='true'/>");
        var id = IdOf(await old.UntilAsync("/>"));
        await XmppStreamManagementTests.SendAsync(ws, conversationId, "one");
        await XmppStreamManagementTests.SendAsync(ws, conversationId, "two");
        await old.UntilAsync("<body>two</body>");
        await old.SendAsync($"<a xmlns='{Sm}' h='1'/>"); // "one" acknowledged, "two" not

        // The old connection is still open (half-open for all the server knows); a new one resumes with h=1.
        await using var fresh = await AuthenticatedAsync(fixture.XmppPort, bob);
        await fresh.SendAsync($"<resume xmlns='{Sm}' previd='{id}' h='1'/>");
        var resumed = await fresh.UntilAsync("<body>two</body>");
        Assert.Contains($"<resumed xmlns='{Sm}' h='0' previd='{id}'/>", resumed);
        Assert.DoesNotContain("<body>one</body>", resumed);
        await old.UntilClosedAsync(); // cut by the take-over

        // Live again on the new connection, and the old one's end did not end the session.
        await XmppStreamManagementTests.SendAsync(ws, conversationId, "three");
        await fresh.UntilAsync("<body>three</body>");
        Assert.False(ws.Has("presence", f => (string?)f["userId"] == bob.Id && (bool?)f["online"] == false));
    }
}
