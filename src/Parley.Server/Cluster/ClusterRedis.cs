using StackExchange.Redis;

namespace Parley.Server.Cluster;

/// <summary>
/// The node's one Redis connection (StackExchange.Redis multiplexes every command and the pub/sub over it),
/// registered only in cluster mode. It connects in the background and keeps reconnecting: a node starts and
/// serves while Redis is down, reporting itself not ready (<c>/health/ready</c>).
/// </summary>
public sealed class ClusterRedis : IAsyncDisposable
{
    private readonly ConnectionMultiplexer _multiplexer;

    public ClusterRedis(string configuration, TextWriter? log = null)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false; // keep trying: Redis may start after the node
        options.ClientName ??= "parley";
        _multiplexer = ConnectionMultiplexer.Connect(options, log);
    }

    public IConnectionMultiplexer Multiplexer => _multiplexer;

    public IDatabase Database => _multiplexer.GetDatabase();

    public ISubscriber Subscriber => _multiplexer.GetSubscriber();

    public bool IsConnected => _multiplexer.IsConnected;

    public async ValueTask DisposeAsync() => await _multiplexer.DisposeAsync();
}
