using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// Offline notifications in cluster mode: a recipient connected to another node is online, so nothing is pushed;
/// once their last connection anywhere closes, the next message is pushed. Cross-node presence has no event a test
/// can wait on: the friend list's <c>online</c>, read through the committing node, is polled.
/// </summary>
public sealed class PushClusterTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    public ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task A_recipient_online_on_another_node_gets_no_push()
    {
        await using var receiver = await PushReceiver.StartAsync();
        await using var cluster = await EdgeNodes.CreateAsync();
        string[] args = PushReceiver.ServerArgs("--Push:CoalesceSeconds=0");
        var a = await cluster.StartAsync(1, args);
        var b = await cluster.StartAsync(2, args);
        var alice = await a.RegisterAsync();
        var bob = await a.RegisterAsync();
        await a.MakeFriendsAsync(alice, bob);
        var direct = await a.DirectAsync(alice, bob);
        // Registered through node A, the node that commits alice's messages: it knows at once that bob has a target.
        await a.Post(bob, "/api/users/me/push-targets", new System.Text.Json.Nodes.JsonObject { ["kind"] = "webhook", ["endpoint"] = receiver.Endpoint("bob") })
            .Expect(System.Net.HttpStatusCode.Created);

        await using (var socket = await WsClient.ConnectAsync(b, bob.AccessToken))
        {
            await Poll.UntilAsync(() => OnlineAsync(a, alice, bob), "bob online as node A sees it", Bound);
            await a.SendTextAsync(alice, direct, "bob is on node B");
            await socket.NextAsync("message", Bound, f => (long)f["message"]!["seq"]! == 1);
        }

        await Poll.UntilAsync(async () => !await OnlineAsync(a, alice, bob), "bob offline as node A sees it", Bound);
        await a.SendTextAsync(alice, direct, "bob is offline");
        await receiver.FirstAsync("bob", direct, 2); // the barrier: the same target's pushes arrive in order
        Assert.DoesNotContain(receiver.To("bob"), p => p.Seq == 1);
    }

    private static async Task<bool> OnlineAsync(ApiHost node, TestUser viewer, TestUser friend) =>
        (bool)(await node.FriendsAsync(viewer)).Single(f => (string?)f["user"]!["id"] == friend.Id)["online"]!;
}
