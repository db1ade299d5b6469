using System.Net.WebSockets;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Realtime;

/// <summary>
/// A server told to stop (SIGTERM) closes its sockets with 1001 (going away) rather than holding its shutdown until
/// Kestrel's drain times out (30 s) and then cutting them off: clients learn at once and reconnect elsewhere.
/// </summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task A_stopping_server_closes_its_sockets_with_going_away_and_exits_without_waiting_out_the_drain()
    {
        await using var store = await TestStore.CreateAsync(Backend.Sqlite);
        await using var server = await ChildServer.StartAsync(store);
        var alice = await server.RegisterAsync();
        var bob = await server.RegisterAsync();
        await using var first = await WsClient.ConnectAsync(server, alice.AccessToken);
        await using var second = await WsClient.ConnectAsync(server, bob.AccessToken);

        // Kestrel's drain would wait 30 s for upgraded sockets that never close by themselves: exiting well within
        // that says the server closed them itself.
        Assert.True(await server.TerminateAsync(TimeSpan.FromSeconds(20)), "the server did not exit within 20 s of SIGTERM");
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await first.ClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await second.ClosedAsync(TimeSpan.FromSeconds(10)));
    }
}
