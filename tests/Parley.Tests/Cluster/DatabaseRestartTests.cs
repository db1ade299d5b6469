using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// PostgreSQL restarts under a running node: while it is down, HTTP requests that need it are answered 503
/// <c>unavailable</c> with Retry-After, WebSocket sends get an <c>unavailable</c> error on a connection that stays
/// open, and <c>/health/ready</c> is 503; when it is back everything works again without restarting the node, and
/// no acknowledged message is lost or doubled. The server is this test's own (scripts/postgres.sh in a private
/// directory on a private port), since the test stops it.
/// </summary>
public sealed class DatabaseRestartTests : IAsyncLifetime
{
    public ValueTask InitializeAsync()
    {
        Assert.SkipUnless(TestStore.PostgresAdminConnectionString is not null, TestStore.SkipReason);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public Task Single_node_answers_503_while_PostgreSQL_is_down_and_recovers_with_no_acknowledged_message_lost() =>
        RestartUnderBurstAsync([]);

    [Fact]
    public Task Single_node_recovers_from_a_PostgreSQL_crash_mid_burst_with_no_acknowledged_message_lost() =>
        RestartUnderBurstAsync([], immediate: true);

    [Fact]
    public async Task A_cluster_node_answers_503_while_PostgreSQL_is_down_and_recovers_with_no_acknowledged_message_lost()
    {
        var redis = TestRedis.Configuration;
        Assert.SkipWhen(redis is null, $"cluster leg skipped: {TestRedis.Variable} is not set (.ci/run sets it).");
        await RestartUnderBurstAsync([$"--Cluster:Redis={redis}", $"--Cluster:ChannelPrefix=t{Guid.NewGuid():N}", "--Cluster:NodeId=7", "--Auth:SigningKey=" + Convert.ToBase64String(new byte[32])]);
    }

    /// <param name="immediate">PostgreSQL quits as if it crashed (immediate shutdown) instead of a fast shutdown.</param>
    private static async Task RestartUnderBurstAsync(string[] nodeArgs, bool immediate = false)
    {
        await using var postgres = await PrivatePostgres.StartAsync("restart", 55470);
        await using var store = await TestStore.CreateAsync(Backend.Postgres, postgres.AdminConnectionString);
        try
        {
            await using var server = await ChildServer.StartAsync(store, nodeArgs);
            var owner = await server.RegisterAsync();
            var member = await server.RegisterAsync();
            var conversationId = (string)(await server.CreateGroupAsync(owner, null, member))["conversationId"]!;
            await using var sender = await WsClient.ConnectAsync(server, owner.AccessToken);
            await using var receiver = await WsClient.ConnectAsync(server, member.AccessToken);

            var acked = new ConcurrentDictionary<string, long>(); // clientMsgId -> seq from "sent"
            var refused = new ConcurrentDictionary<string, string>(); // clientMsgId -> error code
            var ackedBeforeStop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var refusedWhileDown = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var ackedAfterStart = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var restarted = 0; // acks counted from when PostgreSQL is back
            var ackedSinceRestart = 0;
            using var stop = new CancellationTokenSource();

            // One client sends back to back, across the outage, on one socket that must survive it.
            var burst = Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested && i < 1_000_000; i++)
                {
                    var id = $"m{i}";
                    var answer = await SendAsync(sender, conversationId, id);
                    if ((string?)answer["type"] == "sent")
                    {
                        acked[id] = answer["message"]!.Seq();
                        if (acked.Count >= 40)
                        {
                            ackedBeforeStop.TrySetResult();
                        }

                        if (Volatile.Read(ref restarted) == 1 && Interlocked.Increment(ref ackedSinceRestart) >= 20)
                        {
                            ackedAfterStart.TrySetResult();
                        }
                    }
                    else
                    {
                        refused[id] = (string)answer["code"]!;
                        if (refused.Count >= 3)
                        {
                            refusedWhileDown.TrySetResult();
                        }

                        // A client backs off before its next try (the answer came at once; without a pause this
                        // loop would spin through its sends while the database is down).
                        await Task.Delay(20);
                    }
                }
            });

            await Task.WhenAny(ackedBeforeStop.Task, burst).WaitAsync(TimeSpan.FromSeconds(60));
            await BurstRunning(burst, "before PostgreSQL was stopped");
            await postgres.StopServerAsync(immediate);

            // Down: sends are refused as unavailable on a socket that stays open.
            await Task.WhenAny(refusedWhileDown.Task, burst).WaitAsync(TimeSpan.FromSeconds(60));
            await BurstRunning(burst, "while PostgreSQL was down");
            Assert.All(refused, r => Assert.Equal("unavailable", r.Value));

            // HTTP: a read and a write that need the database, and readiness.
            var history = await server.Get(member, $"/api/conversations/{conversationId}/messages?after=0");
            await AssertUnavailableAsync(history);
            await AssertUnavailableAsync(await server.Http.PostAsync("/api/auth/register", new { username = Api.NewUsername(), password = "correct horse battery" }.AsJson()));
            using (var ready = await server.Http.GetAsync("/health/ready"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            }

            // The other socket is alive too: a ping is answered, a sync is refused as unavailable.
            await receiver.SendAsync(new JsonObject { ["type"] = "ping" });
            await receiver.NextAsync("pong", TimeSpan.FromSeconds(10));
            await receiver.SendAsync(new JsonObject { ["type"] = "sync", ["ref"] = "s1", ["conversationId"] = conversationId, ["afterSeq"] = 0 });
            var syncError = await receiver.NextMatchingAsync(f => (string?)f["ref"] == "s1", TimeSpan.FromSeconds(10));
            Assert.Equal("error", (string?)syncError["type"]);
            Assert.Equal("unavailable", (string?)syncError["code"]);

            // Back: without restarting the node, readiness returns and the same socket's sends are acknowledged again.
            await postgres.StartServerAsync();
            Volatile.Write(ref restarted, 1);
            // The node's health check is the only sign of its recovery that a test can watch for.
            await Poll.UntilAsync(async () => (await server.Http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, "ready again after PostgreSQL is back", TimeSpan.FromSeconds(60));
            await Task.WhenAny(ackedAfterStart.Task, burst).WaitAsync(TimeSpan.FromSeconds(60));
            await BurstRunning(burst, "before sends were acknowledged again");
            await stop.CancelAsync();
            await burst.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.False(server.HasExited);

            // A refused send may still have committed (the connection broke after the commit): the client retries it
            // with the same clientMsgId and gets the original or a new message, never two.
            foreach (var id in refused.Keys.Order(StringComparer.Ordinal))
            {
                var answer = await SendAsync(sender, conversationId, id);
                Assert.Equal("sent", (string?)answer["type"]);
                acked[id] = answer["message"]!.Seq();
            }

            var all = await server.CatchUpAsync(member, conversationId);
            var seqs = all.Select(m => m.Seq()).ToList();
            Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs); // dense: 1..N, in order
            var byClientId = all.GroupBy(m => (string)m["clientMsgId"]!).ToDictionary(g => g.Key, g => g.ToList());
            Assert.All(byClientId, g => Assert.Single(g.Value)); // nothing twice
            foreach (var (id, seq) in acked)
            {
                Assert.True(byClientId.TryGetValue(id, out var found), $"acknowledged {id} (seq {seq}) is missing");
                Assert.Equal(seq, found[0].Seq());
            }

            Assert.Equal(acked.Count, all.Count); // and nothing that nobody was told about
            await server.CatchUpAsync(owner, conversationId); // HTTP reads work again
        }
        finally
        {
            await postgres.StartServerAsync(); // whatever failed: the store's database is dropped on a running server
        }
    }

    /// <summary>The burst must still run; if it ended, its own failure says why.</summary>
    private static async Task BurstRunning(Task burst, string when)
    {
        if (burst.IsCompleted)
        {
            await burst;
            Assert.Fail("the burst ended " + when);
        }
    }

    private static async Task<JsonNode> SendAsync(WsClient client, string conversationId, string id)
    {
        await client.SendAsync(new JsonObject
        {
            ["type"] = "send", ["ref"] = id, ["conversationId"] = conversationId, ["clientMsgId"] = id,
            ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = id },
        });
        return await client.NextMatchingAsync(f => (string?)f["ref"] == id && (string?)f["type"] is "sent" or "error", TimeSpan.FromSeconds(30));
    }

    private static async Task AssertUnavailableAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("unavailable", (string?)(await response.Json())["code"]);
            Assert.NotNull(response.Headers.RetryAfter?.Delta);
        }
    }
}
