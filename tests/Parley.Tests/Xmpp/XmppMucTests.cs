using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp;

public sealed class XmppMucTestsSqlite(XmppSqliteFixture fixture) : XmppMucTests(fixture), IClassFixture<XmppSqliteFixture>;

public sealed class XmppMucTestsPostgres(XmppPostgresFixture fixture) : XmppMucTests(fixture), IClassFixture<XmppPostgresFixture>;

/// <summary>XEP-0045 rooms = groups and XEP-0313 MAM (docs/xmpp.md), with slixmpp (tests/xmpp/muc_client.py) and WebSocket / REST users.</summary>
public abstract class XmppMucTests(XmppFixture fixture) : BackendTests(fixture)
{
    private const string Service = "conference." + XmppFixture.Domain;

    private int Port => fixture.XmppPort;

    private static string Jid(TestUser user) => $"{user.Username.ToLowerInvariant()}@{XmppFixture.Domain}";

    private static string Nick(TestUser user) => user.Username.ToLowerInvariant();

    private static string Room(string groupId) => $"{groupId}@{Service}";

    private Task<JsonObject> Muc(TestUser user, string mode, params string[] args) =>
        Slixmpp.RunScriptAsync("muc_client.py", Port, Jid(user), user.Password, mode, args);

    private async Task<string> OpenGroupAsync(TestUser owner) =>
        (await Server.CreateGroupAsync(owner, new JsonObject { ["joinPolicy"] = "open", ["visibility"] = "public" })).Id();

    private async Task<List<string>> TextsAsync(TestUser user, string conversationId) =>
        (await Server.CatchUpAsync(user, conversationId)).Select(m => (string)m["content"]!["text"]!).ToList();

    [Fact]
    public async Task An_xmpp_member_and_websocket_members_exchange_groupchat_with_the_reflection_and_a_retry_stored_once()
    {
        var bob = await Server.RegisterAsync();
        var alice = await Server.RegisterAsync();
        var groupId = await OpenGroupAsync(bob);
        var conversationId = (string)(await Server.GroupAsync(bob, groupId))["conversationId"]!;
        await Server.SendTextAsync(bob, conversationId, "before alice");
        await using var ws = await WsClient.ConnectAsync(Server, bob.AccessToken);
        var stanzaId = "g-" + Guid.NewGuid().ToString("N")[..8];

        // Alice is no member: joining the open group's room joins the group (as POST /api/groups/{id}/join).
        var xmpp = Muc(alice, "join", "--room", Room(groupId), "--nick", Nick(alice), "--id", stanzaId, "--body", "hi from xmpp", "--expect", "reply from ws", "--disco");
        var received = await ws.NextAsync("message", TimeSpan.FromSeconds(30), m => (string?)m["message"]!["content"]!["text"] == "hi from xmpp");
        Assert.Equal(stanzaId, (string?)received["message"]!["clientMsgId"]);
        Assert.Equal(alice.Id, (string?)received["message"]!["senderId"]);
        Assert.Equal(conversationId, (string?)received["message"]!["conversationId"]);
        await ws.SendAsync(new JsonObject
        {
            ["type"] = "send", ["ref"] = "r1", ["conversationId"] = conversationId, ["clientMsgId"] = "ws-1",
            ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = "reply from ws" },
        });
        var sent = await ws.NextAsync("sent");

        var result = await xmpp;
        Assert.True((bool?)result["ok"], result.ToJsonString());
        Assert.Contains(110, result["codes"]!.AsArray().Select(c => (int)c!));
        Assert.DoesNotContain(201, result["codes"]!.AsArray().Select(c => (int)c!));
        Assert.Equal($"{Room(groupId)}/{Nick(alice)}", (string?)result["selfFrom"]);
        Assert.Equal("member", (string?)result["affiliation"]);
        Assert.Empty(result["history"]!.AsArray()); // "before alice" was before her join
        Assert.Contains($"{Room(groupId)}/{Nick(bob)}", result["occupants"]!.AsArray().Select(o => (string?)o)); // bob is online

        // The reflection: both sends came back with the stanza's id and the one message's stanza-id, by the room.
        var reflections = result["reflections"]!.AsArray();
        Assert.Equal(2, reflections.Count);
        var seq = (await Server.CatchUpAsync(alice, conversationId)).Single(m => (string?)m["clientMsgId"] == stanzaId).Seq();
        foreach (var reflection in reflections)
        {
            Assert.Equal(stanzaId, (string?)reflection!["id"]);
            Assert.Equal("hi from xmpp", (string?)reflection["body"]);
            Assert.Equal($"{conversationId}:{seq}", (string?)reflection["sid"]!["id"]);
            Assert.Equal(Room(groupId), (string?)reflection["sid"]!["by"]);
        }

        var reply = result["others"]!.AsArray().Single(o => (string?)o!["body"] == "reply from ws")!;
        Assert.Equal($"{Room(groupId)}/{Nick(bob)}", (string?)reply["frm"]);
        Assert.Equal("ws-1", (string?)reply["id"]);
        Assert.Equal($"{conversationId}:{(long)sent["message"]!["seq"]!}", (string?)reply["sid"]!["id"]);
        Assert.Equal(Room(groupId), (string?)reply["sid"]!["by"]);

        // disco: the room's identity and features; the service lists the user's groups.
        var features = result["roomFeatures"]!.AsArray().Select(f => (string?)f).ToList();
        Assert.Contains("http://jabber.org/protocol/muc", features);
        Assert.Contains("urn:xmpp:mam:2", features);
        Assert.Contains("muc_persistent", features);
        Assert.Contains("muc_open", features);
        Assert.Contains(Room(groupId), result["roomItems"]!.AsArray().Select(i => (string?)i));

        // Stored once: the retry returned the first message.
        Assert.Equal(["before alice", "hi from xmpp", "reply from ws"], await TextsAsync(bob, conversationId));
        Assert.Equal("member", await Server.RoleAsync(bob, groupId, alice));
    }

    [Fact]
    public async Task History_on_join_starts_at_the_members_join_and_honours_maxstanzas()
    {
        var bob = await Server.RegisterAsync();
        var alice = await Server.RegisterAsync();
        var groupId = await OpenGroupAsync(bob);
        var conversationId = (string)(await Server.GroupAsync(bob, groupId))["conversationId"]!;
        await Server.SendTextAsync(bob, conversationId, "m1 before");
        await Server.SendTextAsync(bob, conversationId, "m2 before");
        await Server.Post(alice, $"/api/groups/{groupId}/join", new JsonObject()).Expect(HttpStatusCode.OK);
        var m3 = await Server.SendTextAsync(bob, conversationId, "m3 after", "c-m3");
        var m4 = await Server.SendTextAsync(bob, conversationId, "m4 after", "c-m4");

        var all = await Muc(alice, "join", "--room", Room(groupId), "--nick", Nick(alice), "--maxstanzas", "10");
        Assert.True((bool?)all["ok"], all.ToJsonString());
        var history = all["history"]!.AsArray();
        Assert.Equal(["m3 after", "m4 after"], history.Select(h => (string?)h!["body"]));
        Assert.Equal(["c-m3", "c-m4"], history.Select(h => (string?)h!["id"]));
        Assert.Equal([$"{conversationId}:{m3.Seq()}", $"{conversationId}:{m4.Seq()}"], history.Select(h => (string?)h!["sid"]!["id"]));
        Assert.All(history, h => Assert.Equal($"{Room(groupId)}/{Nick(bob)}", (string?)h!["frm"]));
        Assert.Equal(await TextsAsync(alice, conversationId), history.Select(h => (string)h!["body"]!).ToList()); // as the REST history shows her

        var one = await Muc(alice, "join", "--room", Room(groupId), "--nick", Nick(alice), "--maxstanzas", "1");
        Assert.True((bool?)one["ok"], one.ToJsonString());
        Assert.Equal(["m4 after"], one["history"]!.AsArray().Select(h => (string?)h!["body"]));
    }

    [Fact]
    public async Task Joining_a_room_name_that_is_no_group_creates_an_open_group_owned_by_the_joiner()
    {
        var alice = await Server.RegisterAsync();
        var bob = await Server.RegisterAsync();
        var name = "loadroom-" + Guid.NewGuid().ToString("N")[..8];

        var created = await Muc(alice, "join", "--room", $"{name}@{Service}", "--nick", Nick(alice), "--disco");
        Assert.True((bool?)created["ok"], created.ToJsonString());
        Assert.Contains(201, created["codes"]!.AsArray().Select(c => (int)c!));
        Assert.Equal("owner", (string?)created["affiliation"]);
        var group = (await Server.AllItemsAsync(alice, "/api/groups/mine")).Single(g => (string?)g["name"] == name);
        Assert.Equal(alice.Id, (string?)group["ownerId"]);
        Assert.Equal("open", (string?)group["joinPolicy"]);
        Assert.Equal("public", (string?)group["visibility"]);
        Assert.Contains(Room(group.Id()), created["roomItems"]!.AsArray().Select(i => (string?)i));

        // The same name again is the same room: Bob joins that group, nothing new is created.
        var joined = await Muc(bob, "join", "--room", $"{name}@{Service}", "--nick", Nick(bob));
        Assert.True((bool?)joined["ok"], joined.ToJsonString());
        Assert.DoesNotContain(201, joined["codes"]!.AsArray().Select(c => (int)c!));
        Assert.Equal("member", await Server.RoleAsync(alice, group.Id(), bob));
        Assert.Single(await Server.AllItemsAsync(bob, "/api/groups/mine"), g => (string?)g["name"] == name);
    }

    [Fact]
    public async Task A_stranger_is_refused_from_a_closed_group_and_learns_nothing_more_than_rest()
    {
        var bob = await Server.RegisterAsync();
        var alice = await Server.RegisterAsync();
        var hidden = (await Server.CreateGroupAsync(bob, new JsonObject { ["visibility"] = "private", ["joinPolicy"] = "invite" })).Id();
        var inviteOnly = (await Server.CreateGroupAsync(bob, new JsonObject { ["visibility"] = "public", ["joinPolicy"] = "invite" })).Id();
        await Server.SendTextAsync(bob, (string)(await Server.GroupAsync(bob, hidden))["conversationId"]!, "secret");

        // A private group is what a group that does not exist is: item-not-found, the same words.
        var refused = await Muc(alice, "join", "--room", Room(hidden), "--nick", Nick(alice));
        Assert.False((bool?)refused["ok"], refused.ToJsonString());
        Assert.Equal("item-not-found", (string?)refused["error"]);
        var missing = await Muc(alice, "join", "--room", Room("999999999999"), "--nick", Nick(alice));
        Assert.Equal("item-not-found", (string?)missing["error"]);
        Assert.Equal((string?)missing["errorText"], (string?)refused["errorText"]);
        await Server.Get(alice, $"/api/groups/{hidden}").Expect(HttpStatusCode.NotFound);

        // A public invite-only group: REST says 403 (it exists), so does the room.
        var closed = await Muc(alice, "join", "--room", Room(inviteOnly), "--nick", Nick(alice));
        Assert.Equal("registration-required", (string?)closed["error"]);

        // Nor its archive.
        var archive = await Muc(alice, "mam", "--archive", Room(hidden), "--max", "5");
        Assert.False((bool?)archive["ok"], archive.ToJsonString());
        Assert.Equal("item-not-found", (string?)archive["error"]);
        Assert.Null(await Server.RoleAsync(bob, hidden, alice));
        Assert.Null(await Server.RoleAsync(bob, inviteOnly, alice));
    }

    [Fact]
    public async Task Mam_pages_a_direct_conversation_both_ways_exactly_as_the_rest_history()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        for (var i = 1; i <= 7; i++)
        {
            await Server.SendTextAsync(i % 2 == 0 ? bob : alice, conversationId, $"dm {i}");
        }

        var rest = await Server.CatchUpAsync(alice, conversationId);
        var ids = rest.Select(m => $"{conversationId}:{m.Seq()}").ToList();
        var result = await Muc(alice, "mam", "--with", Jid(bob), "--max", "3");
        Assert.True((bool?)result["ok"], result.ToJsonString());

        var forward = result["forward"]!.AsArray();
        Assert.Equal([ids[..3], ids[3..6], ids[6..]], forward.Select(p => p!["ids"]!.AsArray().Select(i => (string)i!).ToList()));
        Assert.Equal([false, false, true], forward.Select(p => (bool)p!["complete"]!));
        Assert.Equal(rest.Select(m => (string)m["content"]!["text"]!), forward.SelectMany(p => p!["bodies"]!.AsArray().Select(b => (string)b!)));

        var backward = result["backward"]!.AsArray();
        Assert.Equal([ids[4..], ids[1..4], ids[..1]], backward.Select(p => p!["ids"]!.AsArray().Select(i => (string)i!).ToList()));
        Assert.Equal([false, false, true], backward.Select(p => (bool)p!["complete"]!));
    }

    [Fact]
    public async Task Mam_pages_a_room_from_the_members_join_as_the_rest_history()
    {
        var bob = await Server.RegisterAsync();
        var alice = await Server.RegisterAsync();
        var groupId = await OpenGroupAsync(bob);
        var conversationId = (string)(await Server.GroupAsync(bob, groupId))["conversationId"]!;
        await Server.SendTextAsync(bob, conversationId, "before alice");
        await Server.Post(alice, $"/api/groups/{groupId}/join", new JsonObject()).Expect(HttpStatusCode.OK);
        for (var i = 1; i <= 5; i++)
        {
            await Server.SendTextAsync(i % 2 == 0 ? alice : bob, conversationId, $"room {i}");
        }

        var rest = await Server.CatchUpAsync(alice, conversationId);
        Assert.Equal(5, rest.Count);
        var ids = rest.Select(m => $"{conversationId}:{m.Seq()}").ToList();
        var result = await Muc(alice, "mam", "--archive", Room(groupId), "--max", "2");
        Assert.True((bool?)result["ok"], result.ToJsonString());
        var forward = result["forward"]!.AsArray();
        Assert.Equal([ids[..2], ids[2..4], ids[4..]], forward.Select(p => p!["ids"]!.AsArray().Select(i => (string)i!).ToList()));
        Assert.Equal(rest.Select(m => (string)m["content"]!["text"]!), forward.SelectMany(p => p!["bodies"]!.AsArray().Select(b => (string)b!)));
        var backward = result["backward"]!.AsArray();
        Assert.Equal([ids[3..], ids[1..3], ids[..1]], backward.Select(p => p!["ids"]!.AsArray().Select(i => (string)i!).ToList()));
        Assert.True((bool)backward[^1]!["complete"]!);
    }
}

/// <summary>What no real client sends, and leaving a room, byte-exact over <see cref="RawXmpp"/> (SQLite; the rules are the store's either way).</summary>
public sealed class XmppMucRawTests(XmppSqliteFixture fixture) : BackendTests(fixture), IClassFixture<XmppSqliteFixture>
{
    private const string Service = "conference." + XmppFixture.Domain;

    private int Port => fixture.XmppPort;

    [Fact]
    public async Task Leaving_a_room_stops_its_messages_on_that_stream_and_keeps_the_membership()
    {
        var (alice, bob, direct) = await Server.FriendsWithConversationAsync();
        var groupId = (await Server.CreateGroupAsync(bob, new JsonObject { ["joinPolicy"] = "open", ["visibility"] = "public" })).Id();
        var conversationId = (string)(await Server.GroupAsync(bob, groupId))["conversationId"]!;
        var room = $"{groupId}@{Service}";
        await using var raw = await RawXmpp.LoginAsync(Port, alice.Username, alice.Password);
        await raw.SendAsync($"<presence to='{room}/whatever' id='j1'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>");
        var join = await raw.UntilAsync("</subject></message>");
        Assert.Contains("<status code='110'/>", join);
        Assert.Contains("<status code='210'/>", join); // the nick is the username, whatever was asked
        Assert.Contains($"from='{room}/{alice.Username.ToLowerInvariant()}'", join);

        await Server.SendTextAsync(bob, conversationId, "while joined");
        Assert.Contains($"from='{room}/{bob.Username.ToLowerInvariant()}'", await raw.UntilAsync("while joined</body>"));

        await raw.SendAsync($"<presence to='{room}/whatever' type='unavailable'/>");
        Assert.Contains("role='none'", await raw.UntilAsync("</presence>"));
        await Server.SendTextAsync(bob, conversationId, "after leaving");
        await Server.SendTextAsync(bob, direct, "sentinel"); // committed after it: delivered after it
        var upToSentinel = await raw.UntilAsync("sentinel</body>");
        Assert.DoesNotContain("after leaving", upToSentinel);
        Assert.Equal("member", await Server.RoleAsync(bob, groupId, alice)); // still in the group

        // Not joined any more: a groupchat is refused by the room.
        await raw.SendAsync($"<message type='groupchat' to='{room}' id='g1'><body>late</body></message>");
        var refused = await raw.UntilAsync("</error></message>");
        Assert.Contains("type='error'", refused);
        Assert.Contains("<not-acceptable", refused);
    }

    [Fact]
    public async Task Bad_muc_and_mam_requests_get_stanza_errors_and_the_stream_lives_on()
    {
        var (alice, bob, direct) = await Server.FriendsWithConversationAsync();
        var bobJid = $"{bob.Username.ToLowerInvariant()}@{XmppFixture.Domain}";
        await using var raw = await RawXmpp.LoginAsync(Port, alice.Username, alice.Password);

        await raw.SendAsync($"<presence to='somewhere@{Service}'/>");
        Assert.Contains("<jid-malformed", await raw.UntilAsync("</presence>"));

        const string Form = "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>";
        await raw.SendAsync($"<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2'>{Form}<field var='start'><value>2020-01-01T00:00:00Z</value></field></x></query></iq>");
        var unknownField = await raw.UntilAsync("</iq>");
        Assert.Contains("id='q1'", unknownField);
        Assert.Contains("<bad-request", unknownField);

        await raw.SendAsync("<iq type='set' id='q2'><query xmlns='urn:xmpp:mam:2'/></iq>");
        Assert.Contains("<feature-not-implemented", await raw.UntilAsync("</iq>"));

        await raw.SendAsync($"<iq type='set' id='q3'><query xmlns='urn:xmpp:mam:2'>{Form}<field var='with'><value>{bobJid}</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><after>1:1</after></set></query></iq>");
        Assert.Contains("<item-not-found", await raw.UntilAsync("</iq>"));

        await raw.SendAsync($"<iq type='set' id='q4'><query xmlns='urn:xmpp:mam:2'>{Form}<field var='with'><value>{bobJid}</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>lots</max></set></query></iq>");
        Assert.Contains("<bad-request", await raw.UntilAsync("</iq>"));

        await raw.SendAsync($"<message type='chat' to='123@{Service}/someone' id='p1'><body>private</body></message>");
        Assert.Contains("<not-acceptable", await raw.UntilAsync("</message>"));

        // A user without a conversation with Alice: an empty archive, and none is made.
        var stranger = await Server.RegisterAsync();
        await raw.SendAsync($"<iq type='set' id='q6'><query xmlns='urn:xmpp:mam:2'>{Form}<field var='with'><value>{stranger.Username.ToLowerInvariant()}@{XmppFixture.Domain}</value></field></x></query></iq>");
        var empty = await raw.UntilAsync("</iq>");
        Assert.DoesNotContain("<result", empty);
        Assert.Contains("complete='true'", empty);
        Assert.DoesNotContain((await Server.AllItemsAsync(alice, "/api/conversations")), c => (string?)c["peer"]?["id"] == stranger.Id);

        // The server's disco#info advertises MUC and MAM.
        await raw.SendAsync($"<iq type='get' id='d1' to='{XmppFixture.Domain}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        var info = await raw.UntilAsync("</iq>");
        Assert.Contains("var='urn:xmpp:mam:2'", info);
        Assert.Contains("var='http://jabber.org/protocol/muc'", info);
        Assert.Contains("var='http://jabber.org/protocol/rsm'", info);

        // Still alive: a good query answers, with the REST history's one message.
        await Server.SendTextAsync(bob, direct, "hello archive");
        await raw.SendAsync($"<iq type='set' id='q5'><query xmlns='urn:xmpp:mam:2' queryid='x'>{Form}<field var='with'><value>{bobJid}</value></field></x></query></iq>");
        var good = await raw.UntilAsync("</iq>");
        Assert.Contains("hello archive</body>", good);
        Assert.Contains("<fin xmlns='urn:xmpp:mam:2' complete='true'>", good);
        Assert.Contains($"id='{direct}:1'", good);
    }
}
