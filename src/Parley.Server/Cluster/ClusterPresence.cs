using System.Globalization;
using System.Security.Cryptography;
using Parley.Server.Messaging;
using Parley.Server.Social;
using Parley.Storage.Social;
using StackExchange.Redis;

namespace Parley.Server.Cluster;

/// <summary>
/// Presence across nodes (cluster mode). Each process start is a fresh incarnation (<c>&lt;NodeId&gt;-&lt;random&gt;</c>).
/// In Redis, under the cluster's <see cref="ClusterKeyspace"/>:
/// <list type="bullet">
/// <item><c>presence:user:&lt;userId&gt;</c>: a hash of the incarnations holding at least one of the user's connections;</item>
/// <item><c>presence:node:&lt;incarnation&gt;</c>: the set of users that incarnation holds (what to undo when it dies);</item>
/// <item><c>presence:alive:&lt;incarnation&gt;</c>: the liveness key, <c>Cluster:NodeTimeoutSeconds</c> long, refreshed four
/// times in that time;</item>
/// <item><c>presence:nodes</c>: every incarnation that may still hold users, with its NodeId.</item>
/// </list>
/// A user's first local connection adds this incarnation to their hash and is announced (through the route, to the
/// friends' channels) only when the hash had no other entry; their last local connection removes it and is announced
/// offline only when the hash is then empty: one atomic script each way. A user is online while a live incarnation
/// holds them. An incarnation whose liveness key expired is reaped by one live node at a time (a short lock): its users
/// are taken out of their hashes in chunks, and those left in none are announced offline. A node that starts clears
/// its previous incarnations (same NodeId) first. Every key is deleted when empty, and a dead node's entries live until
/// some node reaps them, or, when no node of the cluster is left to, until their safety TTL (<see cref="Keep"/>) ends.
/// </summary>
/// <remarks>
/// Redis unreachable: a connection or disconnection is announced on this node's own count (as on one node), and the
/// node reconciles once Redis answers again (re-adds the users it holds, removes those it no longer holds, announcing
/// the changes); if it was reaped meanwhile (its liveness key was found gone) its users are announced online again.
/// The scripts touch keys they compute, which a single Redis (not Redis Cluster) allows.
/// </remarks>
public sealed partial class ClusterPresence : BackgroundService, IPresenceDirectory
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The safety TTL of every presence key (refreshed while in use: on connection, at each beat, and for the users
    /// of long-lived connections every quarter of it): what a cluster that died whole (no survivor to reap it) leaves
    /// in Redis goes by itself after this.
    /// </summary>
    public static readonly TimeSpan Keep = TimeSpan.FromHours(24);

    private static readonly long KeepMs = (long)Keep.TotalMilliseconds;
    private const int ReapChunk = 500;

    private static readonly LuaScript ConnectScript = LuaScript.Prepare("""
        redis.call('HSET', @user, @incarnation, 1)
        redis.call('SADD', @node, @userId)
        redis.call('PEXPIRE', @user, @keep)
        redis.call('PEXPIRE', @node, @keep)
        return redis.call('HLEN', @user)
        """);

    private static readonly LuaScript DisconnectScript = LuaScript.Prepare("""
        redis.call('HDEL', @user, @incarnation)
        redis.call('SREM', @node, @userId)
        return redis.call('HLEN', @user)
        """);

    // Answers 1 when the liveness key already existed (this node was not presumed dead).
    private static readonly LuaScript BeatScript = LuaScript.Prepare("""
        local existed = redis.call('EXISTS', @alive)
        redis.call('SET', @alive, @nodeId, 'PX', @ttl)
        redis.call('HSET', @nodes, @incarnation, @nodeId)
        redis.call('HSET', @conns, @incarnation, @connections)
        redis.call('PEXPIRE', @nodes, @keep)
        redis.call('PEXPIRE', @conns, @keep)
        redis.call('PEXPIRE', @node, @keep)
        return existed
        """);

    // Cluster-wide {users online, connections} over the live incarnations (the asking one's connections as it counts
    // them now, the others' as of their last beat). O(users held) when several nodes hold users: an admin call.
    private static readonly LuaScript StatsScript = LuaScript.Prepare("""
        local live = {}
        local conns = 0
        for _, inc in ipairs(redis.call('HKEYS', @nodes)) do
          if inc == @incarnation or redis.call('EXISTS', @alivePrefix .. inc) == 1 then
            live[#live + 1] = @nodePrefix .. inc
            if inc == @incarnation then conns = conns + tonumber(@connections)
            else conns = conns + tonumber(redis.call('HGET', @conns, inc) or '0') end
          end
        end
        local users = 0
        if #live == 1 then users = redis.call('SCARD', live[1])
        elseif #live > 1 then
          redis.call('SUNIONSTORE', @scratch, unpack(live))
          users = redis.call('SCARD', @scratch)
          redis.call('DEL', @scratch)
        end
        return { users, conns }
        """);

    // Takes up to @count users out of a dead incarnation; answers {done, users now in no hash}.
    private static readonly LuaScript ReapScript = LuaScript.Prepare("""
        local popped = redis.call('SPOP', @node, tonumber(@count))
        local offline = {}
        for _, uid in ipairs(popped) do
          local k = @userPrefix .. uid
          redis.call('HDEL', k, @incarnation)
          if redis.call('HLEN', k) == 0 then offline[#offline + 1] = uid end
        end
        if redis.call('SCARD', @node) == 0 then
          redis.call('HDEL', @nodes, @incarnation)
          return { 1, offline }
        end
        return { 0, offline }
        """);

    // For each user id in @ids (comma-separated): 1 when a live incarnation holds them.
    private static readonly LuaScript OnlineScript = LuaScript.Prepare("""
        local out = {}
        for uid in string.gmatch(@ids, '[^,]+') do
          local on = 0
          for _, inc in ipairs(redis.call('HKEYS', @userPrefix .. uid)) do
            if redis.call('EXISTS', @alivePrefix .. inc) == 1 then on = 1; break end
          end
          out[#out + 1] = on
        end
        return out
        """);

    private readonly ClusterRedis _redis;
    private readonly IServiceProvider _services;
    private readonly TimeProvider _time;
    private readonly ILogger<ClusterPresence> _logger;
    private readonly string _prefix;
    private readonly RedisKey _nodes;
    private readonly RedisKey _node;
    private readonly RedisKey _alive;
    private readonly TimeSpan _timeout;
    private readonly int _nodeId;
    private volatile bool _dirty;
    private long _refreshed;

    public ClusterPresence(ClusterRedis redis, ClusterKeyspace keyspace, ClusterOptions options, IServiceProvider services, TimeProvider time, ILogger<ClusterPresence> logger)
    {
        _redis = redis;
        _services = services;
        _time = time;
        _logger = logger;
        _nodeId = options.NodeId;
        _timeout = TimeSpan.FromSeconds(options.NodeTimeoutSeconds);
        Incarnation = NewIncarnation(options.NodeId);
        _prefix = keyspace.Prefix + "presence:";
        _nodes = _prefix + "nodes";
        _node = _prefix + "node:" + Incarnation;
        _alive = _prefix + "alive:" + Incarnation;
        _conns = _prefix + "connections";
    }

    private readonly RedisKey _conns;

    /// <summary>This process's incarnation: the NodeId and a random part, fresh at every start.</summary>
    public string Incarnation { get; }

    internal static string NewIncarnation(int nodeId) =>
        nodeId.ToString(CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>The NodeId part of an incarnation, or -1.</summary>
    internal static int NodeIdOf(string incarnation) =>
        incarnation.IndexOf('-') is > 0 and var dash && int.TryParse(incarnation.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : -1;

    public async Task<bool> ConnectedAsync(long userId)
    {
        var count = await RunAsync(ConnectScript, new { user = UserKey(userId), node = _node, incarnation = Incarnation, userId, keep = KeepMs });
        return count is null ? true : (long)count == 1; // Redis down: this node's own count decided (it was the first here)
    }

    public async Task<bool> DisconnectedAsync(long userId)
    {
        var count = await RunAsync(DisconnectScript, new { user = UserKey(userId), node = _node, incarnation = Incarnation, userId, keep = KeepMs });
        return count is null ? true : (long)count == 0;
    }

    public async Task<IReadOnlySet<long>> OnlineAmongAsync(IReadOnlyCollection<long> userIds, PresenceTracker local)
    {
        var ids = string.Join(',', userIds);
        var result = await RunAsync(OnlineScript, new { ids, userPrefix = _prefix + "user:", alivePrefix = _prefix + "alive:" });
        var online = new HashSet<long>();
        if (result is null)
        {
            online.UnionWith(userIds.Where(local.IsOnline));
            return online;
        }

        var flags = (RedisResult[])result!;
        var i = 0;
        foreach (var id in userIds)
        {
            if (i < flags.Length && (long)flags[i++] == 1)
            {
                online.Add(id);
            }
        }

        return online;
    }

    /// <summary>
    /// Users online and connections open across the live nodes (admin stats), or null while Redis does not answer.
    /// Another node's connections are as of its last beat (a quarter of <c>Cluster:NodeTimeoutSeconds</c> old at most).
    /// </summary>
    public async Task<(long OnlineUsers, long Connections)?> ClusterCountsAsync(int localConnections)
    {
        var result = await RunAsync(StatsScript, new
        {
            nodes = _nodes,
            conns = _conns,
            incarnation = Incarnation,
            connections = localConnections,
            alivePrefix = _prefix + "alive:",
            nodePrefix = _prefix + "node:",
            scratch = (RedisKey)(_prefix + "stats:" + Incarnation),
        });
        if (result is null)
        {
            return null;
        }

        var pair = (RedisResult[])result!;
        return ((long)pair[0], (long)pair[1]);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = _timeout / 4;
        var first = true;
        using var timer = new PeriodicTimer(period, _time);
        do
        {
            try
            {
                await TickAsync(first, stoppingToken);
                first = false;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogTickFailed(_logger, e);
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>One beat: the liveness key, a reconciliation when needed, and the reaping of dead incarnations.</summary>
    internal async Task TickAsync(bool first, CancellationToken cancellationToken)
    {
        var existed = await RunAsync(BeatScript, new
        {
            alive = _alive,
            nodes = _nodes,
            incarnation = Incarnation,
            nodeId = _nodeId,
            ttl = (long)_timeout.TotalMilliseconds,
            node = _node,
            keep = KeepMs,
            conns = _conns,
            connections = _services.GetRequiredService<Realtime.ConnectionRegistry>().Count,
        });
        if (existed is null)
        {
            return; // Redis is away: try again at the next beat
        }

        if ((!first && (long)existed == 0) || _dirty)
        {
            await ReconcileAsync(wasReaped: (long)existed == 0);
        }

        if (_time.GetElapsedTime(_refreshed) > Keep / 4)
        {
            // The users' hashes of long-lived connections keep their safety TTL (fire and forget: a beat never waits on them).
            _refreshed = _time.GetTimestamp();
            foreach (var userId in _services.GetRequiredService<PresenceTracker>().LocalUsers)
            {
                _ = _redis.Database.KeyExpireAsync(UserKey(userId), Keep, CommandFlags.FireAndForget);
            }
        }

        var entries = await _redis.Database.HashGetAllAsync(_nodes).WaitAsync(Deadline, _time, cancellationToken);
        foreach (var entry in entries)
        {
            var incarnation = entry.Name.ToString();
            if (incarnation == Incarnation)
            {
                continue;
            }

            // A previous life of this NodeId is dead for sure (a restart): cleared at once, without waiting for its key.
            var mine = NodeIdOf(incarnation) == _nodeId;
            if (mine || !await _redis.Database.KeyExistsAsync(_prefix + "alive:" + incarnation).WaitAsync(Deadline, _time, cancellationToken))
            {
                await ReapAsync(incarnation, cancellationToken);
            }
        }
    }

    /// <summary>Takes a dead incarnation's users out (one node at a time, by a short lock) and announces who went offline.</summary>
    private async Task ReapAsync(string incarnation, CancellationToken cancellationToken)
    {
        var db = _redis.Database;
        var lockKey = (RedisKey)(_prefix + "reap:" + incarnation);
        if (!await db.StringSetAsync(lockKey, Incarnation, TimeSpan.FromSeconds(10), When.NotExists).WaitAsync(Deadline, _time, cancellationToken))
        {
            return; // another node is at it
        }

        var total = 0;
        try
        {
            while (true)
            {
                var result = (RedisResult[])(await db.ScriptEvaluateAsync(ReapScript, new
                {
                    node = (RedisKey)(_prefix + "node:" + incarnation),
                    nodes = _nodes,
                    incarnation,
                    count = ReapChunk,
                    userPrefix = _prefix + "user:",
                }).WaitAsync(Deadline, _time, cancellationToken))!;
                var offline = (RedisResult[])result[1]!;
                foreach (var user in offline)
                {
                    await AnnounceAsync(long.Parse((string)user!, CultureInfo.InvariantCulture), online: false);
                }

                total += offline.Length;
                if ((long)result[0] == 1)
                {
                    break;
                }
            }
        }
        finally
        {
            await db.KeyDeleteAsync(lockKey);
        }

        LogReaped(_logger, incarnation, total);
    }

    /// <summary>After Redis was away: what Redis holds for this incarnation is made what this node holds.</summary>
    private async Task ReconcileAsync(bool wasReaped)
    {
        _dirty = false;
        var tracker = _services.GetRequiredService<PresenceTracker>();
        var held = (await _redis.Database.SetMembersAsync(_node).WaitAsync(Deadline, _time)).Select(v => long.Parse((string)v!, CultureInfo.InvariantCulture)).ToHashSet();
        foreach (var userId in tracker.LocalUsers)
        {
            if (!held.Remove(userId) || wasReaped)
            {
                if (await RunAsync(ConnectScript, new { user = UserKey(userId), node = _node, incarnation = Incarnation, userId, keep = KeepMs }) is { } count && (long)count == 1)
                {
                    await AnnounceAsync(userId, online: true);
                }
            }
        }

        foreach (var gone in held)
        {
            if (!tracker.IsOnline(gone) && await RunAsync(DisconnectScript, new { user = UserKey(gone), node = _node, incarnation = Incarnation, userId = gone, keep = KeepMs }) is { } count && (long)count == 0)
            {
                await AnnounceAsync(gone, online: false);
            }
        }

        LogReconciled(_logger, wasReaped);
    }

    private async Task AnnounceAsync(long userId, bool online)
    {
        try
        {
            var friends = await _services.GetRequiredService<SocialStore>().FriendIdsAsync(userId, CancellationToken.None);
            _services.GetRequiredService<PostCommitRoute>().Presence(userId, online, online ? null : _time.GetUtcNow().ToUnixTimeMilliseconds(), friends);
        }
        catch (Exception e)
        {
            LogAnnounceFailed(_logger, e, userId);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // A clean stop: the liveness key goes now, so the next beat of any node reaps this incarnation at once.
        try
        {
            await _redis.Database.KeyDeleteAsync(_alive).WaitAsync(Deadline, _time, cancellationToken);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or OperationCanceledException)
        {
            // Redis away: the key expires by itself.
        }
    }

    private RedisKey UserKey(long userId) => _prefix + "user:" + userId.ToString(CultureInfo.InvariantCulture);

    private async Task<RedisResult?> RunAsync(LuaScript script, object parameters)
    {
        if (!_redis.IsConnected)
        {
            _dirty = true;
            return null;
        }

        try
        {
            return await _redis.Database.ScriptEvaluateAsync(script, parameters).WaitAsync(Deadline, _time);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            _dirty = true;
            // Every connect and disconnect runs a script: during an outage, one line per 2 s, not one per event.
            var now = _time.GetTimestamp();
            var last = Volatile.Read(ref _unavailableLoggedAt);
            if ((last == 0 || _time.GetElapsedTime(last, now) >= UnavailableLogInterval)
                && Interlocked.CompareExchange(ref _unavailableLoggedAt, now, last) == last)
            {
                LogUnavailable(_logger, e.GetType().Name);
            }

            return null;
        }
    }

    private static readonly TimeSpan UnavailableLogInterval = TimeSpan.FromSeconds(2);
    private long _unavailableLoggedAt;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Presence: Redis did not answer ({Error}); this node's own counts decide until it does")]
    private static partial void LogUnavailable(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Presence: a beat failed")]
    private static partial void LogTickFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Presence: dead incarnation {Incarnation} reaped; {Offline} users went offline")]
    private static partial void LogReaped(ILogger logger, string incarnation, int offline);

    [LoggerMessage(Level = LogLevel.Information, Message = "Presence: this node's users re-registered after Redis was away (reaped meanwhile: {WasReaped})")]
    private static partial void LogReconciled(ILogger logger, bool wasReaped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Presence of user {UserId} could not be announced")]
    private static partial void LogAnnounceFailed(ILogger logger, Exception exception, long userId);
}
