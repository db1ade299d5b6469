using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Calls;

public sealed class CallSignalLimitTestsSqlite() : CallSignalLimitTests(Backend.Sqlite);

/// <summary>
/// <c>Calls:SignalBurst</c> / <c>Calls:SignalsPerSecond</c> hold per device in a call, not per socket: a device may open
/// up to <c>Realtime:MaxConnectionsPerUser</c> sockets on the same session, and every one of them may signal its call,
/// so a per-socket bucket let one caller relay that many times the limit (64 KiB each) into every ringing device.
/// </summary>
public abstract class CallSignalLimitTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task A_device_signaling_from_several_sockets_shares_one_limit()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Calls:SignalBurst=3", "--Calls:SignalsPerSecond=0.001");
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        await using var caller = await WsClient.ConnectAsync(server, a.AccessToken);
        await using var callerAgain = await WsClient.ConnectAsync(server, a.AccessToken); // the same device, a second socket
        await using var callee = await WsClient.ConnectAsync(server, b.AccessToken);
        var callId = await caller.InviteAsync(conversationId);
        await callee.NextAsync("call.ring", where: CallFrames.Of(callId));

        for (var i = 0; i < 3; i++)
        {
            await caller.SendAsync(CallFrames.Signal(callId, "candidate " + i));
        }

        Assert.Equal("rate_limited", (string?)(await caller.RefusedAsync(CallFrames.Signal(callId, "one too many")))["code"]);
        Assert.Equal("rate_limited", (string?)(await callerAgain.RefusedAsync(CallFrames.Signal(callId, "from the other socket")))["code"]);

        // A device not in the call has a bucket of its own, and is refused as ever.
        await using var outsider = await WsClient.ConnectAsync(server, (await server.RegisterAsync()).AccessToken);
        Assert.Equal("not_found", (string?)(await outsider.RefusedAsync(CallFrames.Signal(callId, "x")))["code"]);

        await caller.SendAsync(CallFrames.Frame("call.hangup", callId));
        await callee.NextAsync("call.ended", where: CallFrames.Of(callId));
        Assert.Equal(["candidate 0", "candidate 1", "candidate 2"], callee.TakeAll("call.signal").Select(f => (string?)f["data"]));
    }
}
