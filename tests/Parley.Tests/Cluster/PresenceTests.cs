using System.Net;
using Parley.Tests.Admin;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// Presence across nodes: a user is online while any live node holds one of their connections; the first connection
/// of the cluster is announced online, the last offline; a node killed with SIGKILL takes its users offline within
/// <c>Cluster:NodeTimeoutSeconds</c> (and a beat); a restarted node clears its previous incarnation at once.
/// Cross-node frames need the bus: these tests read the cluster-wide state through REST (the friend list's
/// <c>online</c>), and frames only where the announcing node holds the friend's socket.
/// </summary>
public sealed class PresenceTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    public ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task A_friend_on_another_node_sees_the_user_come_online_and_go_offline()
    {
        await using var cluster = await EdgeNodes.CreateAsync();
        var a = await cluster.StartAsync(1);
        var b = await cluster.StartAsync(2);
        var alice = await a.RegisterAsync();
        var bob = await a.RegisterAsync();
        await a.MakeFriendsAsync(alice, bob);
        Assert.False(await OnlineAsync(b, bob, alice));

        var socket = await WsClient.ConnectAsync(a, alice.AccessToken);
        await Poll.UntilAsync(() => OnlineAsync(b, bob, alice), "alice online as node B sees it", Bound); // no event reaches a REST reader
        await socket.DisposeAsync();
        await Poll.UntilAsync(async () => !await OnlineAsync(b, bob, alice), "alice offline as node B sees it", Bound);
    }

    [Fact]
    public async Task Only_the_first_connection_of_the_cluster_is_announced_and_only_the_last_goes_offline()
    {
        await using var cluster = await EdgeNodes.CreateAsync();
        var a = await cluster.StartAsync(1);
        var b = await cluster.StartAsync(2);
        var alice = await a.RegisterAsync();
        var bob = await a.RegisterAsync();
        await a.MakeFriendsAsync(alice, bob);
        var conversationId = await a.DirectAsync(alice, bob);
        await using var bobOnA = await WsClient.ConnectAsync(a, bob.AccessToken);

        // Alice's first connection is on B: online for the cluster.
        var aliceOnB = await WsClient.ConnectAsync(b, alice.AccessToken);
        await Poll.UntilAsync(() => OnlineAsync(a, bob, alice), "alice online as node A sees it", Bound);
        // B's announcement reaches bob on A through the bus; wait for it before the drain.
        Assert.True((bool)(await bobOnA.NextAsync("presence", Bound, p => (string?)p["userId"] == alice.Id))["online"]!);
        await DrainPresenceAsync(bobOnA, alice, conversationId, a, "before");

        // Her second connection, the first on A, is not news: node A announces nothing. The sentinel is a message she
        // sends on that socket, which the route carries after the announcement would have been.
        await using var aliceOnA = await WsClient.ConnectAsync(a, alice.AccessToken);
        await aliceOnA.SendAsync(SendFrame(conversationId, "sentinel-1"));
        Assert.True(await bobOnA.NoneBeforeAsync("presence", "message", m => (string?)m["message"]!["clientMsgId"] == "sentinel-1", p => (string?)p["userId"] == alice.Id));

        // Her socket on B goes: she is still online on A, so nothing is announced and REST still says online.
        await aliceOnB.DisposeAsync();
        await aliceOnA.SendAsync(SendFrame(conversationId, "sentinel-2"));
        Assert.True(await bobOnA.NoneBeforeAsync("presence", "message", m => (string?)m["message"]!["clientMsgId"] == "sentinel-2", p => (string?)p["userId"] == alice.Id));
        Assert.True(await OnlineAsync(b, bob, alice));

        // Her last socket goes: offline, announced by A to bob's socket there.
        await aliceOnA.DisposeAsync();
        var offline = await bobOnA.NextAsync("presence", Bound, p => (string?)p["userId"] == alice.Id);
        Assert.False((bool)offline["online"]!);
        Assert.False(await OnlineAsync(b, bob, alice));
    }

    [Fact]
    public async Task A_killed_nodes_users_go_offline_within_the_bound()
    {
        await using var cluster = await EdgeNodes.CreateAsync();
        string[] fast = ["--Cluster:NodeTimeoutSeconds=2"];
        var a = await cluster.StartAsync(1, fast);
        var c = await cluster.StartAsync(3, fast);
        var alice = await a.RegisterAsync();
        var bob = await a.RegisterAsync();
        await a.MakeFriendsAsync(alice, bob);
        await using var bobOnA = await WsClient.ConnectAsync(a, bob.AccessToken);
        await using var aliceOnC = await WsClient.ConnectAsync(c, alice.AccessToken);
        await Poll.UntilAsync(() => OnlineAsync(a, bob, alice), "alice online as node A sees it", Bound);

        await c.KillAsync();
        // A is the only survivor, so it reaps C and its route brings bob the frame (with the bus, any survivor would).
        var offline = await bobOnA.NextAsync("presence", Bound, p => (string?)p["userId"] == alice.Id && !(bool)p["online"]!);
        Assert.True((long)offline["lastSeenAt"]! > 0);
        Assert.False(await OnlineAsync(a, bob, alice));
    }

    [Fact]
    public async Task A_restarted_node_clears_its_previous_incarnation_at_once()
    {
        await using var cluster = await EdgeNodes.CreateAsync();
        // Liveness keys that outlive the test: only the restart itself can take alice offline in time.
        string[] slow = ["--Cluster:NodeTimeoutSeconds=300"];
        var a = await cluster.StartAsync(1, slow);
        var c = await cluster.StartAsync(3, slow);
        var alice = await a.RegisterAsync();
        var bob = await a.RegisterAsync();
        await a.MakeFriendsAsync(alice, bob);
        var aliceOnC = await WsClient.ConnectAsync(c, alice.AccessToken);
        await Poll.UntilAsync(() => OnlineAsync(a, bob, alice), "alice online as node A sees it", Bound);

        await c.KillAsync();
        aliceOnC.Abort();
        Assert.True(await OnlineAsync(a, bob, alice)); // node 3's old liveness key is still there
        await cluster.StartAsync(3, slow);
        await Poll.UntilAsync(async () => !await OnlineAsync(a, bob, alice), "alice offline once node 3 restarted", Bound);
    }

    [Fact]
    public async Task Admin_stats_count_the_users_and_sockets_of_every_live_node()
    {
        await using var cluster = await EdgeNodes.CreateAsync();
        string[] args = ["--Cluster:NodeTimeoutSeconds=2", $"--Admin:ApiKeys:0={AdminFixture.Key}"];
        var a = await cluster.StartAsync(1, args);
        var b = await cluster.StartAsync(2, args);
        var alice = await a.RegisterAsync();
        var bob = await a.RegisterAsync();
        var aliceTwo = await a.LoginAsync(alice.Username, alice.Password, "two");
        await using var aliceOnA = await WsClient.ConnectAsync(a, alice.AccessToken);
        await using var aliceTwoOnA = await WsClient.ConnectAsync(a, aliceTwo.AccessToken);
        await using var aliceOnB = await WsClient.ConnectAsync(b, aliceTwo.AccessToken);
        await using var bobOnB = await WsClient.ConnectAsync(b, bob.AccessToken);

        // Two users online on the cluster (alice on both nodes counts once), four sockets; the other node's sockets as
        // of its next beat, so each node's answer is awaited.
        await Poll.UntilAsync(async () => await StatsAsync(a) == (2, 4), "node A's stats counting node B", Bound);
        await Poll.UntilAsync(async () => await StatsAsync(b) == (2, 4), "node B's stats counting node A", Bound);

        // B dies: once its liveness key is gone, its users and sockets are no longer counted.
        await b.KillAsync();
        await Poll.UntilAsync(async () => await StatsAsync(a) == (1, 2), "node A's stats without node B", Bound);
    }

    private static async Task<(long OnlineUsers, long Connections)> StatsAsync(ApiHost node)
    {
        using var response = await node.Admin(HttpMethod.Get, "/api/admin/stats");
        response.EnsureSuccessStatusCode();
        var stats = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return ((long)stats["onlineUsers"]!, (long)stats["connections"]!);
    }

    private static async Task<bool> OnlineAsync(ApiHost node, TestUser viewer, TestUser friend)
    {
        var entry = (await node.FriendsAsync(viewer)).Single(f => (string?)f["user"]!["id"] == friend.Id);
        return (bool)entry["online"]!;
    }

    private static async Task DrainPresenceAsync(WsClient socket, TestUser from, string conversationId, ApiHost node, string tag)
    {
        // Everything the route had for this socket before now: a message sent through REST on the same node comes after it.
        await node.SendTextAsync(from, conversationId, tag, tag);
        await socket.NextAsync("message", Bound, m => (string?)m["message"]!["clientMsgId"] == tag);
        while (socket.Has("presence"))
        {
            await socket.NextAsync("presence");
        }
    }

    private static System.Text.Json.Nodes.JsonObject SendFrame(string conversationId, string id) => new()
    {
        ["type"] = "send", ["ref"] = id, ["conversationId"] = conversationId, ["clientMsgId"] = id,
        ["msgType"] = "text", ["content"] = new System.Text.Json.Nodes.JsonObject { ["text"] = id },
    };
}
