using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

public sealed class CrashRecoveryTestsSqlite() : CrashRecoveryTests(Backend.Sqlite);

public sealed class CrashRecoveryTestsPostgres() : CrashRecoveryTests(Backend.Postgres);

/// <summary>
/// Delivery guarantee 2: an acknowledged send survives a crash. The server runs as a child process, clients
/// send over WebSockets, the process is killed with SIGKILL mid-stream and started again on the same data.
/// </summary>
public abstract class CrashRecoveryTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Every_acknowledged_message_is_there_exactly_once_after_SIGKILL_with_no_gaps()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        TestUser[] users;
        string conversationId;
        var acked = new ConcurrentDictionary<string, long>(); // clientMsgId -> seq from "sent"
        await using (var first = await ChildServer.StartAsync(store))
        {
            var owner = await first.RegisterAsync();
            users = [owner, .. await first.RegisterManyAsync(3)];
            var group = await first.CreateGroupAsync(owner, null, users[1..]);
            conversationId = (string)group["conversationId"]!;

            var clients = new List<WsClient>();
            foreach (var user in users)
            {
                clients.Add(await WsClient.ConnectAsync(first, user.AccessToken));
            }

            using var killed = new CancellationTokenSource();
            var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var senders = clients.Select((client, n) => Task.Run(async () =>
            {
                // Keep a few sends in flight per client until the server dies under them.
                for (var i = 0; !killed.IsCancellationRequested && i < 2_000; i++)
                {
                    var id = $"c{n}-{i}";
                    try
                    {
                        await client.SendAsync(new JsonObject
                        {
                            ["type"] = "send", ["ref"] = id, ["conversationId"] = conversationId, ["clientMsgId"] = id,
                            ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = id },
                        });
                        var sent = await client.NextAsync("sent", TimeSpan.FromSeconds(10), f => (string?)f["ref"] == id);
                        acked[id] = (long)sent["message"]!["seq"]!;
                        if (acked.Count >= 150)
                        {
                            enough.TrySetResult();
                        }
                    }
                    catch (Exception e) when (e is System.Net.WebSockets.WebSocketException or InvalidOperationException or TimeoutException or OperationCanceledException)
                    {
                        return; // the server is gone
                    }
                }
            })).ToList();

            // Killed once 150 sends are acknowledged (or all senders gave up, or 30 s passed: then the assert below says so).
            try
            {
                await Task.WhenAny(enough.Task, Task.WhenAll(senders)).WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                // too slow: killed anyway, and the count is asserted below
            }

            await first.KillAsync();
            await killed.CancelAsync();
            await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(30));
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }

        Assert.True(acked.Count >= 150, $"only {acked.Count} sends were acknowledged before the kill");

        await using var second = await ChildServer.StartAsync(store);
        var history = await second.CatchUpAsync(users[2], conversationId, limit: 200);
        var seqs = history.Select(m => m.Seq()).ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs); // 1..N, no gap, in order
        var byClientId = history.GroupBy(m => (string)m["clientMsgId"]!).ToDictionary(g => g.Key, g => g.ToList());
        Assert.All(byClientId, g => Assert.Single(g.Value)); // nothing twice
        foreach (var (clientMsgId, seq) in acked)
        {
            Assert.True(byClientId.TryGetValue(clientMsgId, out var found), $"acknowledged {clientMsgId} (seq {seq}) is missing");
            Assert.Equal(seq, found[0].Seq());
        }

        // and the conversation goes on from there
        var next = await second.SendTextAsync(users[0], conversationId, "after the crash");
        Assert.Equal(seqs.Count + 1, next.Seq());
    }
}
