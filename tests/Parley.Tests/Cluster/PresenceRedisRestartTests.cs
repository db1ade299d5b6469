using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// Redis lost everything (killed and started again empty) while a user stayed connected: the node finds its liveness
/// key gone at its next beat and re-registers the users it holds, so the cluster sees them online again. The test
/// runs a Redis of its own (Debian's redis-server), never the shared one of <c>PARLEY_TEST_REDIS</c>.
/// </summary>
public sealed class PresenceRedisRestartTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    public ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task After_Redis_comes_back_empty_the_nodes_users_are_online_again()
    {
        var port = FreePort();
        var redis = StartRedis(port);
        try
        {
            await using var cluster = await EdgeNodes.CreateAsync();
            string[] own = [$"--Cluster:Redis=127.0.0.1:{port}", "--Cluster:NodeTimeoutSeconds=2"];
            var a = await cluster.StartAsync(1, own);
            var b = await cluster.StartAsync(2, own);
            var alice = await a.RegisterAsync();
            var bob = await a.RegisterAsync();
            await a.MakeFriendsAsync(alice, bob);
            await using var aliceOnA = await WsClient.ConnectAsync(a, alice.AccessToken);
            await Poll.UntilAsync(() => OnlineAsync(b, bob, alice), "alice online as node B sees it", Bound);

            redis.Kill();
            await redis.WaitForExitAsync().WaitAsync(Bound);
            redis.Dispose();
            redis = StartRedis(port); // empty: every presence key is gone
            // Polled: nothing tells a REST reader; node A's beat re-adds alice once it reconnects.
            await Poll.UntilAsync(() => OnlineAsync(b, bob, alice), "alice online again after Redis came back empty", Bound);
            Assert.Equal(WebSocketStateOpen, aliceOnA.State);
        }
        finally
        {
            redis.Kill();
            await redis.WaitForExitAsync().WaitAsync(Bound);
            redis.Dispose();
        }
    }

    private const System.Net.WebSockets.WebSocketState WebSocketStateOpen = System.Net.WebSockets.WebSocketState.Open;

    private static async Task<bool> OnlineAsync(ApiHost node, TestUser viewer, TestUser friend)
    {
        using var response = await node.Get(viewer, "/api/friends");
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return false;
        }

        var entry = (await node.FriendsAsync(viewer)).Single(f => (string?)f["user"]!["id"] == friend.Id);
        return (bool)entry["online"]!;
    }

    private static Process StartRedis(int port)
    {
        var start = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start redis-server");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
