using System.Net;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Realtime;

public sealed class SocketBudgetTestsSqlite() : SocketBudgetTests(Backend.Sqlite);

public sealed class SocketBudgetTestsPostgres() : SocketBudgetTests(Backend.Postgres);

/// <summary>
/// What one user can make the server hold for a socket: pages of history bounded by bytes as well as items
/// (a sync of big messages used to exceed the send queue's byte budget and reset the socket on every retry).
/// </summary>
public abstract class SocketBudgetTests(Backend backend) : OwnServerTests(backend)
{
    private const int BigMessages = 70;

    [Fact]
    public async Task A_sync_of_big_messages_is_paged_by_bytes_and_reaches_every_message_once()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Messaging:SendBurst=1000", "--Messaging:SendRatePerSecond=1000");
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        await SendBigAsync(server, a, conversationId, BigMessages);

        await using var ws = await WsClient.ConnectAsync(server, b.AccessToken);
        var seqs = new List<long>();
        var after = 0L;
        for (var page = 0; page < BigMessages + 1; page++)
        {
            // limit=200, as docs/protocol.md recommends: 70 messages of 64 KiB are more than the 4 MiB send queue.
            await ws.SendAsync(new JsonObject { ["type"] = "sync", ["ref"] = page, ["conversationId"] = conversationId, ["afterSeq"] = after, ["limit"] = 200 });
            var answer = await ws.NextAsync("messages", where: f => (int)f["ref"]! == page);
            var items = answer["items"]!.AsArray();
            Assert.NotEmpty(items);
            if (page == 0)
            {
                Assert.True((bool)answer["hasMore"]!);
                Assert.True(items.Count < BigMessages, $"the first page held {items.Count} of {BigMessages} big messages");
            }

            seqs.AddRange(items.Select(i => i!.Seq()));
            Assert.Equal(BigMessages, (long)answer["maxSeq"]!);
            if (!(bool)answer["hasMore"]!)
            {
                break;
            }

            after = seqs[^1];
        }

        Assert.Equal(Enumerable.Range(1, BigMessages).Select(i => (long)i), seqs);
        // Still the same open connection: it answers.
        await ws.SendAsync(new JsonObject { ["type"] = "ping" });
        await ws.NextAsync("pong");
        Assert.Equal(WebSocketState.Open, ws.State);
    }

    [Fact]
    public async Task Http_history_of_big_messages_is_paged_by_bytes_both_ways()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Messaging:SendBurst=1000", "--Messaging:SendRatePerSecond=1000");
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        await SendBigAsync(server, a, conversationId, BigMessages);

        var first = await server.Get(b, $"/api/conversations/{conversationId}/messages?after=0&limit=200").Expect(HttpStatusCode.OK);
        Assert.True((bool)first["hasMore"]!);
        var firstCount = first["items"]!.AsArray().Count;
        Assert.InRange(firstCount, 1, BigMessages - 1);

        var all = await server.CatchUpAsync(b, conversationId, limit: 200);
        Assert.Equal(Enumerable.Range(1, BigMessages).Select(i => (long)i), all.Select(m => m.Seq()));

        // Backwards (before=): the newest ones that fit, then older pages, down to seq 1, each once.
        var back = new List<long>();
        var before = BigMessages + 1L;
        for (var page = 0; page < BigMessages + 1; page++)
        {
            var json = await server.Get(b, $"/api/conversations/{conversationId}/messages?before={before}&limit=200").Expect(HttpStatusCode.OK);
            var items = json["items"]!.AsArray().Select(i => i!.Seq()).ToList();
            Assert.NotEmpty(items);
            Assert.Equal(items.Order(), items);
            if (page == 0)
            {
                Assert.True((bool)json["hasMore"]!);
                Assert.Equal(BigMessages, items[^1]);
            }

            back.InsertRange(0, items);
            if (!(bool)json["hasMore"]!)
            {
                break;
            }

            before = items[0];
        }

        Assert.Equal(Enumerable.Range(1, BigMessages).Select(i => (long)i), back);
    }

    [Fact]
    public async Task A_message_bigger_than_the_page_budget_still_comes_one_per_page()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Messaging:MaxPageBytes=1000");
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        await SendBigAsync(server, a, conversationId, 3);

        var first = await server.Get(b, $"/api/conversations/{conversationId}/messages?after=0&limit=200").Expect(HttpStatusCode.OK);
        Assert.Single(first["items"]!.AsArray());
        Assert.True((bool)first["hasMore"]!);

        await using var ws = await WsClient.ConnectAsync(server, b.AccessToken);
        await ws.SendAsync(new JsonObject { ["type"] = "sync", ["ref"] = 1, ["conversationId"] = conversationId, ["afterSeq"] = 2, ["limit"] = 200 });
        var last = await ws.NextAsync("messages");
        Assert.Equal(3, Assert.Single(last["items"]!.AsArray())!.Seq());
        Assert.False((bool)last["hasMore"]!);
    }

    [Fact]
    public async Task A_user_holds_at_most_MaxConnectionsPerUser_sockets_and_the_next_upgrade_is_refused_with_429()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Realtime:MaxConnectionsPerUser=3");
        var user = await server.RegisterAsync();
        var other = await server.RegisterAsync();
        var open = new List<WsClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                open.Add(await WsClient.ConnectAsync(server, user.AccessToken));
            }

            // The new one is refused before the upgrade; the open ones are kept and still answer.
            Assert.Equal((HttpStatusCode)429, await WsClient.RefusedAsync(server, user.AccessToken));
            foreach (var ws in open)
            {
                await ws.SendAsync(new JsonObject { ["type"] = "ping" });
                await ws.NextAsync("pong");
            }

            // The cap is per user: someone else connects.
            await using (await WsClient.ConnectAsync(server, other.AccessToken))
            {
            }

            // Closing one gives its slot back.
            await open[0].CloseAsync(WebSocketCloseStatus.NormalClosure);
            await open[0].DisposeAsync();
            open.RemoveAt(0);
            open.Add(await ConnectOnceASlotIsFreeAsync(server, user));
            Assert.Equal((HttpStatusCode)429, await WsClient.RefusedAsync(server, user.AccessToken));
        }
        finally
        {
            foreach (var ws in open)
            {
                await ws.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Upgrades_racing_for_the_last_slots_never_exceed_the_cap()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Realtime:MaxConnectionsPerUser=4");
        var user = await server.RegisterAsync();
        var uri = new UriBuilder(server.BaseUri) { Scheme = "ws", Path = "/ws", Query = "access_token=" + Uri.EscapeDataString(user.AccessToken) }.Uri;
        var sockets = Enumerable.Range(0, 16).Select(_ => new ClientWebSocket()).ToList();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var attempts = sockets.Select(async socket =>
            {
                socket.Options.CollectHttpResponseDetails = true;
                try
                {
                    await socket.ConnectAsync(uri, timeout.Token);
                    return HttpStatusCode.SwitchingProtocols;
                }
                catch (WebSocketException)
                {
                    return socket.HttpStatusCode;
                }
            }).ToList();
            var statuses = await Task.WhenAll(attempts);
            Assert.Equal(4, statuses.Count(s => s == HttpStatusCode.SwitchingProtocols));
            Assert.Equal(12, statuses.Count(s => s == (HttpStatusCode)429));
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>Connects as soon as the server has given back a closed socket's slot (it does so once that socket's handler ends).</summary>
    private static async Task<WsClient> ConnectOnceASlotIsFreeAsync(ParleyServer server, TestUser user)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                return await WsClient.ConnectAsync(server, user.AccessToken);
            }
            catch (WebSocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(20); // refused with 429: the closed socket's handler has not finished yet
            }
        }
    }

    /// <summary>Messages of about 64 KiB each (the content limit), as the attack sent them.</summary>
    private static async Task SendBigAsync(ParleyServer server, TestUser sender, string conversationId, int count)
    {
        var blob = new string('x', 64 * 1024 - 100);
        for (var i = 0; i < count; i++)
        {
            await server.Post(sender, $"/api/conversations/{conversationId}/messages", new JsonObject
            {
                ["clientMsgId"] = "big-" + i, ["type"] = "custom", ["content"] = new JsonObject { ["blob"] = blob },
            }).Expect(HttpStatusCode.Created);
        }
    }
}
