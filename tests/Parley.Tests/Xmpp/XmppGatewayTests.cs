using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp;

public sealed class XmppGatewayTestsSqlite(XmppSqliteFixture fixture) : XmppGatewayTests(fixture), IClassFixture<XmppSqliteFixture>;

public sealed class XmppGatewayTestsPostgres(XmppPostgresFixture fixture) : XmppGatewayTests(fixture), IClassFixture<XmppPostgresFixture>;

/// <summary>The XMPP c2s gateway (docs/xmpp.md) with real clients: slixmpp, a WebSocket user, and raw bytes for bad XML.</summary>
public abstract class XmppGatewayTests(XmppFixture fixture) : BackendTests(fixture)
{
    private int Port => fixture.XmppPort;

    private static string Jid(TestUser user) => $"{user.Username.ToLowerInvariant()}@{XmppFixture.Domain}";

    [Fact]
    public async Task A_slixmpp_user_and_a_websocket_user_chat_and_a_retried_stanza_is_stored_once()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, bob.AccessToken);
        var stanzaId = "m-" + Guid.NewGuid().ToString("N")[..8];

        // slixmpp sends the chat twice with one id, then waits for Bob's reply.
        var xmpp = Slixmpp.RunAsync(Port, Jid(alice), alice.Password, "chat", "--to", Jid(bob), "--id", stanzaId, "--body", "hello from xmpp", "--expect", "reply from ws");
        var received = await ws.NextAsync("message", TimeSpan.FromSeconds(30));
        Assert.Equal("hello from xmpp", (string?)received["message"]!["content"]!["text"]);
        Assert.Equal(stanzaId, (string?)received["message"]!["clientMsgId"]);
        Assert.Equal(conversationId, (string?)received["message"]!["conversationId"]);
        Assert.Equal(alice.Id, (string?)received["message"]!["senderId"]);

        await ws.SendAsync(new JsonObject
        {
            ["type"] = "send", ["ref"] = "r1", ["conversationId"] = conversationId, ["clientMsgId"] = "ws-1",
            ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = "reply from ws" },
        });
        var sent = await ws.NextAsync("sent");
        var result = await xmpp;
        Assert.True((bool?)result["ok"], result.ToJsonString());
        Assert.Equal(Jid(bob), (string?)result["frm"]);
        Assert.Equal("chat", (string?)result["type"]);
        Assert.Equal($"{conversationId}:{(long)sent["message"]!["seq"]!}", (string?)result["stanzaId"]);
        Assert.Equal(Jid(alice), (string?)result["stanzaBy"]);
        Assert.StartsWith(Jid(alice) + "/", (string?)result["jid"]);

        // The retry did not make a second message: the history is hello, reply.
        var history = await Server.Get(alice, $"/api/conversations/{conversationId}/messages?after=0").Expect(HttpStatusCode.OK);
        var texts = history["items"]!.AsArray().Select(m => (string?)m!["content"]!["text"]).ToList();
        Assert.Equal(["hello from xmpp", "reply from ws"], texts);
    }

    [Fact]
    public async Task A_wrong_password_is_refused_and_a_right_one_binds_a_device_session()
    {
        var alice = await Server.RegisterAsync();
        var wrong = await Slixmpp.RunAsync(Port, Jid(alice), "not the password", "login");
        Assert.False((bool?)wrong["ok"], wrong.ToJsonString());
        Assert.Equal("not-authorized", (string?)wrong["error"]);

        var right = await Slixmpp.RunAsync(Port, Jid(alice), alice.Password, "login");
        Assert.True((bool?)right["ok"], right.ToJsonString());
        var resource = ((string)right["jid"]!)[(Jid(alice).Length + 1)..];
        Assert.Matches("^[0-9]+$", resource); // the resource is the device session's id
    }

    [Fact]
    public async Task Slixmpp_logs_in_with_scram_sha_256_a_keyless_user_with_plain_and_a_changed_password_ends_both()
    {
        var alice = await Server.RegisterAsync(password: "the first password");
        var scram = await Slixmpp.RunAsync(Port, Jid(alice), "the first password", "login");
        Assert.True((bool?)scram["ok"], scram.ToJsonString());
        Assert.Equal("SCRAM-SHA-256", (string?)scram["mech"]); // offered first, with the keys registration stored
        var plain = await Slixmpp.RunAsync(Port, Jid(alice), "the first password", "login", "--mech", "PLAIN");
        Assert.True((bool?)plain["ok"], plain.ToJsonString());
        Assert.Equal("PLAIN", (string?)plain["mech"]);
        var wrong = await Slixmpp.RunAsync(Port, Jid(alice), "not it", "login", "--mech", "SCRAM-SHA-256");
        Assert.Equal("not-authorized", (string?)wrong["error"]);

        // A user from before the keys: SCRAM fails (the exchange runs on a fake salt), PLAIN logs in and makes the keys.
        await using (var connection = await Server.Service<Parley.Storage.Database>().OpenAsync(TestContext.Current.CancellationToken))
        {
            Assert.Equal(1, await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE users SET scram_sha256 = NULL WHERE id = @id", new { id = long.Parse(alice.Id, System.Globalization.CultureInfo.InvariantCulture) }));
        }

        Assert.Equal("not-authorized", (string?)(await Slixmpp.RunAsync(Port, Jid(alice), "the first password", "login", "--mech", "SCRAM-SHA-256"))["error"]);
        Assert.True((bool?)(await Slixmpp.RunAsync(Port, Jid(alice), "the first password", "login", "--mech", "PLAIN"))["ok"]);
        var again = await Slixmpp.RunAsync(Port, Jid(alice), "the first password", "login");
        Assert.Equal(("SCRAM-SHA-256", true), ((string?)again["mech"], (bool?)again["ok"]));

        await Server.Send(HttpMethod.Put, "/api/users/me/password", alice.AccessToken, new JsonObject { ["currentPassword"] = "the first password", ["newPassword"] = "the second password" })
            .Expect(HttpStatusCode.NoContent);
        foreach (var mech in (string[])["SCRAM-SHA-256", "PLAIN"])
        {
            Assert.Equal("not-authorized", (string?)(await Slixmpp.RunAsync(Port, Jid(alice), "the first password", "login", "--mech", mech))["error"]);
        }

        var changed = await Slixmpp.RunAsync(Port, Jid(alice), "the second password", "login");
        Assert.Equal(("SCRAM-SHA-256", true), ((string?)changed["mech"], (bool?)changed["ok"]));
    }

    [Fact]
    public async Task Ping_and_disco_info_are_answered()
    {
        var alice = await Server.RegisterAsync();
        var probe = await Slixmpp.RunAsync(Port, Jid(alice), alice.Password, "probe");
        Assert.True((bool?)probe["ok"], probe.ToJsonString());
        var features = probe["features"]!.AsArray().Select(f => (string?)f).ToList();
        Assert.Contains("urn:xmpp:ping", features);
        Assert.Contains("http://jabber.org/protocol/disco#info", features);
    }

    [Fact]
    public async Task Unknown_and_malformed_iqs_get_stanza_errors_and_the_stream_lives_on()
    {
        var alice = await Server.RegisterAsync();
        await using var raw = await RawXmpp.LoginAsync(Port, alice.Username, alice.Password);
        await raw.SendAsync("<iq type='get' id='u1'><query xmlns='urn:example:unknown'/></iq>");
        var unknown = await raw.UntilAsync("</iq>");
        Assert.Contains("id='u1'", unknown);
        Assert.Contains("<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>", unknown);

        await raw.SendAsync("<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>");
        Assert.Contains("<bad-request", await raw.UntilAsync("</iq>"));

        await raw.SendAsync("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
        var pong = await raw.UntilAsync("/>");
        Assert.Contains("type='result' id='p1'", pong);
    }

    [Fact]
    public async Task A_chat_to_a_stranger_is_answered_with_an_error_stanza_and_nothing_is_stored()
    {
        var alice = await Server.RegisterAsync();
        var stranger = await Server.RegisterAsync();
        await using var raw = await RawXmpp.LoginAsync(Port, alice.Username, alice.Password);
        await raw.SendAsync($"<message type='chat' to='{Jid(stranger)}' id='s1'><body>hi</body></message>");
        var error = await raw.UntilAsync("</message>");
        Assert.Contains("type='error' id='s1'", error);
        Assert.Contains("<forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>", error);
        Assert.Contains("not_friends", error);

        await raw.SendAsync($"<message type='chat' to='nobody-{Guid.NewGuid():N}@{XmppFixture.Domain}' id='s2'><body>hi</body></message>");
        Assert.Contains("<item-not-found", await raw.UntilAsync("</message>"));
        Assert.Empty(await Server.AllItemsAsync(alice, "/api/conversations"));
    }

    public static TheoryData<string, string> BadXml => new()
    {
        { "<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]><message><body>&lol1;</body></message>", "restricted-xml" },
        { "<message><body>&xxe;</body></message>", "not-well-formed" },
        { "<message>" + string.Concat(Enumerable.Repeat("<a>", 5000)), "policy-violation" },
        { "<message><body>" + new string('x', 129 * 1024) + "</body></message>", "policy-violation" },
    };

    [Theory]
    [MemberData(nameof(BadXml))]
    public async Task Bad_xml_ends_that_stream_with_its_stream_error_and_nothing_else(string payload, string condition)
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var bystander = await RawXmpp.LoginAsync(Port, bob.Username, bob.Password);
        await using var ws = await WsClient.ConnectAsync(Server, bob.AccessToken);

        await using var attacker = await RawXmpp.LoginAsync(Port, alice.Username, alice.Password);
        await attacker.SendAsync(payload);
        var end = await attacker.UntilClosedAsync();
        Assert.Contains($"<stream:error><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", end);
        Assert.EndsWith("</stream:stream>", end);

        // The other XMPP stream and the socket of the same user carry on.
        await bystander.SendAsync("<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>");
        Assert.Contains("id='after'", await bystander.UntilAsync("/>"));
        await ws.SendAsync(new JsonObject { ["type"] = "ping" });
        await ws.NextAsync("pong");
        await Server.SendTextAsync(alice, conversationId, "still here");
        Assert.Contains("<body>still here</body>", await bystander.UntilAsync("</message>"));
    }

    [Fact]
    public async Task Revoking_the_device_session_closes_its_stream()
    {
        var alice = await Server.RegisterAsync();
        await using var raw = await RawXmpp.LoginAsync(Port, alice.Username, alice.Password);
        // A password change revokes every other session, the XMPP stream's included.
        await Server.Send(HttpMethod.Put, "/api/users/me/password", alice.AccessToken, new JsonObject { ["currentPassword"] = alice.Password, ["newPassword"] = "another horse battery" })
            .Expect(HttpStatusCode.NoContent);
        var end = await raw.UntilClosedAsync();
        Assert.Contains("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", end);
    }
}
