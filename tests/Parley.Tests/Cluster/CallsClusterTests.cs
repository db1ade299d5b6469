using System.Text.Json.Nodes;
using Parley.Tests.Calls;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>A call between two nodes: the caller on one, the callee's devices on the other (real node processes).</summary>
public sealed class CallsClusterTests : IAsyncLifetime
{
    public ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task A_call_rings_is_accepted_and_signals_across_nodes()
    {
        await using var cluster = await EdgeNodes.CreateAsync();
        // A prefix of its own: the calls' channel is per prefix, and other edge tests' clusters share the Redis.
        string[] args = ["--Calls:ReconnectSeconds=1", $"--Cluster:ChannelPrefix=t{Guid.NewGuid():N}"];
        var a = await cluster.StartAsync(1, args);
        var b = await cluster.StartAsync(2, args);
        var alice = await a.RegisterAsync();
        var bob = await a.RegisterAsync();
        var stranger = await a.RegisterAsync();
        await a.MakeFriendsAsync(alice, bob);
        var direct = await a.DirectAsync(alice, bob);
        var bobLaptop = await b.LoginAsync(bob.Username, bob.Password, "laptop");

        await using var caller = await WsClient.ConnectAsync(a, alice.AccessToken);
        var phone = await WsClient.ConnectAsync(b, bob.AccessToken);
        await using var laptop = await WsClient.ConnectAsync(b, bobLaptop.AccessToken);
        await using var outsider = await WsClient.ConnectAsync(b, stranger.AccessToken);
        // node A sees bob online through the cluster's presence before it is asked to ring him
        await Poll.UntilAsync(async () => (bool)(await a.FriendsAsync(alice)).Single(f => (string?)f["user"]!["id"] == bob.Id)["online"]!, "bob online as node A sees it", TimeSpan.FromSeconds(20));

        var callId = await caller.InviteAsync(direct, "video");
        await phone.NextAsync("call.ring", where: CallFrames.Of(callId));
        await laptop.NextAsync("call.ring", where: CallFrames.Of(callId));
        await caller.SendAsync(CallFrames.Signal(callId, new JsonObject { ["type"] = "offer" }));
        Assert.Equal("offer", (string?)(await phone.NextAsync("call.signal", where: CallFrames.Of(callId)))["data"]!["type"]);
        Assert.Equal("offer", (string?)(await laptop.NextAsync("call.signal", where: CallFrames.Of(callId)))["data"]!["type"]);

        // a stranger on node B is answered by node A, where the call is held
        Assert.Equal("not_found", (string?)(await outsider.RefusedAsync(CallFrames.Frame("call.accept", callId)))["code"]);
        // a signal from a device that accepted no call on another node is answered by its own node, even for a call id
        // naming a node that does not exist (forwarded, it would never be answered)
        var nowhere = (1024L * 987_654_321 + 999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal("not_found", (string?)(await outsider.RefusedAsync(CallFrames.Signal(nowhere, "x")))["code"]);
        Assert.Equal("not_found", (string?)(await outsider.RefusedAsync(CallFrames.Signal(callId, "x")))["code"]);

        await phone.SendAsync(CallFrames.Frame("call.accept", callId));
        Assert.Equal(bob.DeviceId, (string?)(await caller.NextAsync("call.accepted", where: CallFrames.Of(callId)))["deviceId"]);
        Assert.Equal("answered_elsewhere", (string?)(await laptop.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        await phone.SendAsync(CallFrames.Signal(callId, new JsonObject { ["type"] = "answer" }));
        Assert.Equal("answer", (string?)(await caller.NextAsync("call.signal", where: CallFrames.Of(callId)))["data"]!["type"]);
        await caller.SendAsync(CallFrames.Signal(callId, "candidate"));
        Assert.Equal("candidate", (string?)(await phone.NextAsync("call.signal", where: CallFrames.Of(callId)))["data"]);

        await phone.SendAsync(CallFrames.Frame("call.hangup", callId));
        Assert.Equal("hangup", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        Assert.Equal("hangup", (string?)(await phone.NextAsync("call.ended", where: CallFrames.Of(callId)))["reason"]);
        var record = await phone.NextAsync("message", where: f => (string?)f["message"]!["type"] == "call");
        Assert.Equal("completed", (string?)record["message"]!["content"]!["outcome"]);
        Assert.True(await laptop.NoneBeforeAsync("call.signal", "message", where: CallFrames.Of(callId)));

        // the callee's device on node B loses its socket: node A, which holds the call, ends it after the window
        var second = await caller.InviteAsync(direct);
        await phone.NextAsync("call.ring", where: CallFrames.Of(second));
        await phone.SendAsync(CallFrames.Frame("call.accept", second));
        await caller.NextAsync("call.accepted", where: CallFrames.Of(second));
        phone.Abort();
        await phone.DisposeAsync();
        Assert.Equal("disconnected", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(second)))["reason"]);

        // a block made through node B ends the call node A holds, on both sides
        var third = await caller.InviteAsync(direct);
        await laptop.NextAsync("call.ring", where: CallFrames.Of(third));
        await laptop.SendAsync(CallFrames.Frame("call.accept", third));
        await caller.NextAsync("call.accepted", where: CallFrames.Of(third));
        await b.Put(bob, $"/api/blocks/{alice.Id}").Expect(System.Net.HttpStatusCode.NoContent);
        Assert.Equal("hangup", (string?)(await caller.NextAsync("call.ended", where: CallFrames.Of(third)))["reason"]);
        Assert.Equal("hangup", (string?)(await laptop.NextAsync("call.ended", where: CallFrames.Of(third)))["reason"]);
    }
}
