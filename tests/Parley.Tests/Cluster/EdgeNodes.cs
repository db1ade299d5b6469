using System.Security.Cryptography;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// Nodes of one cluster for the edge tests (limits, presence, workers): child processes on one PostgreSQL database
/// (a fresh <see cref="TestStore"/>) and the Redis of <c>PARLEY_TEST_REDIS</c>, with one signing key.
/// </summary>
public sealed class EdgeNodes : IAsyncDisposable
{
    private readonly List<ChildServer> _nodes = [];
    private readonly string _signingKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private EdgeNodes(TestStore store) => Store = store;

    public TestStore Store { get; }

    public static async Task<EdgeNodes> CreateAsync() => new(await TestStore.CreateAsync(Backend.Postgres));

    /// <summary>Starts node <paramref name="nodeId"/> (its args first; <paramref name="extraArgs"/> win).</summary>
    public async Task<ChildServer> StartAsync(int nodeId, params string[] extraArgs)
    {
        var node = await ChildServer.StartAsync(
            Store,
            [$"--Cluster:Redis={TestRedis.Configuration}", $"--Cluster:NodeId={nodeId}", $"--Auth:SigningKey={_signingKey}", .. extraArgs]);
        _nodes.Add(node);
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await Store.DisposeAsync();
    }
}
