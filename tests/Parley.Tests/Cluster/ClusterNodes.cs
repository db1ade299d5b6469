using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// N Parley nodes as child processes on one PostgreSQL store and one Redis: NodeIds 1..N, one signing key, the
/// loopback trusted as their proxy. Dispose kills whatever still runs.
/// </summary>
public sealed class ClusterNodes : IAsyncDisposable
{
    private readonly TestStore _store;
    private readonly string[] _args;

    private ClusterNodes(TestStore store, string[] args, List<ChildServer> nodes)
    {
        _store = store;
        _args = args;
        Nodes = nodes;
    }

    public List<ChildServer> Nodes { get; }

    public ChildServer this[int index] => Nodes[index];

    public static async Task<ClusterNodes> StartAsync(TestStore store, int count, string redis, params string[] extraArgs)
    {
        string[] args =
        [
            $"--Cluster:Redis={redis}",
            // Tests share the suite's Redis: a prefix of this cluster's own, so no other test's nodes hear it.
            $"--Cluster:ChannelPrefix=t{Guid.NewGuid():N}",
            "--Auth:SigningKey=" + Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            "--Cluster:TrustedProxies:0=127.0.0.1",
            "--Auth:RegistrationsPerAddress=1000000",
            "--Auth:LoginFailuresPerAddress=1000000",
            // The bursts here send back to back from six devices into one group: on a quiet machine that passes the
            // per-socket frame limit (4008), and the flood a thawed bus releases at once passes a reading test client's
            // send queue (a slow-consumer drop). Those limits have tests of their own; here they would only hide the bus.
            "--Realtime:FramesPerSecond=100000",
            "--Realtime:FrameBurst=100000",
            "--Realtime:SendQueueFrames=1000000",
            "--Realtime:SendQueueBytes=1000000000",
            .. extraArgs,
        ];
        var nodes = new List<ChildServer>();
        var cluster = new ClusterNodes(store, args, nodes);
        try
        {
            for (var i = 1; i <= count; i++)
            {
                nodes.Add(await ChildServer.StartAsync(store, [.. args, $"--Cluster:NodeId={i}"]));
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts node <paramref name="index"/> again (a new process, the same NodeId) after it died.</summary>
    public async Task<ChildServer> RestartAsync(int index)
    {
        await Nodes[index].DisposeAsync();
        Nodes[index] = await ChildServer.StartAsync(_store, [.. _args, $"--Cluster:NodeId={index + 1}"]);
        return Nodes[index];
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
    }
}
