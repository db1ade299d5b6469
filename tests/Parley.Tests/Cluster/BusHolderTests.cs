using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Parley.Server.Cluster;
using Parley.Tests.Infrastructure;
using StackExchange.Redis;
using static Parley.Tests.Cluster.BusDeliveryTests;

namespace Parley.Tests.Cluster;

/// <summary>
/// No echo (docs/cluster.md, "No echo"), on three real node processes: a node skips a user's channel while no other
/// node holds the user, learns of other holders from their join notices, and when it learns one after skipping, tells
/// it to resync what it skipped. The test listens on a user's channel itself and plays a rogue holder, so the exchange
/// is seen payload by payload.
/// </summary>
public sealed class BusHolderTests(BusCluster cluster) : IClassFixture<BusCluster>, IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private ConnectionMultiplexer? _redis;

    private ConnectionMultiplexer Redis => _redis ?? throw new InvalidOperationException("no Redis");

    public async ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        _redis = await ConnectionMultiplexer.ConnectAsync(TestRedis.Configuration!);
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private RedisChannel UserChannel(TestUser user) => RedisChannel.Literal($"{cluster.Prefix}:u:{user.Id}");

    private static async Task<double> CounterAsync(ApiHost node, string name) =>
        PrometheusText.Parse(await node.ScrapeAsync()).Where(s => s.Name == name).Sum(s => s.Value);

    /// <summary>What the test hears on one user's channel, parsed, in Redis's order.</summary>
    private sealed class Listener(ChannelMessageQueue queue)
    {
        public async Task<BusMessage> NextAsync()
        {
            using var timeout = new CancellationTokenSource(Wait);
            var message = await queue.ReadAsync(timeout.Token);
            Assert.True(BusWire.TryParse((ReadOnlyMemory<byte>)message.Message, out var parsed), "a payload that does not parse");
            return parsed;
        }

        /// <summary>The next holder notice of <paramref name="action"/> (from <paramref name="origin"/>, if given); the payloads before it are returned too.</summary>
        public async Task<(BusMessage Notice, List<BusMessage> Before)> NoticeAsync(long action, Guid? origin = null)
        {
            var before = new List<BusMessage>();
            while (true)
            {
                var next = await NextAsync();
                if (next.Kind == BusKind.Holder && next.Ids[0] == action && (origin is null || next.Origin == origin))
                {
                    return (next, before);
                }

                before.Add(next);
            }
        }
    }

    private async Task PublishNoticeAsync(TestUser user, Guid origin, params long[] ids) =>
        await Redis.GetSubscriber().PublishAsync(UserChannel(user), BusWire.Ids(BusKind.Holder, origin, ids));

    /// <summary>Waits until <paramref name="node"/> has counted more received payloads than <paramref name="before"/>.</summary>
    private static async Task ReceivedAsync(ApiHost node, double before)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (await CounterAsync(node, "parley_bus_received_total") <= before)
        {
            Assert.True(DateTime.UtcNow < deadline, "the node never heard the notice");
            await Task.Delay(20); // the next look at the node's counter
        }
    }

    private static async Task<BusMessage> FrameFromAsync(Listener listener, Guid origin)
    {
        while (true)
        {
            var next = await listener.NextAsync();
            if (next.Kind == BusKind.Frame && next.Origin == origin)
            {
                return next;
            }
        }
    }

    [Fact]
    public async Task A_user_held_on_one_node_only_costs_no_publish_on_its_channel_until_another_holder_joins()
    {
        var (x, y, conversation) = await cluster.A.FriendsWithConversationAsync();
        var listener = new Listener(await Redis.GetSubscriber().SubscribeAsync(UserChannel(x)));
        await using var xOnA = await WsClient.ConnectAsync(cluster.A, x.AccessToken);
        await using var yOnB = await WsClient.ConnectAsync(cluster.B, y.AccessToken);

        // A subscribed to x's channel and said so.
        var (join, _) = await listener.NoticeAsync(1);
        var generation = join.Ids[1];

        // x sends on A: y's channel is published (B holds y), x's own is skipped (no other node holds x).
        var skipped = await CounterAsync(cluster.A, "parley_bus_skipped_publishes_total");
        await xOnA.SendAsync(Send(conversation, "alone-1", "one"));
        await yOnB.NextAsync("message", where: MessageIn(conversation, "alone-1"));
        await xOnA.NextAsync("sent", where: f => (string?)f["ref"] == "alone-1");
        Assert.Equal(1, await CounterAsync(cluster.A, "parley_bus_skipped_publishes_total") - skipped);

        // A rogue holder joins: A tells it to resync the conversation it skipped, and answers here; no frame of A's came
        // before (A publishes in order, so a frame of alone-1 would have come first). (Other nodes publish on x's
        // channel too: y's presence, from B.)
        var rogue = Guid.NewGuid();
        await PublishNoticeAsync(x, rogue, 1, 7);
        var (resync, beforeResync) = await listener.NoticeAsync(4, join.Origin);
        Assert.Equal([long.Parse(conversation, System.Globalization.CultureInfo.InvariantCulture)], resync.Ids[2..]);
        Assert.DoesNotContain(beforeResync, m => m.Kind == BusKind.Frame && m.Origin == join.Origin);
        var (here, _) = await listener.NoticeAsync(2, join.Origin);
        Assert.Equal(generation, here.Ids[1]);

        // Known to be held elsewhere now: x's channel is published.
        await xOnA.SendAsync(Send(conversation, "shared-1", "two"));
        var frame = await FrameFromAsync(listener, join.Origin);
        Assert.True(frame.Frame.Span.IndexOf("shared-1"u8) >= 0, "the frame is not x's message");

        // The rogue leaves (an older generation's leave first, which must not count): A skips again.
        var receivedOnA = await CounterAsync(cluster.A, "parley_bus_received_total");
        await PublishNoticeAsync(x, rogue, 3, 6);
        await ReceivedAsync(cluster.A, receivedOnA);
        await xOnA.SendAsync(Send(conversation, "shared-2", "three"));
        frame = await FrameFromAsync(listener, join.Origin);
        Assert.True(frame.Frame.Span.IndexOf("shared-2"u8) >= 0, "a leave of an older holding was taken for the current one");

        receivedOnA = await CounterAsync(cluster.A, "parley_bus_received_total");
        await PublishNoticeAsync(x, rogue, 3, 7);
        await ReceivedAsync(cluster.A, receivedOnA);
        skipped = await CounterAsync(cluster.A, "parley_bus_skipped_publishes_total");
        await xOnA.SendAsync(Send(conversation, "alone-2", "four"));
        await yOnB.NextAsync("message", where: MessageIn(conversation, "alone-2"));
        await xOnA.NextAsync("sent", where: f => (string?)f["ref"] == "alone-2");
        Assert.Equal(1, await CounterAsync(cluster.A, "parley_bus_skipped_publishes_total") - skipped);

        // x's last socket leaves A: A says so.
        await xOnA.DisposeAsync();
        var (leave, beforeLeave) = await listener.NoticeAsync(3, join.Origin);
        Assert.Equal(generation, leave.Ids[1]);
        Assert.DoesNotContain(beforeLeave, m => m.Kind == BusKind.Frame && m.Origin == join.Origin);
    }

    [Fact]
    public async Task A_node_letting_a_user_go_after_skipping_tells_a_holder_it_has_not_heard_of_yet_to_resync()
    {
        // The test's subscription on x's channel plays a node that subscribed to it (a device of x connected there)
        // and whose join is still in its publish queue: A has not heard of it. A skips x's channel meanwhile (it knows
        // of no other holder), and then x's last socket leaves A before that join arrives. What A skipped must still
        // be told: a leave alone forgets it, and the device there never learns it missed the message.
        var (x, y, conversation) = await cluster.A.FriendsWithConversationAsync();
        var listener = new Listener(await Redis.GetSubscriber().SubscribeAsync(UserChannel(x)));
        await using var xOnA = await WsClient.ConnectAsync(cluster.A, x.AccessToken);
        await using var yOnB = await WsClient.ConnectAsync(cluster.B, y.AccessToken);
        var (join, _) = await listener.NoticeAsync(1);

        var skipped = await CounterAsync(cluster.A, "parley_bus_skipped_publishes_total");
        await xOnA.SendAsync(Send(conversation, "unheard-1", "one"));
        await yOnB.NextAsync("message", where: MessageIn(conversation, "unheard-1"));
        await xOnA.NextAsync("sent", where: f => (string?)f["ref"] == "unheard-1");
        Assert.Equal(1, await CounterAsync(cluster.A, "parley_bus_skipped_publishes_total") - skipped);

        await xOnA.DisposeAsync();
        var (_, beforeLeave) = await listener.NoticeAsync(3, join.Origin);
        var told = beforeLeave.Any(m => m.Kind == BusKind.Holder && m.Origin == join.Origin && m.Ids[0] == 4
            && (m.Ids.Length == 2 || m.Ids[2..].Contains(long.Parse(conversation, System.Globalization.CultureInfo.InvariantCulture))));
        Assert.True(told, "A let x go after skipping x's channel and never published a resync of what it skipped");
    }

    [Fact]
    public async Task A_notice_with_an_empty_origin_is_not_taken_for_the_nodes_own_leave()
    {
        // Guid.Empty marks the node's own holder commands in its publish loop; a payload from the bus naming that origin
        // must not pass for one: as its own leave it drops the node's holding and tells the others it let the user go
        // while it still holds them (they would skip the user's channel, and the sockets here miss what they skip).
        var (x, y, conversation) = await cluster.A.FriendsWithConversationAsync();
        var listener = new Listener(await Redis.GetSubscriber().SubscribeAsync(UserChannel(x)));
        await using var xOnA = await WsClient.ConnectAsync(cluster.A, x.AccessToken);
        await using var yOnB = await WsClient.ConnectAsync(cluster.B, y.AccessToken);
        await listener.NoticeAsync(1);

        var receivedOnA = await CounterAsync(cluster.A, "parley_bus_received_total");
        await PublishNoticeAsync(x, Guid.Empty, 3, 0);
        await ReceivedAsync(cluster.A, receivedOnA);

        // Still the only holder it knows of, and still holding: x's channel is skipped.
        var skipped = await CounterAsync(cluster.A, "parley_bus_skipped_publishes_total");
        await xOnA.SendAsync(Send(conversation, "empty-origin-1", "one"));
        await yOnB.NextAsync("message", where: MessageIn(conversation, "empty-origin-1"));
        await xOnA.NextAsync("sent", where: f => (string?)f["ref"] == "empty-origin-1");
        Assert.Equal(1, await CounterAsync(cluster.A, "parley_bus_skipped_publishes_total") - skipped);
    }

    [Fact]
    public async Task Skipped_typing_and_presence_do_not_make_a_later_holder_resync_everything()
    {
        // Typing hints and presence (y's, when y connects on A) are not caught up by after=: skipping them leaves
        // nothing for a resync to repair. Remembered as "everything" (they have no conversation in the queue), they
        // make every device of the user that connects on another node later do a full resync right after its own sync.
        var (x, y, conversation) = await cluster.A.FriendsWithConversationAsync();
        var listener = new Listener(await Redis.GetSubscriber().SubscribeAsync(UserChannel(x)));
        await using var xOnA = await WsClient.ConnectAsync(cluster.A, x.AccessToken);
        await using var yOnA = await WsClient.ConnectAsync(cluster.A, y.AccessToken);
        var (join, _) = await listener.NoticeAsync(1);

        var skipped = await CounterAsync(cluster.A, "parley_bus_skipped_publishes_total");
        await yOnA.SendAsync(new JsonObject { ["type"] = "typing", ["conversationId"] = conversation });
        await xOnA.NextAsync("typing", where: f => (string?)f["userId"] == y.Id);
        var deadline = DateTime.UtcNow + Wait;
        while (await CounterAsync(cluster.A, "parley_bus_skipped_publishes_total") == skipped)
        {
            Assert.True(DateTime.UtcNow < deadline, "x's channel was never skipped for the typing hint");
            await Task.Delay(20); // the next look at the node's counter
        }

        await PublishNoticeAsync(x, Guid.NewGuid(), 1, 7);
        var (_, beforeHere) = await listener.NoticeAsync(2, join.Origin);
        Assert.DoesNotContain(beforeHere, m => m.Kind == BusKind.Holder && m.Origin == join.Origin && m.Ids[0] == 4 && m.Ids.Length == 2);
    }

    [Fact]
    public async Task A_resync_notice_on_a_users_channel_reaches_that_users_sockets_only()
    {
        var (x, y, conversation) = await cluster.A.FriendsWithConversationAsync();
        await using var xOnB = await WsClient.ConnectAsync(cluster.B, x.AccessToken);
        await using var yOnB = await WsClient.ConnectAsync(cluster.B, y.AccessToken);
        await PublishNoticeAsync(x, Guid.NewGuid(), 4, 1, long.Parse(conversation, System.Globalization.CultureInfo.InvariantCulture));
        var resync = await xOnB.NextAsync("resync");
        Assert.Equal(conversation, (string?)resync["conversationIds"]![0]);

        // y's socket got nothing of it: its next frame is the message sent after.
        await cluster.C.SendTextAsync(x, conversation, "after", "after-resync");
        Assert.True(await yOnB.NoneBeforeAsync("resync", "message", MessageIn(conversation, "after-resync")));
    }

    [Fact]
    public async Task A_device_connecting_on_another_node_during_a_burst_gets_every_later_message_live_or_is_told_to_resync()
    {
        var (x, y, conversation) = await cluster.A.FriendsWithConversationAsync();
        var second = await cluster.C.LoginAsync(x.Username, x.Password, "second");
        await using var xOnA = await WsClient.ConnectAsync(cluster.A, x.AccessToken);
        await using var yOnB = await WsClient.ConnectAsync(cluster.B, y.AccessToken);
        const int total = 40; // within the send burst (Messaging:SendBurst 50)
        var acked = new ConcurrentDictionary<string, long>();
        var connectAfter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // x sends back to back on A, one at a time; x's second device connects on C after the 10th is acknowledged.
        var burst = Task.Run(async () =>
        {
            for (var i = 0; i < total; i++)
            {
                var id = "burst-" + i;
                await xOnA.SendAsync(Send(conversation, id, "m" + i));
                var sent = await xOnA.NextAsync("sent", where: f => (string?)f["ref"] == id);
                acked[id] = sent["message"]!.Seq();
                if (i == 10)
                {
                    connectAfter.TrySetResult();
                }
            }
        });
        await Task.WhenAny(connectAfter.Task, burst).WaitAsync(Wait);
        if (burst.IsCompleted)
        {
            await burst; // it failed before the 10th: say why
        }

        await using var xOnC = await WsClient.ConnectAsync(cluster.C, second.AccessToken);

        // Its own catch-up, as a client does on connect.
        var caughtUp = (await cluster.C.CatchUpAsync(second, conversation)).Select(m => m.Seq()).DefaultIfEmpty(0).Max();
        await burst.WaitAsync(Wait);
        var last = acked.Values.Max();

        // The last message live (every earlier live one came before it on the socket), or a resync.
        var end = await xOnC.NextMatchingAsync(f => (string?)f["type"] == "resync" || (MessageIn(conversation)(f) && f["message"]!.Seq() == last), Wait);
        var live = xOnC.TakeAll("message").Append(end).Where(f => (string?)f["type"] == "message" && MessageIn(conversation)(f)).Select(f => f["message"]!.Seq()).ToHashSet();
        var resynced = xOnC.TakeAll("resync").Append(end).Any(f => (string?)f["type"] == "resync" && (f["conversationIds"] is not JsonArray ids || ids.Any(id => (string?)id == conversation)));
        var missed = acked.Values.Where(seq => seq > caughtUp && !live.Contains(seq)).Order().ToList();
        Assert.True(missed.Count == 0 || resynced, $"missed live and never told to resync: {string.Join(",", missed)}");
    }
}
