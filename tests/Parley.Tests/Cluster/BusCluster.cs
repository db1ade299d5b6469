using System.Security.Cryptography;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// Three real Parley node processes on one fresh PostgreSQL database and the test Redis (<c>PARLEY_TEST_REDIS</c>),
/// started once per test class. Each cluster gets its own bus channel prefix, so test classes running at the same time
/// on one Redis never hear each other. Tests make their own users. A subclass may add flags every node runs with
/// (<see cref="GroupChannelCluster"/>: conversation channels from 3 members).
/// </summary>
public class BusCluster : IAsyncLifetime
{
    private TestStore? _store;
    private readonly List<ChildServer> _nodes = [];

    /// <summary>This cluster's bus channel prefix (Cluster:ChannelPrefix).</summary>
    public string Prefix { get; } = "pt" + Guid.NewGuid().ToString("N")[..12];

    public string SigningKey { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public ChildServer A => _nodes[0];

    public ChildServer B => _nodes[1];

    public ChildServer C => _nodes[2];

    public TestStore Store => _store ?? throw new InvalidOperationException("no store");

    /// <summary>Flags of a variant, added to every node's.</summary>
    protected virtual string[] VariantArgs => [];

    /// <summary>The flags every node of this cluster runs with (node id apart).</summary>
    public string[] NodeArgs(int nodeId, params string[] extra) =>
    [
        $"--Cluster:Redis={TestRedis.Configuration},name={Prefix}-{nodeId}", // named, so a test can find (and cut) one node's connections
        $"--Cluster:NodeId={nodeId}",
        $"--Cluster:ChannelPrefix={Prefix}",
        $"--Auth:SigningKey={SigningKey}",
        "--Auth:LoginFailuresPerAddress=1000000",
        "--Auth:RegistrationsPerAddress=1000000",
        "--Groups:CreationsPerHour=1000000",
        "--Social:FriendRequestsPerHour=1000000",
        "--Groups:JoinRequestsPerHour=1000000",
        .. VariantArgs,
        .. extra,
    ];

    public async ValueTask InitializeAsync()
    {
        if (TestRedis.ClusterSkipReason is not null)
        {
            return;
        }

        _store = await TestStore.CreateAsync(Backend.Postgres);
        // The first node migrates the fresh database; the other two start together once it is ready.
        _nodes.Add(await ChildServer.StartAsync(_store, NodeArgs(1)));
        _nodes.AddRange(await Task.WhenAll(ChildServer.StartAsync(_store, NodeArgs(2)), ChildServer.StartAsync(_store, NodeArgs(3))));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }
}

/// <summary>A <see cref="BusCluster"/> whose groups of 3 members or more have a conversation channel (Cluster:GroupChannelMinMembers=3).</summary>
public sealed class GroupChannelCluster : BusCluster
{
    public const int MinMembers = 3;

    protected override string[] VariantArgs => [$"--Cluster:GroupChannelMinMembers={MinMembers}"];
}
