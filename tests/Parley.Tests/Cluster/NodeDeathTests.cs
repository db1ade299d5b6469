using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// A node dies with SIGKILL during a send burst from clients spread over all three nodes. Its clients reconnect to the
/// others, retry the send whose answer they never got (same clientMsgId), and catch up by after=: at the end every
/// acknowledged message is on every device exactly once, the conversation's seqs are dense, and no push came twice.
/// </summary>
public sealed class NodeDeathTests : IAsyncLifetime
{
    public ValueTask InitializeAsync()
    {
        TestRedis.SkipUnlessCluster();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Every_acknowledged_message_reaches_every_device_exactly_once_when_a_node_is_killed_mid_burst()
    {
        await using var store = await TestStore.CreateAsync(Backend.Postgres);
        await using var cluster = await ClusterNodes.StartAsync(store, 3, TestRedis.Configuration!);
        var users = await cluster[0].RegisterManyAsync(6);
        var conversationId = (string)(await cluster[0].CreateGroupAsync(users[0], null, users[1..]))["conversationId"]!;

        // Six users, one device each on node i mod 3, and three of them a second device on another node.
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
                var login = await cluster[0].LoginAsync(users[i].Username, users[i].Password, device: "second");
                devices.Add(await ClusterDevice.ConnectAsync(cluster, login, (i + 1) % 3));
            }

            const int Victim = 1;
            var total = 0;
            var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var stop = new CancellationTokenSource();
            void Acked()
            {
                if (Interlocked.Increment(ref total) >= 90)
                {
                    enough.TrySetResult();
                }
            }

            var loops = senders.Select((d, n) => Task.Run(() => d.SendUntilAsync(conversationId, $"s{n}", stop.Token, Acked))).ToList();
            await Task.WhenAny(enough.Task, Task.WhenAll(loops)).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(enough.Task.IsCompleted, $"only {total} sends were acknowledged before the kill");
            await cluster[Victim].KillAsync();

            // The survivors' senders go on; the victim's stop on a dead socket.
            var victims = senders.Where(d => d.Node == Victim).ToList();
            var unanswered = new Dictionary<ClusterDevice, string?>();
            for (var n = 0; n < senders.Count; n++)
            {
                if (senders[n].Node == Victim)
                {
                    unanswered[senders[n]] = await loops[n].WaitAsync(TimeSpan.FromSeconds(60));
                }
            }

            // Its devices reconnect to the next live node, retry what they never got an answer for, and send on.
            var moved = 0;
            foreach (var device in devices.Where(d => d.Node == Victim).ToList())
            {
                await device.Socket.ClosedAsync(TimeSpan.FromSeconds(30));
                await device.ReconnectAsync(cluster, (Victim + 1 + (moved++ % 2)) % 3, conversationId); // spread over both survivors
            }

            var after = new List<Task<string?>>();
            foreach (var device in victims)
            {
                if (unanswered[device] is { } id && await device.SendOnceAsync(conversationId, id) is { } seq)
                {
                    device.Acked[id] = seq;
                }

                after.Add(Task.Run(() => device.SendUntilAsync(conversationId, $"r{senders.IndexOf(device)}", CancellationToken.None, max: 20)));
            }

            Assert.All(await Task.WhenAll(after).WaitAsync(TimeSpan.FromSeconds(60)), Assert.Null);
            await stop.CancelAsync();
            var left = await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(60));
            for (var n = 0; n < senders.Count; n++)
            {
                if (!victims.Contains(senders[n]))
                {
                    Assert.Null(left[n]); // a survivor's socket never broke
                }
            }

            // A barrier: the last message must reach every device live, whatever node it is on now.
            var sentinel = (await senders[0].SendOnceAsync(conversationId, "sentinel"))!.Value;
            senders[0].Acked["sentinel"] = sentinel;
            foreach (var device in devices.Where(d => d != senders[0]))
            {
                await device.Socket.NextAsync("message", TimeSpan.FromSeconds(30), f => f["message"]!.Seq() == sentinel);
                device.Live.Add(sentinel);
            }

            var everyAck = senders.SelectMany(d => d.Acked).ToDictionary(a => a.Key, a => a.Value);
            var history = await cluster[0].CatchUpAsync(users[0], conversationId);
            Assert.Equal(Enumerable.Range(1, history.Count).Select(s => (long)s), history.Select(m => m.Seq())); // dense
            Assert.Equal(sentinel, history[^1].Seq());
            var byId = history.GroupBy(m => (string)m["clientMsgId"]!).ToDictionary(g => g.Key, g => g.Select(m => m.Seq()).ToList());
            Assert.All(byId, g => Assert.Single(g.Value)); // nothing stored twice
            Assert.All(everyAck, a => Assert.Equal([a.Value], byId[a.Key])); // every acknowledged message, with its seq

            foreach (var device in devices)
            {
                var have = await device.CatchUpAsync(conversationId);
                Assert.Equal(Enumerable.Range(1, history.Count).Select(s => (long)s), have); // all of them, after catching up
                var repeats = device.Live.GroupBy(s => s).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
                Assert.True(repeats.Count == 0, $"{device.User.Username} got seqs {string.Join(",", repeats)} pushed twice");
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
}
