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
}
