using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp;

public sealed class XmppSocialTestsSqlite(XmppSqliteFixture fixture) : XmppSocialTests(fixture), IClassFixture<XmppSqliteFixture>;

public sealed class XmppSocialTestsPostgres(XmppPostgresFixture fixture) : XmppSocialTests(fixture), IClassFixture<XmppPostgresFixture>;

/// <summary>
/// Roster = friends, presence, chat states, markers/receipts and carbons (docs/xmpp.md "Social") with slixmpp
/// (tests/xmpp/social_session.py, long-lived) on one side and WebSocket/REST users on the other.
/// </summary>
public abstract class XmppSocialTests(XmppFixture fixture) : BackendTests(fixture)
{
    private int Port => fixture.XmppPort;

    private static string Jid(TestUser user) => $"{user.Username.ToLowerInvariant()}@{XmppFixture.Domain}";

    [Fact]
    public async Task The_roster_is_the_friend_list_and_another_users_roster_is_forbidden()
    {
        var alice = await Server.RegisterAsync();
        var bob = await Server.RegisterAsync(nickname: "Bobby");
        var carol = await Server.RegisterAsync();
        var stranger = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(alice, bob);
        await Server.MakeFriendsAsync(carol, alice);

        await using var xmpp = await SlixmppSession.StartAsync(Port, alice);
        var roster = await xmpp.CommandAsync(new JsonObject { ["cmd"] = "roster" });
        var items = roster["items"]!.AsObject();
        Assert.Equal(new[] { Jid(bob), Jid(carol) }.Order(StringComparer.Ordinal), items.Select(i => i.Key).Order(StringComparer.Ordinal));
        Assert.Equal("both", (string?)items[Jid(bob)]!["subscription"]);
        Assert.Equal("Bobby", (string?)items[Jid(bob)]!["name"]);
        Assert.DoesNotContain(Jid(stranger), items.Select(i => i.Key));

        await using var raw = await RawXmpp.LoginAsync(Port, stranger.Username, stranger.Password);
        await raw.SendAsync($"<iq type='get' id='r1' to='{Jid(alice)}'><query xmlns='jabber:iq:roster'/></iq>");
        var refused = await raw.UntilAsync("</iq>");
        Assert.Contains("type='error' id='r1'", refused);
        Assert.Contains("<forbidden", refused);
        Assert.DoesNotContain(Jid(bob), refused);

        // Disco advertises what this part maps.
        var probe = await Slixmpp.RunAsync(Port, Jid(alice), alice.Password, "probe");
        var features = probe["features"]!.AsArray().Select(f => (string?)f).ToList();
        foreach (var feature in (string[])["urn:xmpp:carbons:2", "http://jabber.org/protocol/chatstates", "urn:xmpp:chat-markers:0", "urn:xmpp:receipts", "urn:xmpp:idle:1"])
        {
            Assert.Contains(feature, features);
        }
    }

    [Fact]
    public async Task A_roster_add_is_a_friend_request_its_acceptance_is_pushed_and_a_remove_unfriends()
    {
        var alice = await Server.RegisterAsync();
        var bob = await Server.RegisterAsync(nickname: "Bob B");
        await using var ws = await WsClient.ConnectAsync(Server, bob.AccessToken);
        await using var xmpp = await SlixmppSession.StartAsync(Port, alice);

        var added = await xmpp.CommandAsync(new JsonObject { ["cmd"] = "add", ["jid"] = Jid(bob) });
        Assert.True((bool?)added["ok"], added.ToJsonString());
        var request = await ws.NextAsync("notify", where: f => (string?)f["kind"] == "friend.request");
        Assert.Equal(alice.Id, (string?)request["data"]!["fromUserId"]);

        await Server.Post(bob, $"/api/friends/requests/{(string)request["data"]!["id"]!}/accept").Expect(HttpStatusCode.OK);
        var push = await xmpp.NextAsync(e => (string?)e["event"] == "roster_update" && e["items"]!.AsObject().ContainsKey(Jid(bob)));
        Assert.Equal("both", (string?)push["items"]![Jid(bob)]!["subscription"]);
        Assert.Equal("Bob B", (string?)push["items"]![Jid(bob)]!["name"]);
        await xmpp.NextAsync(e => (string?)e["event"] == "presence_subscribed" && (string?)e["frm"] == Jid(bob));

        var removed = await xmpp.CommandAsync(new JsonObject { ["cmd"] = "remove", ["jid"] = Jid(bob) });
        Assert.True((bool?)removed["ok"], removed.ToJsonString());
        var gone = await ws.NextAsync("notify", where: f => (string?)f["kind"] == "friend.removed");
        Assert.Equal(alice.Id, (string?)gone["data"]!["userId"]);
        await xmpp.NextAsync(e => (string?)e["event"] == "roster_update" && (string?)e["items"]![Jid(bob)]?["subscription"] == "remove");
        Assert.Empty(await Server.FriendsAsync(bob));

        // Removing someone who is no friend is item-not-found; the stream lives on.
        var again = await xmpp.CommandAsync(new JsonObject { ["cmd"] = "remove", ["jid"] = Jid(bob) });
        Assert.Equal("item-not-found", (string?)again["error"]);
    }

    [Fact]
    public async Task A_friend_request_arrives_as_subscribe_subscribed_accepts_it_and_unsubscribed_declines()
    {
        var alice = await Server.RegisterAsync();
        var carol = await Server.RegisterAsync();
        var dave = await Server.RegisterAsync();
        await using var carolWs = await WsClient.ConnectAsync(Server, carol.AccessToken);
        await using var xmpp = await SlixmppSession.StartAsync(Port, alice);

        await Server.SendFriendRequestAsync(carol, alice, "hi alice");
        var subscribe = await xmpp.NextAsync(e => (string?)e["event"] == "presence_subscribe" && (string?)e["frm"] == Jid(carol));
        Assert.Equal("hi alice", (string?)subscribe["status"]);
        await xmpp.CommandAsync(new JsonObject { ["cmd"] = "presence", ["to"] = Jid(carol), ["type"] = "subscribed" });
        var accepted = await carolWs.NextAsync("notify", where: f => (string?)f["kind"] == "friend.accepted");
        Assert.Equal("accepted", (string?)accepted["data"]!["status"]);
        await xmpp.NextAsync(e => (string?)e["event"] == "roster_update" && (string?)e["items"]![Jid(carol)]?["subscription"] == "both");

        await Server.SendFriendRequestAsync(dave, alice);
        await xmpp.NextAsync(e => (string?)e["event"] == "presence_subscribe" && (string?)e["frm"] == Jid(dave));
        await xmpp.CommandAsync(new JsonObject { ["cmd"] = "presence", ["to"] = Jid(dave), ["type"] = "unsubscribed" });
        await Poll.UntilAsync(async () => (await Server.PendingRequestsAsync(dave, "outgoing")).Count == 0, "the request is declined");
        Assert.Equal([carol.Id], await Server.FriendIdsAsync(alice));
    }

    [Fact]
    public async Task A_websocket_friends_presence_reaches_the_xmpp_client_and_a_strangers_probe_is_refused()
    {
        var alice = await Server.RegisterAsync();
        var bob = await Server.RegisterAsync();
        var carol = await Server.RegisterAsync();
        var stranger = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(alice, bob);
        await Server.MakeFriendsAsync(alice, carol);

        // Bob is online before Alice's initial presence: she gets it then; Carol comes online after; Bob leaves.
        var bobWs = await WsClient.ConnectAsync(Server, bob.AccessToken);
        await using var xmpp = await SlixmppSession.StartAsync(Port, alice);
        await xmpp.NextAsync(e => (string?)e["event"] == "got_online" && (string?)e["frm"] == Jid(bob));
        await using (var carolWs = await WsClient.ConnectAsync(Server, carol.AccessToken))
        {
            await xmpp.NextAsync(e => (string?)e["event"] == "got_online" && (string?)e["frm"] == Jid(carol));
        }

        await xmpp.NextAsync(e => (string?)e["event"] == "got_offline" && (string?)e["frm"] == Jid(carol));
        var offline = await xmpp.NextAsync(e => (string?)e["event"] == "in" && ((string)e["xml"]!).Contains("type=\"unavailable\"") && ((string)e["xml"]!).Contains(Jid(carol)));
        Assert.Contains("urn:xmpp:idle:1", (string)offline["xml"]!); // XEP-0319: since the last seen time
        await bobWs.DisposeAsync();
        await xmpp.NextAsync(e => (string?)e["event"] == "got_offline" && (string?)e["frm"] == Jid(bob));
        static bool UnavailableFrom(JsonObject e, string jid) => (string?)e["event"] == "in" && ((string)e["xml"]!).Contains("type=\"unavailable\"") && ((string)e["xml"]!).Contains(jid);
        Assert.Contains("urn:xmpp:idle:1", (string)(await xmpp.NextAsync(e => UnavailableFrom(e, Jid(bob))))["xml"]!);

        // A probe of a friend is answered from Parley's presence (this one without idle: it is no presence frame).
        await xmpp.CommandAsync(new JsonObject { ["cmd"] = "presence", ["to"] = Jid(bob), ["type"] = "probe" });
        Assert.DoesNotContain("urn:xmpp:idle:1", (string)(await xmpp.NextAsync(e => UnavailableFrom(e, Jid(bob))))["xml"]!);

        // Alice is online to her WebSocket friends as long as the stream is open (it binds a device).
        await using var carolAgain = await WsClient.ConnectAsync(Server, carol.AccessToken);
        var friends = await Server.FriendsAsync(carol);
        Assert.True((bool?)friends.Single()["online"]);

        // A stranger learns nothing: a probe is refused, a subscription to someone who blocked them is forbidden.
        await Server.Send(HttpMethod.Put, $"/api/blocks/{stranger.Id}", alice.AccessToken).Expect(HttpStatusCode.NoContent);
        await using var raw = await RawXmpp.LoginAsync(Port, stranger.Username, stranger.Password);
        await raw.SendAsync($"<presence type='probe' to='{Jid(alice)}'/>");
        var probe = await raw.UntilAsync("</presence>");
        Assert.Contains("type='error'", probe);
        Assert.Contains("<forbidden", probe);
        await raw.SendAsync($"<presence type='subscribe' to='{Jid(alice)}'/>");
        var subscribe = await raw.UntilAsync("</presence>");
        Assert.Contains("<forbidden", subscribe);
        Assert.Contains("blocked", subscribe);
        Assert.Empty(await Server.PendingRequestsAsync(alice, "incoming"));
    }

    [Fact]
    public async Task Bad_social_stanzas_get_their_errors_or_nothing_and_the_stream_lives_on()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        var stranger = await Server.RegisterAsync();
        await using var ws = await WsClient.ConnectAsync(Server, bob.AccessToken);
        await using var raw = await RawXmpp.LoginAsync(Port, alice.Username, alice.Password);

        await raw.SendAsync($"<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='{Jid(bob)}'/><item jid='{Jid(stranger)}'/></query></iq>");
        Assert.Contains("<bad-request", await raw.UntilAsync("</iq>"));
        await raw.SendAsync($"<iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='nobody-{Guid.NewGuid():N}@{XmppFixture.Domain}'/></query></iq>");
        Assert.Contains("<item-not-found", await raw.UntilAsync("</iq>"));
        await raw.SendAsync("<iq type='set' id='r3'><query xmlns='jabber:iq:roster'><item jid='someone@elsewhere.example'/></query></iq>");
        Assert.Contains("<item-not-found", await raw.UntilAsync("</iq>"));
        await raw.SendAsync("<iq type='get' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>");
        Assert.Contains("<bad-request", await raw.UntilAsync("</iq>"));

        // Markers and chat states nobody can map are dropped without an answer: to a stranger, with ids of nothing.
        await raw.SendAsync($"<message type='chat' to='{Jid(stranger)}'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
        await raw.SendAsync($"<message type='chat' to='{Jid(bob)}'><displayed xmlns='urn:xmpp:chat-markers:0' id='{conversationId}:99999x'/></message>");
        await raw.SendAsync($"<message type='chat' to='{Jid(bob)}'><displayed xmlns='urn:xmpp:chat-markers:0' id='no-such-message'/></message>");
        await raw.SendAsync($"<message type='chat' to='{Jid(bob)}'><displayed xmlns='urn:xmpp:chat-markers:0'/></message>");
        await raw.SendAsync($"<message type='chat' to='{Jid(bob)}'><paused xmlns='http://jabber.org/protocol/chatstates'/></message>");
        await raw.SendAsync($"<presence type='subscribed' to='{Jid(stranger)}'/>");
        await raw.SendAsync("<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>");
        var answered = await raw.UntilAsync("id='after'");
        Assert.DoesNotContain("<message", answered);
        Assert.DoesNotContain("<presence", answered);

        // Bob saw no typing and no read from any of it; the next composing is the first typing he sees.
        await raw.SendAsync($"<message type='chat' to='{Jid(bob)}'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
        var first = await ws.NextMatchingAsync(f => (string?)f["type"] is "typing" or "read");
        Assert.Equal("typing", (string?)first["type"]);
        Assert.Empty(await Server.FriendIdsAsync(stranger));
    }

    [Fact]
    public async Task Chat_states_map_to_typing_both_ways()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, bob.AccessToken);
        await using var xmpp = await SlixmppSession.StartAsync(Port, alice);

        await xmpp.CommandAsync(new JsonObject { ["cmd"] = "composing", ["to"] = Jid(bob) });
        var typing = await ws.NextAsync("typing");
        Assert.Equal(alice.Id, (string?)typing["userId"]);
        Assert.Equal(conversationId, (string?)typing["conversationId"]);

        await ws.SendAsync(new JsonObject { ["type"] = "typing", ["conversationId"] = conversationId });
        await xmpp.NextAsync(e => (string?)e["event"] == "chatstate_composing" && (string?)e["frm"] == Jid(bob));
    }

    [Fact]
    public async Task A_displayed_marker_is_a_read_and_a_websocket_read_is_a_marker_and_a_requested_receipt()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, bob.AccessToken);
        await using var xmpp = await SlixmppSession.StartAsync(Port, alice);

        // Bob's message reaches Alice as a markable chat; her displayed marker for its id is her read up to it.
        await ws.SendAsync(new JsonObject
        {
            ["type"] = "send", ["ref"] = "r1", ["conversationId"] = conversationId, ["clientMsgId"] = "bob-1",
            ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = "read me" },
        });
        var seq = (long)(await ws.NextAsync("sent"))["message"]!["seq"]!;
        var chat = await xmpp.NextAsync(e => (string?)e["event"] == "in" && ((string)e["xml"]!).Contains("read me"));
        Assert.Contains("urn:xmpp:chat-markers:0", (string)chat["xml"]!);
        await xmpp.CommandAsync(new JsonObject { ["cmd"] = "displayed", ["to"] = Jid(bob), ["id"] = "bob-1" });
        var read = await ws.NextAsync("read");
        Assert.Equal(alice.Id, (string?)read["userId"]);
        Assert.Equal(seq, (long)read["seq"]!);
        Assert.Equal(seq, (long)(await Server.ConversationAsync(alice, conversationId))["readSeq"]!);

        // Alice's message asks for a receipt; Bob reading it is a displayed marker and the receipt, for its id.
        await xmpp.CommandAsync(new JsonObject { ["cmd"] = "chat", ["to"] = Jid(bob), ["body"] = "did you see", ["id"] = "alice-1", ["receipt"] = true });
        var mine = await ws.NextAsync("message");
        Assert.Equal("alice-1", (string?)mine["message"]!["clientMsgId"]);
        await ws.SendAsync(new JsonObject { ["type"] = "read", ["conversationId"] = conversationId, ["seq"] = (long)mine["message"]!["seq"]! });
        var marker = await xmpp.NextAsync(e => (string?)e["event"] == "marker_displayed");
        Assert.Equal(Jid(bob), (string?)marker["frm"]);
        Assert.Equal("alice-1", (string?)marker["id"]);
        var receipt = await xmpp.NextAsync(e => (string?)e["event"] == "receipt_received");
        Assert.Equal("alice-1", (string?)receipt["id"]);
    }

    [Fact]
    public async Task Carbons_reach_the_users_other_resources_from_xmpp_and_from_a_websocket_device()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var bobWs = await WsClient.ConnectAsync(Server, bob.AccessToken);
        await using var first = await SlixmppSession.StartAsync(Port, alice, "--carbons");
        await using var second = await SlixmppSession.StartAsync(Port, alice, "--carbons");

        await first.CommandAsync(new JsonObject { ["cmd"] = "chat", ["to"] = Jid(bob), ["body"] = "from the first", ["id"] = "c-1" });
        Assert.Equal("from the first", (string?)(await bobWs.NextAsync("message"))["message"]!["content"]!["text"]);
        var carbon = await second.NextAsync(e => (string?)e["event"] == "carbon_sent");
        Assert.Equal(Jid(bob), (string?)carbon["to"]);
        Assert.Equal("from the first", (string?)carbon["body"]);
        Assert.Equal("c-1", (string?)carbon["id"]);

        // A WebSocket device of Alice sends: both resources get the carbon.
        var aliceLogin = await Server.LoginAsync(alice.Username, alice.Password, device: "phone");
        await using var aliceWs = await WsClient.ConnectAsync(Server, aliceLogin.AccessToken);
        await aliceWs.SendAsync(new JsonObject
        {
            ["type"] = "send", ["ref"] = "r1", ["conversationId"] = conversationId, ["clientMsgId"] = "ws-1",
            ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = "from the phone" },
        });
        await aliceWs.NextAsync("sent");
        foreach (var resource in (SlixmppSession[])[first, second])
        {
            var copy = await resource.NextAsync(e => (string?)e["event"] == "carbon_sent" && (string?)e["body"] == "from the phone");
            Assert.Equal(Jid(bob), (string?)copy["to"]);
        }

        // The first resource got no carbon of its own message: the phone's was its first one.
        Assert.DoesNotContain(first.Seen, e => (string?)e["event"] == "carbon_sent" && (string?)e["body"] == "from the first");
    }
}

/// <summary>tests/xmpp/social_session.py as a child process: JSON commands in, JSON events out, every wait bounded.</summary>
public sealed class SlixmppSession : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<JsonObject> _events = Channel.CreateUnbounded<JsonObject>();
    private readonly List<JsonObject> _pending = [];
    private readonly Task _reader;
    private readonly Task<string> _stderr;

    private SlixmppSession(Process process)
    {
        _process = process;
        _stderr = process.StandardError.ReadToEndAsync();
        _reader = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.StartsWith('{'))
                {
                    _events.Writer.TryWrite(JsonNode.Parse(line)!.AsObject());
                }
            }

            _events.Writer.TryComplete();
        });
    }

    /// <summary>Every event seen so far (matched or not).</summary>
    public List<JsonObject> Seen { get; } = [];

    public string Jid { get; private set; } = "";

    public static async Task<SlixmppSession> StartAsync(int port, TestUser user, params string[] args)
    {
        var python = Environment.GetEnvironmentVariable("PARLEY_TEST_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var arg in (string[])[Path.Combine(Root(), "tests", "xmpp", "social_session.py"), "--jid", $"{user.Username.ToLowerInvariant()}@{XmppFixture.Domain}", "--password", user.Password, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. args])
        {
            start.ArgumentList.Add(arg);
        }

        var session = new SlixmppSession(Process.Start(start) ?? throw new InvalidOperationException("python3 did not start"));
        var started = await session.NextAsync(e => (string?)e["event"] == "session");
        session.Jid = (string)started["jid"]!;
        return session;
    }

    /// <summary>The first event (in arrival order, not matched before) that <paramref name="where"/> accepts.</summary>
    public async Task<JsonObject> NextAsync(Func<JsonObject, bool> where, TimeSpan? wait = null)
    {
        using var timeout = new CancellationTokenSource(wait ?? TimeSpan.FromSeconds(20));
        if (_pending.FirstOrDefault(where) is { } earlier)
        {
            _pending.Remove(earlier);
            return earlier;
        }

        try
        {
            while (true)
            {
                var next = await _events.Reader.ReadAsync(timeout.Token);
                Seen.Add(next);
                if ((string?)next["event"] == "timeout")
                {
                    throw new TimeoutException("the slixmpp session timed out");
                }

                if (where(next))
                {
                    return next;
                }

                _pending.Add(next);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            throw new TimeoutException($"no matching slixmpp event; seen: {string.Join("\n", Seen.Select(s => s.ToJsonString()))}\nstderr: {(_process.HasExited ? await _stderr : "")}");
        }
    }

    /// <summary>Writes a command and waits for its result event.</summary>
    public async Task<JsonObject> CommandAsync(JsonObject command)
    {
        var name = (string)command["cmd"]!;
        await _process.StandardInput.WriteLineAsync(command.ToJsonString());
        await _process.StandardInput.FlushAsync();
        return await NextAsync(e => (string?)e["event"] == "result" && (string?)e["cmd"] == name);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await _process.StandardInput.WriteLineAsync("""{"cmd":"quit"}""");
                await _process.StandardInput.FlushAsync();
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _process.WaitForExitAsync(wait.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        _process.Dispose();
    }

    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "tests", "xmpp", "social_session.py")) && File.Exists(Path.Combine(dir.FullName, "Parley.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("tests/xmpp/social_session.py was not found above " + AppContext.BaseDirectory);
    }
}
