using System.Net;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Realtime;

public sealed class GatewayLimitsTestsSqlite() : GatewayLimitsTests(Backend.Sqlite);

public sealed class GatewayLimitsTestsPostgres() : GatewayLimitsTests(Backend.Postgres);

/// <summary>Gateway behaviour that needs its own settings: heartbeats, send rate, metrics.</summary>
public abstract class GatewayLimitsTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task A_silent_connection_is_closed_with_4000_and_a_talking_one_is_not()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Realtime:HeartbeatMs=1000");
        var user = await server.RegisterAsync();
        await using var silent = await WsClient.ConnectAsync(server, user.AccessToken);
        await using var talking = await WsClient.ConnectAsync(server, user.AccessToken);
        Assert.Equal(1000, (int)silent.Hello["heartbeatMs"]!);

        var closed = silent.ClosedAsync(TimeSpan.FromSeconds(10));
        // The talking client pings every 200 ms, far inside its 2 s allowance, until the silent one is closed.
        for (var i = 0; i < 40 && !closed.IsCompleted; i++)
        {
            await talking.SendAsync(new JsonObject { ["type"] = "ping" });
            await talking.NextAsync("pong");
            await Task.Delay(200); // pacing the talking client on the real clock the heartbeat is measured on, not a wait for an event
        }

        Assert.Equal((WebSocketCloseStatus)4000, await closed);
        Assert.Equal(WebSocketState.Open, talking.State);
        await server.ScrapeUntilAsync(m => m.Sum("parley_websocket_closes_total", ("code", "4000")) >= 1, "the close code 4000");
    }

    [Fact]
    public async Task A_client_closing_with_one_of_the_servers_codes_is_counted_as_other()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store);
        var user = await server.RegisterAsync();
        // 4000, 4001 and 4008 say why the server closed (heartbeat, revocation, too many frames): a client sending
        // them must not show up as heartbeat timeouts, revocations or floods on an operator's dashboard.
        var codes = new[] { 4000, 4001, 4008, 1001 };
        foreach (var code in codes)
        {
            await using var ws = await WsClient.ConnectAsync(server, user.AccessToken);
            await ws.CloseAsync((WebSocketCloseStatus)code);
        }

        var metrics = PrometheusText.Parse(await server.ScrapeUntilAsync(m => m.Sum("parley_websocket_session_duration_seconds_count") >= codes.Length, "every close"));
        Assert.Equal(3, metrics.Sum("parley_websocket_closes_total", ("code", "other")));
        Assert.Equal(1, metrics.Sum("parley_websocket_closes_total", ("code", "1001")));
        Assert.Equal(codes.Length, metrics.Sum("parley_websocket_closes_total"));
    }

    [Fact]
    public async Task Sends_over_the_rate_get_rate_limited_errors_on_the_socket()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Messaging:SendBurst=3", "--Messaging:SendRatePerSecond=0.01");
        var (a, _, conversationId) = await server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(server, a.AccessToken);
        for (var i = 0; i < 4; i++)
        {
            await ws.SendAsync(new JsonObject
            {
                ["type"] = "send", ["ref"] = i, ["conversationId"] = conversationId, ["clientMsgId"] = "rate-" + i,
                ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = "x" },
            });
        }

        for (var i = 0; i < 3; i++)
        {
            await ws.NextAsync("sent", where: f => (int)f["ref"]! == i);
        }

        var limited = await ws.NextAsync("error");
        Assert.Equal(3, (int)limited["ref"]!);
        Assert.Equal("rate_limited", (string?)limited["code"]);
        await ws.SendAsync(new JsonObject { ["type"] = "ping" });
        await ws.NextAsync("pong");
    }

    [Fact]
    public async Task Metrics_count_connections_messages_and_deliveries()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store);
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(server, b.AccessToken);
        await server.SendTextAsync(a, conversationId, "counted");
        await ws.NextAsync("message");

        var text = await server.Http.GetStringAsync("/metrics");
        Assert.Contains("# TYPE parley_connections_open gauge", text, StringComparison.Ordinal);
        Assert.Contains("parley_messages_accepted_total", text, StringComparison.Ordinal);
        Assert.Contains("parley_frames_delivered_total", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE parley_messages_delivery_latency_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("parley_messages_delivery_latency_seconds_count", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_too_slow_to_drain_its_queue_is_disconnected()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Realtime:SendQueueFrames=2", "--Messaging:SendBurst=100000", "--Messaging:SendRatePerSecond=100000");
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        var registry = server.Service<Parley.Server.Realtime.ConnectionRegistry>();

        // A client that connects and then never reads: the kernel's buffers fill, then its queue, then it is dropped.
        using var lazy = new ClientWebSocket();
        var uri = new UriBuilder(server.BaseUri) { Scheme = "ws", Path = "/ws", Query = "access_token=" + Uri.EscapeDataString(b.AccessToken) }.Uri;
        using (var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await lazy.ConnectAsync(uri, connectTimeout.Token);
        }

        // The upgrade answer can reach the client just before the server registers it; no event tells a test.
        await Poll.UntilAsync(() => registry.Count == 1, "the lazy client's registration");
        var blob = new string('x', 60_000);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        for (var i = 0; registry.Count > 0 && DateTime.UtcNow < deadline; i++)
        {
            await server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject
            {
                ["clientMsgId"] = "flood-" + i, ["type"] = "custom", ["content"] = new JsonObject { ["blob"] = blob },
            }).Expect(HttpStatusCode.Created);
        }

        Assert.Equal(0, registry.Count);
        // Counted as a slow consumer, and as a connection that ended without a close handshake.
        await server.ScrapeUntilAsync(
            m => m.Sum("parley_connections_slow_consumer_disconnects_total") >= 1 && m.Sum("parley_websocket_closes_total", ("code", "1006")) >= 1,
            "the slow consumer's disconnect");
        // nothing was lost for the slow client: it catches up by after=
        var maxSeq = (long)(await server.ConversationAsync(b, conversationId))["maxSeq"]!;
        Assert.Equal(maxSeq, (await server.CatchUpAsync(b, conversationId, limit: 200)).Count);
    }

    [Fact]
    public async Task Flooding_frames_closes_with_4008()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Realtime:FramesPerSecond=1", "--Realtime:FrameBurst=5");
        var user = await server.RegisterAsync();
        await using var ws = await WsClient.ConnectAsync(server, user.AccessToken);
        for (var i = 0; i < 10; i++)
        {
            try
            {
                await ws.SendAsync(new JsonObject { ["type"] = "ping" });
            }
            catch (WebSocketException)
            {
                break; // already closed
            }
        }

        Assert.Equal((WebSocketCloseStatus)4008, await ws.ClosedAsync());
        await server.ScrapeUntilAsync(m => m.Sum("parley_websocket_closes_total", ("code", "4008")) >= 1, "the close code 4008");
    }

    [Fact]
    public async Task A_client_that_asks_for_more_than_it_reads_is_disconnected_at_the_byte_budget()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Realtime:SendQueueBytes=1000000", "--Messaging:SendBurst=100000", "--Messaging:SendRatePerSecond=100000", "--Realtime:FrameBurst=100000");
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        var blob = new string('x', 60_000);
        for (var i = 0; i < 40; i++)
        {
            await server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject { ["clientMsgId"] = "big-" + i, ["type"] = "custom", ["content"] = new JsonObject { ["blob"] = blob } })
                .Expect(HttpStatusCode.Created);
        }

        var registry = server.Service<Parley.Server.Realtime.ConnectionRegistry>();
        using var greedy = new ClientWebSocket();
        var uri = new UriBuilder(server.BaseUri) { Scheme = "ws", Path = "/ws", Query = "access_token=" + Uri.EscapeDataString(b.AccessToken) }.Uri;
        using (var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await greedy.ConnectAsync(uri, connectTimeout.Token);
        }

        // Each answer is a page of about 500 KB (half the budget); the client never reads them.
        var sync = System.Text.Encoding.UTF8.GetBytes(new JsonObject { ["type"] = "sync", ["conversationId"] = conversationId, ["afterSeq"] = 0, ["limit"] = 200 }.ToJsonString());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        try
        {
            for (var i = 0; i < 200 && greedy.State == WebSocketState.Open && DateTime.UtcNow < deadline; i++)
            {
                using var sendTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await greedy.SendAsync(sync, WebSocketMessageType.Text, true, sendTimeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // dropped by the server
        }

        // The server drops the client by aborting its socket, which the client does not read: no event tells it.
        await Poll.UntilAsync(() => registry.Count == 0, "the greedy client's disconnect", deadline - DateTime.UtcNow);
    }

    [Fact]
    public async Task Typing_from_many_sockets_of_one_user_is_passed_on_once_a_second()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime(); // stands still unless moved: "within a second" whatever the machine's speed
        await using var server = await ParleyServer.StartAsync(store, time);
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        var sockets = new List<WsClient>();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                var device = await server.LoginAsync(a.Username, a.Password);
                sockets.Add(await WsClient.ConnectAsync(server, device.AccessToken));
            }

            await using var wsB = await WsClient.ConnectAsync(server, b.AccessToken);
            foreach (var socket in sockets)
            {
                await socket.SendAsync(new JsonObject { ["type"] = "typing", ["conversationId"] = direct });
                await socket.SendAsync(new JsonObject { ["type"] = "ping" });
                await socket.NextAsync("pong"); // handled
            }

            Assert.Equal(a.Id, (string?)(await wsB.NextAsync("typing"))["userId"]);
            // Barrier: a message pushed to B after all six were handled; any second typing frame would be ahead of it.
            await server.SendTextAsync(a, direct, "sentinel");
            Assert.True(await wsB.NoneBeforeAsync("typing", "message"), "a second typing frame arrived before the sentinel");

            // A second later the user's typing passes again (from a socket of its own: each socket also drops its own
            // repeats within a second of real time).
            time.Advance(TimeSpan.FromSeconds(1));
            var another = await server.LoginAsync(a.Username, a.Password);
            sockets.Add(await WsClient.ConnectAsync(server, another.AccessToken));
            await sockets[^1].SendAsync(new JsonObject { ["type"] = "typing", ["conversationId"] = direct });
            Assert.Equal(a.Id, (string?)(await wsB.NextAsync("typing"))["userId"]);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                await socket.DisposeAsync();
            }
        }
    }
}
