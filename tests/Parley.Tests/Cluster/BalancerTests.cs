using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// Through a real load balancer: Debian's nginx, on the configuration scripts/cluster.sh generates, in front of three
/// nodes. WebSockets upgrade through it and are spread over the nodes, messages flow live between clients on
/// different nodes, and when a node behind it is killed its clients reconnect through nginx to the others, catch up
/// by after= with nothing missing, and get live messages again.
/// </summary>
public sealed class BalancerTests : IAsyncLifetime
{
    public ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        Assert.SkipWhen(PrivateNginx.Binary is null, PrivateNginx.NotInstalled);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task WebSockets_through_nginx_spread_over_the_nodes_and_survive_a_node_killed_behind_it()
    {
        await using var store = await TestStore.CreateAsync(Backend.Postgres);
        await using var cluster = await ClusterNodes.StartAsync(store, 3, TestRedis.Configuration!);
        await using var nginx = await PrivateNginx.StartAsync(cluster.Nodes);

        // Everything goes through nginx: accounts, the group, the sockets.
        var users = await nginx.RegisterManyAsync(6);
        var conversationId = (string)(await nginx.CreateGroupAsync(users[0], null, users[1..]))["conversationId"]!;
        var clients = new WsClient[users.Length];
        var nodeOf = new int[users.Length];
        try
        {
            for (var i = 0; i < users.Length; i++)
            {
                var before = await OpenPerNodeAsync(cluster);
                clients[i] = await WsClient.ConnectAsync(nginx, users[i].AccessToken);
                var after = await OpenPerNodeAsync(cluster); // registered before its hello was sent
                nodeOf[i] = Enumerable.Range(0, 3).Single(n => after[n] == before[n] + 1);
            }

            // least_conn over sockets that stay open: every node holds some of them.
            Assert.All(Enumerable.Range(0, 3), n => Assert.Contains(n, nodeOf));

            var acked = new Dictionary<string, long>();
            await SendRoundAsync(clients, conversationId, "a", acked);
            await AssertEveryoneGotItLiveAsync(clients, acked, "a");
            await AssertEveryoneCatchesUpAsync(nginx, users, conversationId, acked);

            // A node dies behind nginx: its sockets close, and reconnecting through nginx lands on the others.
            var victim = nodeOf[0];
            await cluster[victim].KillAsync();
            for (var i = 0; i < users.Length; i++)
            {
                if (nodeOf[i] != victim)
                {
                    continue;
                }

                await clients[i].ClosedAsync(TimeSpan.FromSeconds(30));
                await clients[i].DisposeAsync();
                clients[i] = await WsClient.ConnectAsync(nginx, users[i].AccessToken);
            }

            var open = await OpenPerNodeAsync(cluster);
            Assert.Equal(users.Length, open.Sum());
            Assert.Equal(0, open[victim]);

            // HTTP through nginx is not answered 502 for the dead node: a refused connection goes to the next one.
            for (var i = 0; i < 12; i++)
            {
                await nginx.Get(users[i % users.Length], $"/api/conversations/{conversationId}").Expect(HttpStatusCode.OK);
            }

            await SendRoundAsync(clients, conversationId, "b", acked);
            await AssertEveryoneGotItLiveAsync(clients, acked, "b"); // across the surviving nodes, through nginx
            await AssertEveryoneCatchesUpAsync(nginx, users, conversationId, acked);

            // And over the sockets themselves: a sync through nginx from seq 0 has every message, densely.
            foreach (var client in clients)
            {
                var synced = await SyncAllAsync(client, conversationId);
                Assert.Equal(Enumerable.Range(1, acked.Count).Select(s => (long)s), synced);
            }
        }
        finally
        {
            foreach (var client in clients.OfType<WsClient>())
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>Each node's open WebSocket connections, from its own /metrics (the nodes are on loopback, where /metrics is open).</summary>
    internal static async Task<int[]> OpenPerNodeAsync(ClusterNodes cluster)
    {
        var open = new int[cluster.Nodes.Count];
        for (var n = 0; n < open.Length; n++)
        {
            open[n] = cluster[n].HasExited ? 0 : (int)PrometheusText.Parse(await cluster[n].ScrapeAsync()).Sum("parley_connections_open");
        }

        return open;
    }

    /// <summary>Every client sends 3 messages; each must be acknowledged.</summary>
    private static async Task SendRoundAsync(WsClient[] clients, string conversationId, string round, Dictionary<string, long> acked)
    {
        for (var i = 0; i < clients.Length; i++)
        {
            for (var k = 0; k < 3; k++)
            {
                var id = $"{round}-{i}-{k}";
                await clients[i].SendAsync(new JsonObject
                {
                    ["type"] = "send", ["ref"] = id, ["conversationId"] = conversationId, ["clientMsgId"] = id,
                    ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = id },
                });
                var sent = await clients[i].NextAsync("sent", TimeSpan.FromSeconds(30), f => (string?)f["ref"] == id);
                acked[id] = sent["message"]!.Seq();
            }
        }
    }

    /// <summary>Every message of <paramref name="round"/> reaches every other client live, whatever node each is on.</summary>
    private static async Task AssertEveryoneGotItLiveAsync(WsClient[] clients, Dictionary<string, long> acked, string round)
    {
        for (var i = 0; i < clients.Length; i++)
        {
            foreach (var (id, seq) in acked.Where(a => a.Key.StartsWith(round + "-", StringComparison.Ordinal) && !a.Key.StartsWith($"{round}-{i}-", StringComparison.Ordinal)))
            {
                await clients[i].NextAsync("message", TimeSpan.FromSeconds(30), f => f["message"]!.Seq() == seq && (string?)f["message"]!["clientMsgId"] == id);
            }
        }
    }

    private static async Task AssertEveryoneCatchesUpAsync(ApiHost through, TestUser[] users, string conversationId, Dictionary<string, long> acked)
    {
        foreach (var user in users)
        {
            var history = await through.CatchUpAsync(user, conversationId);
            Assert.Equal(Enumerable.Range(1, acked.Count).Select(s => (long)s), history.Select(m => m.Seq()));
            var byId = history.ToDictionary(m => (string)m["clientMsgId"]!, m => m.Seq());
            Assert.All(acked, a => Assert.Equal(a.Value, byId[a.Key]));
        }
    }

    private static async Task<List<long>> SyncAllAsync(WsClient client, string conversationId)
    {
        var seqs = new List<long>();
        for (var page = 0; page < 100; page++)
        {
            var id = $"sync-{page}";
            await client.SendAsync(new JsonObject { ["type"] = "sync", ["ref"] = id, ["conversationId"] = conversationId, ["afterSeq"] = seqs.Count == 0 ? 0 : seqs[^1] });
            var answer = await client.NextAsync("messages", TimeSpan.FromSeconds(30), f => (string?)f["ref"] == id);
            seqs.AddRange(answer["items"]!.AsArray().Select(m => m!.Seq()));
            if (!(bool)answer["hasMore"]!)
            {
                return seqs;
            }
        }

        throw new InvalidOperationException("too many pages");
    }
}
