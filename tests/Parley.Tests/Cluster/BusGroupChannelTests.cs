using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;
using StackExchange.Redis;
using static Parley.Tests.Cluster.BusDeliveryTests;

namespace Parley.Tests.Cluster;

/// <summary>
/// Conversation channels of big groups (docs/cluster.md, "Big groups") on three real node processes whose groups of
/// 3 members or more have one (<see cref="GroupChannelCluster"/>): one publish per message whatever the group's size,
/// heard only by the nodes holding a member, delivered by each from its own view with the commit's members version.
/// Redis is read directly (PUBSUB NUMSUB) to see who listens.
/// </summary>
public sealed class BusGroupChannelTests(GroupChannelCluster cluster) : IClassFixture<GroupChannelCluster>, IAsyncLifetime
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

    private string ConversationChannel(string conversationId) => $"{cluster.Prefix}:c:{conversationId}";

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
            await Task.Delay(20); // the next look: a subscription made after a change announces itself to no one
        }
    }

    private static async Task<double> CounterAsync(ApiHost node, string name)
    {
        var samples = PrometheusText.Parse(await node.ScrapeAsync());
        return samples.Where(s => s.Name == name).Sum(s => s.Value);
    }

    private static Func<JsonNode, bool> ResyncOf(string conversationId) =>
        f => f["conversationIds"] is JsonArray ids && ids.Any(id => (string?)id == conversationId);

    [Fact]
    public async Task A_big_group_message_sent_on_A_is_one_publish_and_reaches_members_on_B_and_C_live_exactly_once()
    {
        var owner = await cluster.A.RegisterAsync();
        var memberB = await cluster.B.RegisterAsync();
        var memberC = await cluster.C.RegisterAsync();
        var ownerSecond = await cluster.C.LoginAsync(owner.Username, owner.Password, "second");
        var group = await cluster.A.CreateGroupAsync(owner, null, memberB, memberC);
        var conversation = (string)group["conversationId"]!;
        await using var ownerOnA = await WsClient.ConnectAsync(cluster.A, owner.AccessToken);
        await using var ownerOnC = await WsClient.ConnectAsync(cluster.C, ownerSecond.AccessToken);
        await using var memberOnB = await WsClient.ConnectAsync(cluster.B, memberB.AccessToken);
        await using var memberOnC = await WsClient.ConnectAsync(cluster.C, memberC.AccessToken);
        WsClient[] receivers = [memberOnB, memberOnC, ownerOnC];

        // Subscribed before the hello: one subscription per node holding a member, however many members it holds.
        Assert.Equal(3, await SubscribersAsync(ConversationChannel(conversation)));
        Assert.True(await CounterAsync(cluster.C, "parley_bus_conversation_subscriptions") >= 1);

        // A first message: what A queued for the bus before it (the group's creation) is out once it has arrived.
        await ownerOnA.SendAsync(Send(conversation, "gc-first", "first"));
        foreach (var socket in receivers)
        {
            await socket.NextAsync("message", where: MessageIn(conversation, "gc-first"));
        }

        var published = await CounterAsync(cluster.A, "parley_bus_published_total");
        var onConversation = await CounterAsync(cluster.A, "parley_bus_conversation_published_total");

        await ownerOnA.SendAsync(Send(conversation, "gc-big", "to the whole group"));
        var seq = (long)(await ownerOnA.NextAsync("sent", where: f => (string?)f["ref"] == "gc-big"))["message"]!["seq"]!;
        foreach (var socket in receivers)
        {
            // The members on B and C, and the sender's other device on C.
            Assert.Equal(seq, (long)(await socket.NextAsync("message", where: MessageIn(conversation, "gc-big")))["message"]!["seq"]!);
        }

        // One publish for the message (per member it would have been 4: three members and the sender's own channel).
        Assert.Equal(1, await CounterAsync(cluster.A, "parley_bus_published_total") - published);
        Assert.Equal(1, await CounterAsync(cluster.A, "parley_bus_conversation_published_total") - onConversation);

        // Exactly once: a last message on the same channel is the next one every device sees.
        await ownerOnA.SendAsync(Send(conversation, "gc-last", "last"));
        foreach (var socket in receivers)
        {
            await socket.NextAsync("message", where: MessageIn(conversation, "gc-last"));
            Assert.False(socket.Has("message", MessageIn(conversation, "gc-big")));
        }

        await ownerOnA.NextAsync("sent", where: f => (string?)f["ref"] == "gc-last");
        Assert.False(ownerOnA.Has("message", MessageIn(conversation))); // the sending socket gets `sent`, never its own message
    }

    [Fact]
    public async Task A_node_holding_no_member_of_a_big_group_hears_nothing_of_it_until_a_member_connects_there()
    {
        var owner = await cluster.A.RegisterAsync();
        var memberB = await cluster.B.RegisterAsync();
        var later = await cluster.C.RegisterAsync();
        var stranger = await cluster.C.RegisterAsync();
        var group = await cluster.A.CreateGroupAsync(owner, null, memberB, later);
        var conversation = (string)group["conversationId"]!;
        var channel = ConversationChannel(conversation);
        await using var memberOnB = await WsClient.ConnectAsync(cluster.B, memberB.AccessToken);
        await using var strangerOnC = await WsClient.ConnectAsync(cluster.C, stranger.AccessToken); // C holds users, none of the group
        Assert.Equal(1, await SubscribersAsync(channel)); // B only (the owner is held nowhere)
        var receivedOnC = await CounterAsync(cluster.C, "parley_bus_received_total");
        var conversationOnC = await CounterAsync(cluster.C, "parley_bus_conversation_received_total");

        for (var i = 0; i < 10; i++)
        {
            await cluster.A.SendTextAsync(owner, conversation, "m" + i, "quiet-" + i);
        }

        await memberOnB.NextAsync("message", where: MessageIn(conversation, "quiet-9"));
        Assert.Equal(receivedOnC, await CounterAsync(cluster.C, "parley_bus_received_total"));
        Assert.Equal(conversationOnC, await CounterAsync(cluster.C, "parley_bus_conversation_received_total"));
        Assert.Equal(0, await CounterAsync(cluster.C, "parley_bus_foreign_frames_total"));

        // A member comes online on C: the channel is live there before the hello, and the next message arrives live.
        await using (var laterOnC = await WsClient.ConnectAsync(cluster.C, later.AccessToken))
        {
            Assert.Equal(2, await SubscribersAsync(channel));
            var sent = await cluster.A.SendTextAsync(owner, conversation, "now you hear it", "quiet-live");
            Assert.Equal(sent.Seq(), (long)(await laterOnC.NextAsync("message", where: MessageIn(conversation, "quiet-live")))["message"]!["seq"]!);
            Assert.True(await CounterAsync(cluster.C, "parley_bus_conversation_received_total") > conversationOnC);
        }

        // Its last socket gone, C lets go of the channel.
        await SubscribersBecomeAsync(channel, 1);
    }

    [Fact]
    public async Task A_member_removed_through_B_gets_nothing_committed_after_the_removal_on_C()
    {
        var owner = await cluster.A.RegisterAsync();
        var third = await cluster.B.RegisterAsync();
        var stayer = await cluster.C.RegisterAsync();
        var leaver = await cluster.C.RegisterAsync();
        var group = await cluster.A.CreateGroupAsync(owner, null, third, stayer, leaver);
        var conversation = (string)group["conversationId"]!;
        await using var stayerOnC = await WsClient.ConnectAsync(cluster.C, stayer.AccessToken);
        await using var leaverOnC = await WsClient.ConnectAsync(cluster.C, leaver.AccessToken);

        // A holds the group's view (it just sent there), and both get it on C through the conversation channel.
        var onConversation = await CounterAsync(cluster.A, "parley_bus_conversation_published_total");
        await cluster.A.SendTextAsync(owner, conversation, "before", "rm-before");
        await stayerOnC.NextAsync("message", where: MessageIn(conversation, "rm-before"));
        await leaverOnC.NextAsync("message", where: MessageIn(conversation, "rm-before"));
        Assert.True(await CounterAsync(cluster.A, "parley_bus_conversation_published_total") > onConversation);

        await cluster.B.Delete(owner, $"/api/groups/{group.Id()}/members/{leaver.Id}").Expect(HttpStatusCode.NoContent);
        // Right away through A, whose view may not have heard of the removal yet, to C, whose view may not either.
        await cluster.A.SendTextAsync(owner, conversation, "after", "rm-after");

        // The one who stays gets it; C delivered to both (or not) in the same pass, so a pong asked for after that
        // comes after anything that pass queued on the leaver's socket.
        await stayerOnC.NextAsync("message", where: MessageIn(conversation, "rm-after"));
        await leaverOnC.SendAsync(new JsonObject { ["type"] = "ping" });
        Assert.True(await leaverOnC.NoneBeforeAsync("message", "pong", where: MessageIn(conversation, "rm-after")));
    }

    [Fact]
    public async Task A_small_group_goes_through_user_channels_and_moves_to_its_conversation_channel_when_it_grows()
    {
        var owner = await cluster.A.RegisterAsync();
        var memberB = await cluster.B.RegisterAsync();
        var joiner = await cluster.C.RegisterAsync();
        var group = await cluster.A.CreateGroupAsync(owner, null, memberB);
        var conversation = (string)group["conversationId"]!;
        var channel = ConversationChannel(conversation);
        await using var ownerOnA = await WsClient.ConnectAsync(cluster.A, owner.AccessToken);
        await using var memberOnB = await WsClient.ConnectAsync(cluster.B, memberB.AccessToken);
        await using var joinerOnC = await WsClient.ConnectAsync(cluster.C, joiner.AccessToken);
        Assert.Equal(0, await SubscribersAsync(channel)); // 2 members: below the size

        await ownerOnA.SendAsync(Send(conversation, "small-1", "first"));
        await memberOnB.NextAsync("message", where: MessageIn(conversation, "small-1"));
        var published = await CounterAsync(cluster.A, "parley_bus_published_total");
        var onConversation = await CounterAsync(cluster.A, "parley_bus_conversation_published_total");
        await ownerOnA.SendAsync(Send(conversation, "small-2", "second"));
        await memberOnB.NextAsync("message", where: MessageIn(conversation, "small-2"));
        Assert.Equal(1, await CounterAsync(cluster.A, "parley_bus_published_total") - published); // the member's channel (no other node holds the sender: its own channel is skipped)
        Assert.Equal(0, await CounterAsync(cluster.A, "parley_bus_conversation_published_total") - onConversation);

        // A third member, online on C, added through B: the group is big now. Every node holding a member listens,
        // and the members it serves are told to resync the conversation (the route changed under them).
        await cluster.B.Post(owner, $"/api/groups/{group.Id()}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(joiner) }).Expect(HttpStatusCode.OK);
        await joinerOnC.NextAsync("resync", where: ResyncOf(conversation));
        await memberOnB.NextAsync("resync", where: ResyncOf(conversation));
        await ownerOnA.NextAsync("resync", where: ResyncOf(conversation));
        await SubscribersBecomeAsync(channel, 3);

        onConversation = await CounterAsync(cluster.A, "parley_bus_conversation_published_total");
        await ownerOnA.SendAsync(Send(conversation, "grown", "to three"));
        await memberOnB.NextAsync("message", where: MessageIn(conversation, "grown"));
        await joinerOnC.NextAsync("message", where: MessageIn(conversation, "grown"));
        Assert.Equal(1, await CounterAsync(cluster.A, "parley_bus_conversation_published_total") - onConversation);

        // Back below the size: the channel is let go everywhere, and the members go on through their user channels.
        await cluster.A.Delete(owner, $"/api/groups/{group.Id()}/members/{joiner.Id}").Expect(HttpStatusCode.NoContent);
        await SubscribersBecomeAsync(channel, 0);
        await ownerOnA.SendAsync(Send(conversation, "small-again", "two of us"));
        await memberOnB.NextAsync("message", where: MessageIn(conversation, "small-again"));
    }

    [Fact]
    public async Task Recall_and_typing_of_a_big_group_cross_on_its_conversation_channel()
    {
        var owner = await cluster.A.RegisterAsync();
        var memberB = await cluster.B.RegisterAsync();
        var memberC = await cluster.C.RegisterAsync();
        var group = await cluster.A.CreateGroupAsync(owner, null, memberB, memberC);
        var conversation = (string)group["conversationId"]!;
        await using var ownerOnA = await WsClient.ConnectAsync(cluster.A, owner.AccessToken);
        await using var memberOnB = await WsClient.ConnectAsync(cluster.B, memberB.AccessToken);
        await using var memberOnC = await WsClient.ConnectAsync(cluster.C, memberC.AccessToken);

        var seq = (await cluster.A.SendTextAsync(owner, conversation, "soon gone", "rt-1")).Seq();
        await memberOnB.NextAsync("message", where: MessageIn(conversation, "rt-1"));
        await memberOnC.NextAsync("message", where: MessageIn(conversation, "rt-1"));
        var onConversation = await CounterAsync(cluster.A, "parley_bus_conversation_published_total");

        await cluster.A.Post(owner, $"/api/conversations/{conversation}/messages/{seq}/recall").Expect(HttpStatusCode.OK);
        foreach (var socket in new[] { memberOnB, memberOnC })
        {
            var recalled = await socket.NextAsync("recalled");
            Assert.Equal(conversation, (string?)recalled["conversationId"]);
            Assert.Equal(seq, (long)recalled["seq"]!);
        }

        Assert.Equal(1, await CounterAsync(cluster.A, "parley_bus_conversation_published_total") - onConversation);

        // Typing on C: the others hear it on A and B; the typer is left out on every node.
        await memberOnC.SendAsync(new JsonObject { ["type"] = "typing", ["conversationId"] = conversation });
        Assert.Equal(memberC.Id, (string?)(await ownerOnA.NextAsync("typing"))["userId"]);
        Assert.Equal(memberC.Id, (string?)(await memberOnB.NextAsync("typing"))["userId"]);
        await cluster.A.SendTextAsync(owner, conversation, "barrier", "rt-barrier");
        Assert.True(await memberOnC.NoneBeforeAsync("typing", "message", sentinel: MessageIn(conversation, "rt-barrier")));
    }

    [Fact]
    public async Task A_node_that_could_not_publish_tells_the_others_on_return_which_conversations_moved()
    {
        // A fourth node on a Redis user of its own, so its publishes alone can be refused (ACL) while the bus stays up
        // for the others: the node's frames are lost, it is degraded (its canary cannot go out either), and when it
        // may publish again it announces the conversations whose frames did not go out.
        var server = Redis.GetServer(Redis.GetEndPoints()[0]);
        var user = cluster.Prefix + "-d";
        var password = Guid.NewGuid().ToString("N");
        await server.ExecuteAsync("ACL", "SETUSER", user, "on", ">" + password, "~*", "&*", "+@all");
        try
        {
            var endpoint = TestRedis.Configuration!.Split(',')[0];
            await using var d = await ChildServer.StartAsync(cluster.Store, [.. cluster.NodeArgs(4), $"--Cluster:Redis={endpoint},user={user},password={password},name={user}"]);
            var owner = await d.RegisterAsync();
            var memberB = await cluster.B.RegisterAsync();
            var memberC = await cluster.C.RegisterAsync();
            var group = await d.CreateGroupAsync(owner, null, memberB, memberC);
            var conversation = (string)group["conversationId"]!;
            await using var memberOnB = await WsClient.ConnectAsync(cluster.B, memberB.AccessToken);
            await using var memberOnC = await WsClient.ConnectAsync(cluster.C, memberC.AccessToken);
            await d.SendTextAsync(owner, conversation, "while all is well", "mv-before");
            await memberOnB.NextAsync("message", where: MessageIn(conversation, "mv-before"));

            await server.ExecuteAsync("ACL", "SETUSER", user, "-publish");
            await Poll.UntilAsync(async () => (await d.Http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.ServiceUnavailable, "the node that cannot publish reports itself degraded", TimeSpan.FromSeconds(30));
            var lost = (await d.SendTextAsync(owner, conversation, "never on the bus", "mv-lost")).Seq(); // commits all the same
            await Poll.UntilAsync(async () => await CounterAsync(d, "parley_bus_publish_failures_total") > 0, "the refused publish is counted", TimeSpan.FromSeconds(30));

            await server.ExecuteAsync("ACL", "SETUSER", user, "+publish");
            foreach (var socket in new[] { memberOnB, memberOnC })
            {
                // Told which conversation moved (their own nodes never lost the bus: no resync of everything)...
                var resync = await socket.NextAsync("resync", TimeSpan.FromSeconds(30), ResyncOf(conversation));
                Assert.Equal([conversation], resync["conversationIds"]!.AsArray().Select(id => (string?)id));
                Assert.False(socket.Has("message", MessageIn(conversation, "mv-lost"))); // ...because it never came live
            }

            // ...and catching up by after= finds it.
            var caughtUp = await cluster.B.CatchUpAsync(memberB, conversation);
            Assert.Contains(caughtUp, m => m.Seq() == lost);
            await Poll.UntilAsync(async () => (await d.Http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, "the node ready again", TimeSpan.FromSeconds(30));
        }
        finally
        {
            await server.ExecuteAsync("ACL", "DELUSER", user);
        }
    }
}
