using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp;

public sealed class XmppStreamManagementTestsSqlite(XmppSqliteFixture fixture) : XmppStreamManagementTests(fixture), IClassFixture<XmppSqliteFixture>;

public sealed class XmppStreamManagementTestsPostgres(XmppPostgresFixture fixture) : XmppStreamManagementTests(fixture), IClassFixture<XmppPostgresFixture>;

/// <summary>A server whose resumption window is 1 s, so its end shows within a test.</summary>
public sealed class XmppShortWindowFixture : XmppFixture
{
    public override Backend Backend => Backend.Sqlite;

    protected override string[] ExtraArgs => [.. base.ExtraArgs, "--Xmpp:ResumeSeconds=1"];
}

/// <summary>XEP-0198 (docs/xmpp.md "Stream management") with slixmpp's xep_0198 plugin and a WebSocket user.</summary>
public abstract class XmppStreamManagementTests(XmppFixture fixture) : BackendTests(fixture)
{
    private int Port => fixture.XmppPort;

    internal static string Jid(TestUser user) => $"{user.Username.ToLowerInvariant()}@{XmppFixture.Domain}";

    internal static async Task<long> SendAsync(WsClient ws, string conversationId, string text)
    {
        var reference = "r-" + text;
        await ws.SendAsync(new JsonObject
        {
            ["type"] = "send", ["ref"] = reference, ["conversationId"] = conversationId, ["clientMsgId"] = "c-" + text,
            ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = text },
        });
        var sent = await ws.NextMatchingAsync(f => (string?)f["ref"] == reference);
        Assert.Equal("sent", (string?)sent["type"]);
        return (long)sent["message"]!["seq"]!;
    }

    [Fact]
    public async Task Enable_gives_a_resumable_id_and_acks_flow_both_ways()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, alice.AccessToken);
        await using var xmpp = SmClient.Start(Port, Jid(bob), bob.Password);
        var enabled = await xmpp.NextAsync("enabled");
        Assert.True((bool?)enabled["resume"]);
        Assert.Equal("300", (string?)enabled["max"]);
        Assert.Matches("^[A-Za-z0-9_-]{22}$", (string?)enabled["id"]); // 128 random bits
        await xmpp.NextAsync("session");

        // Bob's stanzas are counted: the server acknowledges all three.
        for (var i = 1; i <= 3; i++)
        {
            await xmpp.CommandAsync($"send {Jid(alice)} b{i} from bob {i}");
            await ws.NextAsync("message", where: f => (string?)f["message"]!["content"]!["text"] == $"from bob {i}");
        }

        await xmpp.CommandAsync("ackreq");
        await xmpp.NextAsync("acked", e => (int?)e["n"] == 3);

        // The server asks for acks after a few stanzas of its own.
        for (var i = 1; i <= 6; i++)
        {
            await SendAsync(ws, conversationId, $"to bob {i}");
        }

        await xmpp.NextAsync("r");
        for (var i = 1; i <= 6; i++)
        {
            Assert.Equal($"to bob {i}", (string?)(await xmpp.NextAsync("message"))["body"]);
        }
    }

    [Fact]
    public async Task A_dropped_tcp_connection_is_resumed_and_every_message_arrives_once_in_order()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, alice.AccessToken);
        await using var xmpp = SmClient.Start(Port, Jid(bob), bob.Password);
        await xmpp.NextAsync("enabled");
        var jid = (string)(await xmpp.NextAsync("session"))["jid"]!;
        await ws.NextAsync("presence", where: f => (string?)f["userId"] == bob.Id && (bool?)f["online"] == true);

        // Before the drop: six live (the server's <r/> after five is answered, so those are acknowledged).
        var texts = new List<string?>();
        for (var i = 1; i <= 6; i++)
        {
            texts.Add($"m{i}");
            await SendAsync(ws, conversationId, $"m{i}");
        }

        await xmpp.NextAsync("r");
        for (var i = 1; i <= 6; i++)
        {
            await xmpp.NextAsync("message", e => (string?)e["body"] == $"m{i}");
        }

        // The network goes away (an RST, no </stream:stream>); Alice keeps sending.
        await xmpp.CommandAsync("drop");
        await xmpp.NextAsync("disconnected");
        for (var i = 7; i <= 14; i++)
        {
            texts.Add($"m{i}");
            await SendAsync(ws, conversationId, $"m{i}");
        }

        // Back: resumed, m7..m14 (queued for the detached stream) and whatever of m6 was not acknowledged are resent.
        await xmpp.CommandAsync("reconnect");
        var resumed = await xmpp.NextAsync("resumed");
        Assert.Equal(jid, (string?)resumed["jid"]); // the same resource: the same device session
        for (var i = 15; i <= 16; i++)
        {
            texts.Add($"m{i}");
            await SendAsync(ws, conversationId, $"m{i}");
        }

        await xmpp.NextAsync("message", e => (string?)e["body"] == "m16");
        var bodies = xmpp.Taken("message").Select(e => (string?)e["body"]).ToList();
        Assert.Equal(texts, bodies); // every one, once, in order

        // The order is the history's, and the stanza-ids are its seqs.
        var history = await Server.Get(bob, $"/api/conversations/{conversationId}/messages?after=0").Expect(HttpStatusCode.OK);
        var items = history["items"]!.AsArray();
        Assert.Equal(texts, items.Select(m => (string?)m!["content"]!["text"]).ToList());
        Assert.Equal(items.Select(m => $"{conversationId}:{(long)m!["seq"]!}"), xmpp.Taken("message").Select(e => (string?)e["stanzaId"]));

        // The device stayed connected for Parley while it waited: no offline presence came to Alice before now.
        Assert.False(ws.Has("presence", f => (string?)f["userId"] == bob.Id && (bool?)f["online"] == false));

        // And the resumed stream is live both ways.
        await xmpp.CommandAsync($"send {Jid(alice)} after-resume back from bob");
        await ws.NextAsync("message", where: f => (string?)f["message"]!["content"]!["text"] == "back from bob");
    }

    [Fact]
    public async Task Another_users_resumption_id_is_refused_like_an_unknown_one()
    {
        var (_, bob, _) = await Server.FriendsWithConversationAsync();
        var carol = await Server.RegisterAsync();
        await using var xmppBob = SmClient.Start(Port, Jid(bob), bob.Password);
        var id = (string)(await xmppBob.NextAsync("enabled"))["id"]!;
        await xmppBob.NextAsync("session");
        await xmppBob.CommandAsync("drop");
        await xmppBob.NextAsync("disconnected");

        // Carol presents Bob's id: refused with item-not-found, then she gets a session of her own.
        await using var xmppCarol = SmClient.Start(Port, Jid(carol), carol.Password, id);
        var failed = await xmppCarol.NextAsync("failed");
        Assert.Equal("item-not-found", (string?)failed["condition"]);
        var session = await xmppCarol.NextAsync("session");
        Assert.StartsWith(Jid(carol) + "/", (string?)session["jid"]);

        // An id nobody has: the same answer.
        await using var xmppGuess = SmClient.Start(Port, Jid(carol), carol.Password, "AAAAAAAAAAAAAAAAAAAAAA");
        Assert.Equal("item-not-found", (string?)(await xmppGuess.NextAsync("failed"))["condition"]);

        // Bob's stream was not touched: he resumes it.
        await xmppBob.CommandAsync("reconnect");
        await xmppBob.NextAsync("resumed");
    }

    [Fact]
    public async Task A_clean_close_ends_the_device_session_at_once()
    {
        var (alice, bob, _) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, alice.AccessToken);
        await using var xmpp = SmClient.Start(Port, Jid(bob), bob.Password);
        await xmpp.NextAsync("enabled");
        await xmpp.NextAsync("session");
        await ws.NextAsync("presence", where: f => (string?)f["userId"] == bob.Id && (bool?)f["online"] == true);
        await xmpp.CommandAsync("close");
        await ws.NextAsync("presence", where: f => (string?)f["userId"] == bob.Id && (bool?)f["online"] == false);
    }
}

/// <summary>The end of the resumption window: the device session ends, and a late resume gets a fresh session.</summary>
public sealed class XmppResumptionWindowTests(XmppShortWindowFixture fixture) : BackendTests(fixture), IClassFixture<XmppShortWindowFixture>
{
    [Fact]
    public async Task A_resume_after_the_window_fails_and_the_client_gets_a_fresh_session()
    {
        var (alice, bob, conversationId) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, alice.AccessToken);
        await using var xmpp = SmClient.Start(fixture.XmppPort, XmppStreamManagementTests.Jid(bob), bob.Password);
        await xmpp.NextAsync("enabled");
        var first = (string)(await xmpp.NextAsync("session"))["jid"]!;
        await ws.NextAsync("presence", where: f => (string?)f["userId"] == bob.Id && (bool?)f["online"] == true);

        await xmpp.CommandAsync("drop");
        await xmpp.NextAsync("disconnected");
        // The window passing is what ends the device session: Bob goes offline for his friends.
        await ws.NextAsync("presence", TimeSpan.FromSeconds(30), f => (string?)f["userId"] == bob.Id && (bool?)f["online"] == false);

        await xmpp.CommandAsync("reconnect");
        Assert.Equal("item-not-found", (string?)(await xmpp.NextAsync("failed"))["condition"]);
        var fresh = (string)(await xmpp.NextAsync("session"))["jid"]!;
        Assert.NotEqual(first, fresh); // a new device session, a new resource
        await xmpp.NextAsync("enabled");
        await XmppStreamManagementTests.SendAsync(ws, conversationId, "after the window");
        Assert.Equal("after the window", (string?)(await xmpp.NextAsync("message"))["body"]);
    }
}

/// <summary>tests/xmpp/sm_client.py (slixmpp + xep_0198) as a child process driven by lines: JSON events out, commands in.</summary>
public sealed class SmClient : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<JsonObject> _events = Channel.CreateUnbounded<JsonObject>();
    private readonly List<JsonObject> _unread = [];
    private readonly List<JsonObject> _all = []; // every event read, in arrival order
    private readonly System.Text.StringBuilder _stderr = new();

    private SmClient(Process process)
    {
        _process = process;
    }

    public static SmClient Start(int port, string jid, string password, string? resumeId = null)
    {
        var python = Environment.GetEnvironmentVariable("PARLEY_TEST_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        string[] args = [Path.Combine(Root(), "tests", "xmpp", "sm_client.py"), "--jid", jid, "--password", password, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        foreach (var arg in resumeId is null ? args : [.. args, "--resume-id", resumeId])
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        var client = new SmClient(process);
        process.ErrorDataReceived += (_, e) =>
        {
            lock (client._stderr)
            {
                client._stderr.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        _ = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.StartsWith('{'))
                {
                    client._events.Writer.TryWrite(JsonNode.Parse(line)!.AsObject());
                }
            }

            client._events.Writer.TryComplete();
        });
        return client;
    }

    /// <summary>The next event of <paramref name="name"/> (others stay unread for later calls).</summary>
    public async Task<JsonObject> NextAsync(string name, Func<JsonObject, bool>? where = null, TimeSpan? wait = null)
    {
        using var timeout = new CancellationTokenSource(wait ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var index = _unread.FindIndex(e => (string?)e["event"] == name && (where is null || where(e)));
            if (index >= 0)
            {
                var found = _unread[index];
                _unread.RemoveAt(index);
                return found;
            }

            JsonObject next;
            try
            {
                next = await _events.Reader.ReadAsync(timeout.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
            {
                string err;
                lock (_stderr)
                {
                    err = _stderr.ToString();
                }

                throw new TimeoutException($"no '{name}' event; unread: {string.Join(" | ", _unread.Select(u => u.ToJsonString()))}; stderr: {err[Math.Max(0, err.Length - 3000)..]}");
            }

            _unread.Add(next);
            _all.Add(next);
        }
    }

    /// <summary>Every event of <paramref name="name"/> received so far (taken or not), in arrival order.</summary>
    public List<JsonObject> Taken(string name)
    {
        while (_events.Reader.TryRead(out var e))
        {
            _unread.Add(e);
            _all.Add(e);
        }

        return [.. _all.Where(e => (string?)e["event"] == name)];
    }

    /// <summary>Sends a command and waits for the script to have run it.</summary>
    public async Task CommandAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        var name = command.Split(' ')[0];
        await NextAsync("done", e => (string?)e["cmd"] == name);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _process.StandardInput.WriteLineAsync("quit");
            await _process.StandardInput.FlushAsync();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is IOException or TimeoutException or InvalidOperationException)
        {
            // gone already, or stuck: killed below
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }

    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "tests", "xmpp", "sm_client.py")) && File.Exists(Path.Combine(dir.FullName, "Parley.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("tests/xmpp/sm_client.py was not found above " + AppContext.BaseDirectory);
    }
}
