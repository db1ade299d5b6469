using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Parley.Server.Operations;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// The cluster-wide periodic workers run on one node at a time (a PostgreSQL advisory lock held on a connection of
/// the leader's own) and survive the leader's death.
/// </summary>
public sealed class WorkersTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task One_node_leads_at_a_time_and_the_lock_frees_when_its_session_ends()
    {
        Assert.SkipUnless(TestStore.PostgresAdminConnectionString is not null, TestStore.SkipReason);
        await using var store = await TestStore.CreateAsync(Backend.Postgres);
        using var timeout = new CancellationTokenSource(Bound);
        await using var first = new WorkerLeadership(store.ConnectionString!, NullLogger<WorkerLeadership>.Instance);
        await using var second = new WorkerLeadership(store.ConnectionString!, NullLogger<WorkerLeadership>.Instance);

        Assert.True(await first.IsLeaderAsync(timeout.Token));
        Assert.False(await second.IsLeaderAsync(timeout.Token));
        Assert.True(await first.IsLeaderAsync(timeout.Token));

        // The leader's session ends (as when its process dies): the other takes over, and the old leader knows it lost.
        await using (var admin = new NpgsqlConnection(store.ConnectionString))
        {
            await admin.OpenAsync(timeout.Token);
            await using var kill = new NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'parley-worker-leadership' AND datname = current_database()", admin);
            Assert.Equal(true, await kill.ExecuteScalarAsync(timeout.Token));
        }

        Assert.True(await second.IsLeaderAsync(timeout.Token));
        Assert.False(await first.IsLeaderAsync(timeout.Token));

        // A clean stop frees it too.
        await second.DisposeAsync();
        Assert.True(await first.IsLeaderAsync(timeout.Token));
    }

    [Fact]
    public async Task When_the_leader_is_killed_another_node_runs_the_sweep()
    {
        TestRedis.SkipUnlessCluster();
        await using var cluster = await EdgeNodes.CreateAsync();
        string[] quick = ["--Groups:SweepIntervalSeconds=1", "--Logging:LogLevel:Parley.Server.Operations.WorkerLeadership=Information"];
        var a = await cluster.StartAsync(1, quick);
        var owner = await a.RegisterAsync();

        // A is alone: it leads, as its sweep shows.
        await ExpireAndAwaitSweepAsync(cluster.Store, a, owner);
        var b = await cluster.StartAsync(2, quick);
        // B asked while A led (its log says so; nothing else tells), so what follows is a takeover, not a first come.
        await Poll.UntilAsync(() => b.Output.Any(l => l.Contains("Another node runs the cluster's periodic workers", StringComparison.Ordinal)), "node B refused the lead", Bound);
        Assert.DoesNotContain(b.Output, l => l.Contains("This node now runs", StringComparison.Ordinal));
        await a.KillAsync();
        // B took the lock once A's session ended: the next expired group goes by B's sweep.
        await ExpireAndAwaitSweepAsync(cluster.Store, b, owner);
    }

    /// <summary>A temporary group made due (in the database: its idle time is a minute at least) and polled until swept.</summary>
    private static async Task ExpireAndAwaitSweepAsync(TestStore store, ApiHost node, TestUser owner)
    {
        var group = await node.CreateGroupAsync(owner, new JsonObject { ["temporary"] = true, ["idleTtlSeconds"] = 60 });
        await using (var connection = new NpgsqlConnection(store.ConnectionString))
        {
            await connection.OpenAsync();
            await using var due = new NpgsqlCommand("UPDATE groups SET expires_at = 1 WHERE id = @id", connection);
            due.Parameters.AddWithValue("id", SocialApi.Wire(group.Id()));
            Assert.Equal(1, await due.ExecuteNonQueryAsync());
        }

        // Polled: a sweep announces nothing to a REST reader.
        await Poll.UntilAsync(
            async () =>
            {
                using var response = await node.Get(owner, $"/api/groups/{group.Id()}");
                return response.StatusCode == HttpStatusCode.NotFound;
            },
            "the expired group swept",
            Bound);
    }
}
