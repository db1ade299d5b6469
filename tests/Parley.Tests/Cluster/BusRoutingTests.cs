using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;
using StackExchange.Redis;

namespace Parley.Tests.Cluster;

/// <summary>
/// Interest routing, ordering under a burst from several nodes, hostile payloads and the loss of a node's subscription
/// connection, on three real node processes and the test Redis (read directly: PUBSUB NUMSUB, CLIENT KILL).
/// </summary>
public sealed class BusRoutingTests(BusCluster cluster) : IClassFixture<BusCluster>, IAsyncLifetime
{
    private ConnectionMultiplexer? _redis;

    private ConnectionMultiplexer Redis => _redis ?? throw new InvalidOperationException("no Redis");

    public async ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        _redis = await ConnectionMultiplexer.ConnectAsync(TestRedis.Configuration + ",allowAdmin=true");
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private string UserChannel(TestUser user) => $"{cluster.Prefix}:u:{user.Id}";

    /// <summary>How many Redis clients (nodes) are subscribed to the channel.</summary>
    private async Task<long> SubscribersAsync(string channel)
    {
        var server = Redis.GetServer(Redis.GetEndPoints()[0]);
        var result = await server.ExecuteAsync("PUBSUB", "NUMSUB", channel);
        return (long)((RedisResult[])result!)[1];
    }

    private async Task SubscribersBecomeAsync(string channel, long expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        long seen;
        while ((seen = await SubscribersAsync(channel)) != expected)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{channel} has {seen} subscribers, expected {expected}");
            await Task.Delay(20); // the next look: an unsubscribe after a socket closed announces itself to no one
        }
    }

    private static async Task<double> CounterAsync(ApiHost node, string name)
    {
        var samples = PrometheusText.Parse(await node.ScrapeAsync());
        return samples.Where(s => s.Name == name).Sum(s => s.Value);
    }

    [Fact]
    public async Task A_node_subscribes_to_a_user_only_while_it_holds_one_of_their_connections()
    {
        var user = await cluster.A.RegisterAsync();
        var other = await cluster.A.LoginAsync(user.Username, user.Password, "two");
        var channel = UserChannel(user);
        Assert.Equal(0, await SubscribersAsync(channel));

        // Subscribed before the hello: the channel is live once the socket is open.
        var first = await WsClient.ConnectAsync(cluster.A, user.AccessToken);
        Assert.Equal(1, await SubscribersAsync(channel));
        var second = await WsClient.ConnectAsync(cluster.A, other.AccessToken);
        var onB = await WsClient.ConnectAsync(cluster.B, other.AccessToken);
        Assert.Equal(2, await SubscribersAsync(channel)); // one per node, however many sockets

        await first.DisposeAsync();
        await second.DisposeAsync();
        await SubscribersBecomeAsync(channel, 1); // A let go with its last socket; B holds on
        await onB.DisposeAsync();
        await SubscribersBecomeAsync(channel, 0);
    }

    [Fact]
    public async Task A_node_receives_no_traffic_for_users_it_does_not_hold()
    {
        var (x, y, conversation) = await cluster.A.FriendsWithConversationAsync();
        await using var yOnB = await WsClient.ConnectAsync(cluster.B, y.AccessToken);
        var receivedOnA = await CounterAsync(cluster.A, "parley_bus_received_total");

        // 30 messages from x (held nowhere) to y (held on B only), sent through C.
        for (var i = 0; i < 30; i++)
        {
            await cluster.C.SendTextAsync(x, conversation, "m" + i, "route-" + i);
        }

        await yOnB.NextAsync("message", where: BusDeliveryTests.MessageIn(conversation, "route-29"));
        Assert.Equal(receivedOnA, await CounterAsync(cluster.A, "parley_bus_received_total"));
        Assert.Equal(0, await CounterAsync(cluster.A, "parley_bus_foreign_frames_total"));
        Assert.True(await CounterAsync(cluster.B, "parley_bus_received_total") >= 30);
    }

    [Fact]
    public async Task A_burst_from_three_nodes_reaches_every_device_once_each_senders_messages_in_order()
    {
        var users = new[] { await cluster.A.RegisterAsync(), await cluster.B.RegisterAsync(), await cluster.C.RegisterAsync() };
        var group = await cluster.A.CreateGroupAsync(users[0], null, users[1], users[2]);
        var conversation = (string)group["conversationId"]!;
        var nodes = new ApiHost[] { cluster.A, cluster.B, cluster.C };
        var sockets = new WsClient[3];
        for (var i = 0; i < 3; i++)
        {
            sockets[i] = await WsClient.ConnectAsync(nodes[i], users[i].AccessToken);
        }

        const int PerSender = 40;
        try
        {
            // Each member sends through its own node, all at once; each socket awaits its own `sent`s in the background.
            await Task.WhenAll(Enumerable.Range(0, 3).Select(async s =>
            {
                for (var k = 0; k < PerSender; k++)
                {
                    await sockets[s].SendAsync(BusDeliveryTests.Send(conversation, $"burst-{s}-{k}", $"{s}/{k}"));
                }
            }));

            var sentSeqs = new List<long>[3];
            var live = new List<(string Sender, long Seq, string ClientMsgId)>[3];
            for (var s = 0; s < 3; s++)
            {
                sentSeqs[s] = [];
                for (var k = 0; k < PerSender; k++)
                {
                    sentSeqs[s].Add((long)(await sockets[s].NextAsync("sent", where: f => (string?)f["ref"] == $"burst-{s}-{k}"))["message"]!["seq"]!);
                }

                live[s] = [];
                for (var k = 0; k < 2 * PerSender; k++)
                {
                    var m = (await sockets[s].NextAsync("message", where: BusDeliveryTests.MessageIn(conversation)))["message"]!;
                    live[s].Add(((string)m["senderId"]!, (long)m["seq"]!, (string)m["clientMsgId"]!));
                }
            }

            var all = sentSeqs.SelectMany(x => x).Order().ToList();
            Assert.Equal(Enumerable.Range(1, 3 * PerSender).Select(i => (long)i), all.Select(x => x - all[0] + 1)); // dense
            for (var s = 0; s < 3; s++)
            {
                // Every other member's message exactly once, and each sender's in its seq order.
                Assert.Equal(2 * PerSender, live[s].Select(m => m.Seq).Distinct().Count());
                Assert.DoesNotContain(live[s], m => m.Sender == users[s].Id);
                foreach (var bySender in live[s].GroupBy(m => m.Sender))
                {
                    var seqs = bySender.Select(m => m.Seq).ToList();
                    Assert.Equal(seqs.Order(), seqs);
                    Assert.Equal(Enumerable.Range(0, PerSender).Select(k => $"burst-{users.ToList().FindIndex(u => u.Id == bySender.Key)}-{k}"), bySender.Select(m => m.ClientMsgId));
                }

            }

            // Nothing more: a last message (through A's HTTP) is the next one every device sees.
            await cluster.A.SendTextAsync(users[0], conversation, "final", "burst-final");
            foreach (var socket in sockets)
            {
                await socket.NextAsync("message", where: BusDeliveryTests.MessageIn(conversation, "burst-final"));
                Assert.False(socket.Has("message", BusDeliveryTests.MessageIn(conversation)));
            }
        }
        finally
        {
            foreach (var socket in sockets)
            {
                await socket.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Hostile_payloads_on_the_bus_are_dropped_and_the_node_keeps_delivering()
    {
        var (x, y, conversation) = await cluster.A.FriendsWithConversationAsync();
        await using var yOnA = await WsClient.ConnectAsync(cluster.A, y.AccessToken);
        var malformed = await CounterAsync(cluster.A, "parley_bus_malformed_total");
        var subscriber = Redis.GetSubscriber();
        byte[] membershipClaimingHugeCount = [1, 3, .. new byte[16], 0xFF, 0xFF, 0xFF, 0x7F];
        byte[] frameThatIsNotJson = [1, 1, .. new byte[16], .. "not json"u8.ToArray()];
        byte[] unknownKind = [1, 250, .. new byte[40]];
        var junk = new List<byte[]>
        {
            Array.Empty<byte>(),
            Encoding.UTF8.GetBytes("definitely not a bus payload"),
            new byte[] { 1, 2, 3 },
            membershipClaimingHugeCount,
            frameThatIsNotJson,
            unknownKind,
        };
        var random = new Random(1409);
        for (var i = 0; i < 200; i++)
        {
            var bytes = new byte[random.Next(1, 300)];
            random.NextBytes(bytes);
            bytes[0] = 1;
            junk.Add(bytes);
        }

        foreach (var payload in junk)
        {
            await subscriber.PublishAsync(RedisChannel.Literal($"{cluster.Prefix}:ctl"), payload);
            await subscriber.PublishAsync(RedisChannel.Literal(UserChannel(y)), payload);
        }

        // The node lives, is ready, and still delivers what comes after.
        var sent = await cluster.B.SendTextAsync(x, conversation, "after the junk");
        var received = await yOnA.NextAsync("message", where: BusDeliveryTests.MessageIn(conversation));
        Assert.Equal(sent.Seq(), (long)received["message"]!["seq"]!);
        using (var ready = await cluster.A.Http.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        Assert.True(await CounterAsync(cluster.A, "parley_bus_malformed_total") > malformed);
    }

    [Fact]
    public async Task When_a_nodes_subscription_connection_is_killed_it_is_degraded_then_resubscribes_and_tells_its_sockets_to_resync()
    {
        var (x, y, conversation) = await cluster.A.FriendsWithConversationAsync();
        await using var yOnB = await WsClient.ConnectAsync(cluster.B, y.AccessToken);
        await using var xOnC = await WsClient.ConnectAsync(cluster.C, x.AccessToken);

        // Node B's subscription connection (named by the cluster's flags) is cut by Redis.
        var server = Redis.GetServer(Redis.GetEndPoints()[0]);
        var clients = await server.ClientListAsync();
        var mine = clients.Where(c => c.Name == $"{cluster.Prefix}-2" && c.ClientType == ClientType.PubSub).ToList();
        Assert.NotEmpty(mine);
        foreach (var client in mine)
        {
            await server.ExecuteAsync("CLIENT", "KILL", "ID", client.Id);
        }

        // B sees it, reports itself not ready with the reason, comes back by itself and tells its socket to catch up.
        var resync = await yOnB.NextAsync("resync");
        Assert.Null(resync["conversationIds"]);
        using (var ready = await cluster.B.Http.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        Assert.Contains(cluster.B.Output, line => line.Contains("Cluster bus degraded", StringComparison.Ordinal));
        // x's socket on C never lost anything: no resync there (barrier: a message through B arrives first).
        var sent = await cluster.B.SendTextAsync(y, conversation, "after the cut");
        var got = await xOnC.NextAsync("message", where: BusDeliveryTests.MessageIn(conversation));
        Assert.Equal(sent.Seq(), (long)got["message"]!["seq"]!);
        Assert.False(xOnC.Has("resync"));

        // And B's user channel is live again: a message through C reaches y on B.
        var back = await cluster.C.SendTextAsync(x, conversation, "to B again");
        Assert.Equal(back.Seq(), (long)(await yOnB.NextAsync("message", where: BusDeliveryTests.MessageIn(conversation, (string)back["clientMsgId"]!)))["message"]!["seq"]!);
    }
}
