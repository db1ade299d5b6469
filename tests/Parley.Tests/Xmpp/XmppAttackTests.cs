using System.Text.Json.Nodes;
using System.Xml.Linq;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp;

/// <summary>
/// Attacks on the XMPP gateway from outside (raw bytes, a WebSocket peer): each test is a hole that was found, and
/// shows that it stays shut.
/// </summary>
public sealed class XmppAttackTests(XmppSqliteFixture fixture) : BackendTests(fixture), IClassFixture<XmppSqliteFixture>
{
    private int Port => fixture.XmppPort;

    [Fact]
    public async Task Text_with_characters_xml_forbids_from_a_websocket_user_reaches_the_xmpp_user_as_well_formed_xml()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var victim = await RawXmpp.LoginAsync(Port, alice.Username, alice.Password);
        await using var ws = await WsClient.ConnectAsync(Server, bob.AccessToken);

        // JSON allows these escapes; XML 1.0 allows none of them (nor as character references).
        const string text = "a\u0001b\u001bc\u007f\uFFFEd\uFFFFe";
        await ws.SendAsync(new JsonObject
        {
            ["type"] = "send", ["ref"] = "r1", ["conversationId"] = conversationId, ["clientMsgId"] = "ctl-1",
            ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = text },
        });
        await ws.NextAsync("sent");

        var stanza = await victim.UntilAsync("</message>");
        var message = XElement.Parse(stanza[stanza.IndexOf("<message", StringComparison.Ordinal)..].Replace("<message ", "<message xmlns='jabber:client' ", StringComparison.Ordinal));
        var body = message.Element(XName.Get("body", "jabber:client"))!.Value;
        Assert.Equal("a\uFFFDb\uFFFDc\u007f\uFFFDd\uFFFDe", body); // U+007F is allowed in XML 1.0

        // The victim's stream is alive: a later message arrives.
        await Server.SendTextAsync(bob, conversationId, "after");
        Assert.Contains("<body>after</body>", await victim.UntilAsync("</message>"));
    }

    [Fact]
    public async Task Scram_starts_and_aborts_count_against_the_streams_failures_so_one_connection_cannot_loop_on_the_store()
    {
        var alice = await Server.RegisterAsync();
        await using var raw = await RawXmpp.ConnectAsync(Port);
        await raw.OpenAsync();
        await raw.UntilAsync("</stream:features>");
        var first = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"n,,n={alice.Username},r=abcdefgh"));
        var closed = false;
        for (var i = 0; i < 10 && !closed; i++)
        {
            // Each start reads the user's keys (and the throttle); an abort took the attempt back and cost nothing.
            await raw.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>{first}</auth><abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
            var answer = await raw.UntilAsync("</failure>");
            Assert.Contains("<aborted/>", answer);
            closed = i >= 2;
        }

        var end = await raw.UntilClosedAsync();
        Assert.Contains("<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", end);
    }

    [Fact]
    public async Task Passwords_scram_data_and_bodies_never_reach_the_log()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var raw = await RawXmpp.LoginAsync(Port, alice.Username, alice.Password);
        const string secret = "body-secret-4f1c";
        await raw.SendAsync($"<message type='chat' to='{bob.Username.ToLowerInvariant()}@{XmppFixture.Domain}' id='l1'><body>{secret}</body></message>");
        await Server.SendTextAsync(bob, conversationId, secret + "-back");
        Assert.Contains(secret + "-back", await raw.UntilAsync("</message>"));
        var wrong = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0{alice.Username}\0wrong-pass-9a7e"));
        await using var other = await RawXmpp.ConnectAsync(Port);
        await other.OpenAsync();
        await other.UntilAsync("</stream:features>");
        await other.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{wrong}</auth><message><body>&#1;</body></message>");
        await other.UntilClosedAsync();

        var logged = string.Join("\n", fixture.Logs.All.Select(e => e.ToString()));
        Assert.DoesNotContain(secret, logged);
        Assert.DoesNotContain(alice.Password, logged);
        Assert.DoesNotContain("wrong-pass-9a7e", logged);
        Assert.DoesNotContain(wrong, logged);
    }
}
