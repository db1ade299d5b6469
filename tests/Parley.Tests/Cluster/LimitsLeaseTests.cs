using Microsoft.Extensions.Logging.Abstractions;
using Parley.Server.Cluster;
using Parley.Tests.Infrastructure;
using StackExchange.Redis;

namespace Parley.Tests.Cluster;

/// <summary>
/// The send-rate lease (<see cref="SharedTokenLeases"/>) against a real Redis, on a clock moved by hand: tokens come
/// out of the shared bucket a lease at a time, are spent locally, topped up in the background once half is spent,
/// are dropped when the lease ends, and an empty
/// shared bucket is remembered until a token is due. Without Redis the answer is null (the caller's local bucket decides).
/// </summary>
public sealed class LimitsLeaseTests : IAsyncLifetime
{
    private ClusterRedis? _redis;

    public async ValueTask InitializeAsync()
    {
        Assert.SkipUnless(TestRedis.Configuration is not null, $"needs {TestRedis.Variable}");
        _redis = new ClusterRedis(TestRedis.Configuration!);
        await Poll.UntilAsync(() => _redis.IsConnected, "connected to Redis", TimeSpan.FromSeconds(10)); // the multiplexer connects in the background
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_lease_is_taken_at_once_spent_locally_topped_up_ahead_and_dropped_when_it_ends()
    {
        var time = new ManualTime();
        var keyspace = new ClusterKeyspace("parley:test-" + Guid.NewGuid().ToString("N") + ":");
        var shared = new SharedLimits(_redis!, keyspace, time, NullLogger<SharedLimits>.Instance);
        using var leases = new SharedTokenLeases(shared, "send:", ratePerSecond: 0.001, burst: 16, leaseTokens: 4, time);
        RedisKey bucket = keyspace.Prefix + "limit:send:7";

        Assert.True(await leases.TryTakeAsync(7));
        AssertTokens(12, bucket); // the first take waited for one round trip, which took the lease of 4
        Assert.False(leases.ToppingUp(7));

        // Half the lease spent (2 left): this take is answered at once, and the 2 spent are taken again behind it.
        Assert.True(await leases.TryTakeAsync(7));
        await ToppedUpAsync(leases);
        AssertTokens(10, bucket);

        // The lease holds 4 again: spent here, without Redis, until half of it is gone.
        Assert.True(await leases.TryTakeAsync(7));
        Assert.False(leases.ToppingUp(7));
        AssertTokens(10, bucket);
        Assert.True(await leases.TryTakeAsync(7));
        await ToppedUpAsync(leases);
        AssertTokens(8, bucket);

        // A lease not spent in its lifetime is dropped, never made up: the next take waits for a new lease.
        time.Advance(SharedTokenLeases.LeaseLifetime);
        Assert.True(await leases.TryTakeAsync(7));
        AssertTokens(4, bucket);
        Assert.True(_redis!.Database.KeyTimeToLive(bucket) is { } ttl && ttl > TimeSpan.Zero); // the bucket expires once it would be full

        // Drained: 3 left in the lease + 4 in the bucket; the last top-up finds the bucket empty, the lease is spent
        // to its end, then refused, and remembered (Redis is not asked again until a token is due).
        for (var i = 0; i < 7; i++)
        {
            Assert.True(await leases.TryTakeAsync(7), $"take {i}");
            await ToppedUpAsync(leases);
        }

        AssertTokens(0, bucket);
        Assert.False(await leases.TryTakeAsync(7));
        _redis.Database.KeyDelete(bucket); // a full bucket again, had anyone asked
        Assert.False(await leases.TryTakeAsync(7));
        time.Advance(TimeSpan.FromSeconds(1000)); // one token's time at 0.001/s
        Assert.True(await leases.TryTakeAsync(7));
    }

    private static Task ToppedUpAsync(SharedTokenLeases leases) =>
        Poll.UntilAsync(() => !leases.ToppingUp(7), "the lease's top-up answered", TimeSpan.FromSeconds(10));

    [Fact]
    public async Task Without_Redis_the_answer_is_null_within_the_deadline()
    {
        await using var nowhere = new ClusterRedis("127.0.0.1:1,connectTimeout=200");
        var shared = new SharedLimits(nowhere, new ClusterKeyspace("parley:test:"), TimeProvider.System, NullLogger<SharedLimits>.Instance);
        using var leases = new SharedTokenLeases(shared, "send:", 1, 10, 2, TimeProvider.System);
        Assert.Null(await leases.TryTakeAsync(1).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Null(await shared.BeginLoginAsync("u", "127.0.0.1", false, 1000, 1, 1, 1, 1).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
    }

    /// <summary>The shared bucket holds <paramref name="expected"/> tokens (and the sliver Redis's own clock refilled since).</summary>
    private void AssertTokens(int expected, RedisKey bucket) => Assert.InRange((double)_redis!.Database.HashGet(bucket, "t"), expected, expected + 0.1);
}
