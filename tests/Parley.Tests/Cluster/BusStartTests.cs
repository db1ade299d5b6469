using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// A node whose Redis is not there: it starts and serves liveness, reports itself not ready with the bus as the
/// reason, and becomes ready by itself once Redis comes up (a private redis-server started by the test).
/// </summary>
public sealed class BusStartTests : IAsyncLifetime
{
    private TestStore? _store;

    public async ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        Assert.SkipUnless(File.Exists("/usr/bin/redis-server"), "redis-server is not installed (scripts/deps.sh installs it)");
        _store = await TestStore.CreateAsync(Backend.Postgres);
    }

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task A_node_without_Redis_is_live_but_not_ready_with_the_bus_as_the_reason_and_recovers_when_Redis_comes()
    {
        var port = FreePort();
        var cluster = new BusCluster();
        var args = cluster.NodeArgs(7);
        args[0] = $"--Cluster:Redis=127.0.0.1:{port},connectTimeout=500";
        await using var node = await ChildServer.StartUntilAsync(_store!, "/health/live", args);

        using (var ready = await node.Http.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var body = await ready.Content.ReadAsStringAsync();
            Assert.Contains("bus: Cluster bus degraded", body, StringComparison.Ordinal);
            Assert.DoesNotContain("password", body, StringComparison.OrdinalIgnoreCase);
        }

        // Redis arrives after the node: the node becomes ready without a restart.
        using var redis = Process.Start(new ProcessStartInfo("/usr/bin/redis-server")
        {
            ArgumentList = { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" },
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                using var ready = await node.Http.GetAsync("/health/ready");
                if (ready.StatusCode == HttpStatusCode.OK)
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, "the node did not become ready after Redis came: " + await ready.Content.ReadAsStringAsync());
                await Task.Delay(100); // the next look at /health/ready: readiness announces itself to no one
            }

            // And it serves sockets with the bus: a user's channel is subscribed once the socket is open.
            var user = await node.RegisterAsync();
            await using var socket = await WsClient.ConnectAsync(node, user.AccessToken);
            Assert.Equal(user.Id, (string?)socket.Hello["userId"]);
        }
        finally
        {
            redis.Kill();
            await redis.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        }
    }
}
