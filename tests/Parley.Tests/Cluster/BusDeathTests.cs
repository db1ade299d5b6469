using System.Collections.Concurrent;
using System.Net;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// The bus dies under a send burst from clients spread over three nodes: Redis stopped and started again, and
/// (separately) frozen with SIGSTOP and thawed. Sends still commit (PostgreSQL is the truth); no client silently misses
/// a message: each one got it live or was told to <c>resync</c> and then caught up; and the nodes recover by
/// themselves (ready again, live pushes across nodes again) without a restart. The Redis is the test's own.
/// </summary>
public sealed class BusDeathTests : IAsyncLifetime
{
    public ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public Task Redis_stopped_and_started_again_mid_burst_leaves_no_client_silently_behind() =>
        OutageAsync(async redis =>
        {
            await redis.StopServerAsync();
            return redis.StartServerAsync;
        });

    [Fact]
    public Task Redis_frozen_with_SIGSTOP_mid_burst_leaves_no_client_silently_behind() =>
        OutageAsync(async redis =>
        {
            await redis.FreezeAsync();
            return redis.ThawAsync;
        });

    [Fact]
    public Task Redis_stopped_and_started_again_mid_burst_on_a_conversation_channel_leaves_no_client_silently_behind() =>
        OutageAsync(
            async redis =>
            {
                await redis.StopServerAsync();
                return redis.StartServerAsync;
            },
            "--Cluster:GroupChannelMinMembers=3"); // the burst's group of 6 is big: one publish per message on its channel

    /// <param name="outage">Breaks the bus; returns what mends it.</param>
    /// <param name="nodeArgs">Flags every node runs with besides the cluster's.</param>
    private static async Task OutageAsync(Func<PrivateRedis, Task<Func<Task>>> outage, params string[] nodeArgs)
    {
        await using var redis = await PrivateRedis.StartAsync("bus", 56480);
        await using var store = await TestStore.CreateAsync(Backend.Postgres);
        Func<Task>? mend = null;
        try
        {
            await using var cluster = await ClusterNodes.StartAsync(store, 3, redis.Configuration, nodeArgs);
            var users = await cluster[0].RegisterManyAsync(6);
            var conversationId = (string)(await cluster[0].CreateGroupAsync(users[0], null, users[1..]))["conversationId"]!;
            var devices = new List<ClusterDevice>();
            var senders = new List<ClusterDevice>();
            try
            {
                for (var i = 0; i < users.Length; i++)
                {
                    var device = await ClusterDevice.ConnectAsync(cluster, users[i], i % 3);
                    devices.Add(device);
                    senders.Add(device);
                }

                for (var i = 0; i < 3; i++)
                {
                    devices.Add(await ClusterDevice.ConnectAsync(cluster, await cluster[0].LoginAsync(users[i].Username, users[i].Password, device: "second"), (i + 1) % 3));
                }

                var total = 0;
                var counted = new ConcurrentDictionary<int, TaskCompletionSource>();
                Task AckedAtLeast(int n) => counted.GetOrAdd(n, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                void Acked()
                {
                    var now = Interlocked.Increment(ref total);
                    foreach (var (n, done) in counted)
                    {
                        if (now >= n)
                        {
                            done.TrySetResult();
                        }
                    }
                }

                var refused = new ConcurrentDictionary<string, string>();
                using var stop = new CancellationTokenSource();
                var loops = senders.Select((d, n) => Task.Run(() => d.SendUntilAsync(conversationId, $"s{n}", stop.Token, Acked, refused: refused))).ToList();
                await Task.WhenAny(AckedAtLeast(60), Task.WhenAll(loops)).WaitAsync(TimeSpan.FromSeconds(60));
                Assert.True(total >= 60, $"only {total} sends were acknowledged before the outage");

                mend = await outage(redis);
                // Degraded: every node says so on /health/ready (the canary or the lost connection); sends go on meanwhile.
                foreach (var node in cluster.Nodes)
                {
                    await Poll.UntilAsync(async () => (await node.Http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.ServiceUnavailable, "a node reports the lost bus", TimeSpan.FromSeconds(60));
                }

                var atOutage = Volatile.Read(ref total);
                await Task.WhenAny(AckedAtLeast(atOutage + 30), Task.WhenAll(loops)).WaitAsync(TimeSpan.FromSeconds(60));
                await mend();
                mend = null;

                // Recovered by themselves: ready again (only /health/ready can tell a test that), and sending on.
                foreach (var node in cluster.Nodes)
                {
                    await Poll.UntilAsync(async () => (await node.Http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, "a node ready again after the bus is back", TimeSpan.FromSeconds(60));
                }

                var atRecovery = Volatile.Read(ref total);
                await Task.WhenAny(AckedAtLeast(atRecovery + 30), Task.WhenAll(loops)).WaitAsync(TimeSpan.FromSeconds(60));
                await stop.CancelAsync();
                Assert.All(await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(60)), Assert.Null); // no socket died
                Assert.All(cluster.Nodes, node => Assert.False(node.HasExited));

                // Sends refused during the outage (if any were) are retried as a client does: same clientMsgId.
                foreach (var id in refused.Keys)
                {
                    var sender = senders[int.Parse(id[1..id.IndexOf('-', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture)];
                    sender.Acked[id] = (await sender.SendOnceAsync(conversationId, id))!.Value;
                }

                // A barrier, and the proof that live pushes cross nodes again: the last message reaches every device live.
                var sentinel = (await senders[0].SendOnceAsync(conversationId, "sentinel"))!.Value;
                senders[0].Acked["sentinel"] = sentinel;
                foreach (var device in devices.Where(d => d != senders[0]))
                {
                    await device.Socket.NextAsync("message", TimeSpan.FromSeconds(30), f => f["message"]!.Seq() == sentinel);
                    device.Live.Add(sentinel);
                }

                if (nodeArgs.Length > 0)
                {
                    // The variant's point: the burst went over the group's conversation channel, not its members' channels.
                    var onChannel = 0.0;
                    foreach (var node in cluster.Nodes)
                    {
                        onChannel += PrometheusText.Parse(await node.ScrapeAsync()).Where(s => s.Name == "parley_bus_conversation_published_total").Sum(s => s.Value);
                    }

                    Assert.True(onChannel >= 60, $"only {onChannel} payloads went over the conversation channel");
                }

                var history = await cluster[0].CatchUpAsync(users[0], conversationId);
                var all = Enumerable.Range(1, history.Count).Select(s => (long)s).ToList();
                Assert.Equal(all, history.Select(m => m.Seq())); // dense
                var byId = history.ToDictionary(m => (string)m["clientMsgId"]!, m => m.Seq());
                Assert.All(senders.SelectMany(d => d.Acked), a => Assert.Equal(a.Value, byId[a.Key]));

                foreach (var device in devices)
                {
                    device.Collect(conversationId);
                    var own = device.Acked.Values.ToHashSet();
                    var missed = all.Where(s => !own.Contains(s) && !device.Live.Contains(s)).ToList();
                    // Missing live pushes is allowed (the bus may lose anything); missing them silently is not.
                    Assert.True(missed.Count == 0 || device.Resynced, $"{device.User.Username} (node {device.Node}) missed {missed.Count} pushes and was never told to resync");
                    // And every node was degraded, so every socket it held is told when the bus is back (the rule).
                    Assert.True(device.Resynced, $"{device.User.Username} (node {device.Node}) got no resync after the bus came back");
                    Assert.Equal(all, await device.CatchUpAsync(conversationId));
                }
            }
            finally
            {
                foreach (var device in devices)
                {
                    await device.Socket.DisposeAsync();
                }
            }
        }
        finally
        {
            if (mend is not null)
            {
                await mend(); // a frozen Redis is thawed before the nodes are stopped and it is removed
            }
        }
    }
}
