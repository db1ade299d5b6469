using StackExchange.Redis;

namespace Parley.Server.Cluster;

/// <summary>
/// Per-user and per-address limits kept in Redis, so N nodes allow what one node would (cluster mode only; one node
/// keeps its in-memory limiters and never comes here). Each operation is one Lua script, one round trip, atomic
/// whatever the other nodes do at the same time, on Redis's own clock (<c>TIME</c>) so the nodes' clocks do not matter.
/// Every key carries a TTL that ends when its bucket is full again or its window is over: nothing outlives its use.
/// </summary>
/// <remarks>
/// When Redis does not answer (down, frozen, or failing), every method answers null within <see cref="Deadline"/>
/// and the caller falls back to its local, per-node limiter: limits fail open to "per node" (at most N times the
/// limit across N nodes) rather than refusing everyone or stalling sends. After a failure Redis is not asked again
/// for <see cref="Backoff"/>, so an outage costs one deadline, not one per request.
/// </remarks>
public sealed partial class SharedLimits(ClusterRedis redis, ClusterKeyspace keyspace, TimeProvider time, ILogger<SharedLimits> logger)
{
    private readonly string _prefix = keyspace.Prefix + "limit:";

    public static readonly TimeSpan Deadline = TimeSpan.FromMilliseconds(250);
    public static readonly TimeSpan Backoff = TimeSpan.FromSeconds(2);

    // Token bucket: takes up to ARGV[3] whole tokens (a lease), answers how many it took.
    private static readonly LuaScript TakeScript = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local rate = tonumber(@rate)
        local burst = tonumber(@burst)
        local want = tonumber(@want)
        local b = redis.call('HMGET', @key, 't', 's')
        local tokens = tonumber(b[1]) or burst
        local stamp = tonumber(b[2]) or now
        if now > stamp then tokens = math.min(burst, tokens + (now - stamp) * rate / 1000) end
        local got = math.min(want, math.floor(tokens))
        if got < 0 then got = 0 end
        tokens = tokens - got
        redis.call('HSET', @key, 't', string.format('%.6f', tokens), 's', math.max(now, stamp))
        redis.call('PEXPIRE', @key, math.ceil((burst - tokens) / rate * 1000) + 1000)
        return got
        """);

    // Fixed windows of login attempts (the same rules as AuthThrottle's Window): answers 0 when the attempt is
    // counted in all three windows, else the seconds to wait (and nothing is counted).
    private static readonly LuaScript LoginScript = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local w = tonumber(@window)
        local function load(k)
          local v = redis.call('HMGET', k, 's', 'c', 'l')
          local s = tonumber(v[1])
          if s == nil or now - s >= w then return { now, 0, tonumber(v[3]) or 0, true } end
          return { s, tonumber(v[2]) or 0, tonumber(v[3]) or 0, false }
        end
        local function retry(x, limit)
          if x[4] or x[2] < limit then return 0 end
          return math.max(1, math.floor((x[1] + w - now + 999) / 1000))
        end
        local function slow(x, limit, maxs)
          if x[4] or x[2] < limit then return 0 end
          local gap = math.min(1000 * math.pow(2, math.min(x[2] - limit, 20)), math.max(1, maxs) * 1000)
          local left = x[3] + gap - now
          if left <= 0 then return 0 end
          return math.max(1, math.floor((left + 999) / 1000))
        end
        local u = load(@user)
        local p = load(@pair)
        local a = load(@address)
        local wait = math.max(retry(p, tonumber(@pairLimit)), retry(a, tonumber(@addressLimit)))
        if tonumber(@known) == 0 then wait = math.max(wait, slow(u, tonumber(@userLimit), tonumber(@slowMax))) end
        if wait > 0 then return wait end
        local function hit(k, x, last)
          redis.call('HSET', k, 's', x[1], 'c', x[2] + 1)
          if last then redis.call('HSET', k, 'l', now) end
          redis.call('PEXPIRE', k, math.max(1, x[1] + w - now))
        end
        hit(@user, u, true)
        hit(@pair, p, false)
        hit(@address, a, false)
        return 0
        """);

    // Takes one count back from each window that still exists (a success, or an attempt never checked).
    private static readonly LuaScript TakeBackScript = LuaScript.Prepare("""
        if tonumber(@clearPair) == 1 then redis.call('DEL', @pair) elseif redis.call('HGET', @pair, 'c') then
          if tonumber(redis.call('HINCRBY', @pair, 'c', -1)) < 0 then redis.call('HSET', @pair, 'c', 0) end
        end
        for _, k in ipairs({ @user, @address }) do
          if redis.call('HGET', k, 'c') then
            if tonumber(redis.call('HINCRBY', k, 'c', -1)) < 0 then redis.call('HSET', k, 'c', 0) end
          end
        end
        return 0
        """);

    // One fixed window: @add 1 counts an event; either way answers the seconds until the window ends when it is at
    // (or, after counting, past) the limit, else 0.
    private static readonly LuaScript WindowScript = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local w = tonumber(@window)
        local v = redis.call('HMGET', @key, 's', 'c')
        local s = tonumber(v[1])
        local c = tonumber(v[2]) or 0
        if s == nil or now - s >= w then s = now; c = 0 end
        if tonumber(@add) == 1 then
          c = c + 1
          redis.call('HSET', @key, 's', s, 'c', c)
          redis.call('PEXPIRE', @key, math.max(1, s + w - now))
          return 0
        end
        if c < tonumber(@limit) then return 0 end
        return math.max(1, math.floor((s + w - now + 999) / 1000))
        """);

    // A sliding hour of actions (HourlyQuota's rule): answers 0 when the action is counted, else the seconds until the
    // oldest of the hour leaves it.
    private static readonly LuaScript HourlyScript = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local w = 3600000
        redis.call('ZREMRANGEBYSCORE', @key, '-inf', now - w)
        local count = redis.call('ZCARD', @key)
        if count >= tonumber(@limit) then
          local oldest = redis.call('ZRANGE', @key, 0, 0, 'WITHSCORES')
          return math.max(1, math.ceil((tonumber(oldest[2]) + w - now) / 1000))
        end
        redis.call('ZADD', @key, now, t[1] .. t[2] .. ':' .. count)
        redis.call('PEXPIRE', @key, w)
        return 0
        """);

    private static readonly LuaScript RefundScript = LuaScript.Prepare("""
        redis.call('ZPOPMAX', @key)
        return 0
        """);

    private long _skipUntil;

    /// <summary>Counts one action in the shared sliding hour <paramref name="name"/>: 0 when counted, the seconds to wait, or null (no Redis).</summary>
    public async ValueTask<int?> HourlyTakeAsync(string name, int perHour)
    {
        var result = await RunAsync(HourlyScript, new { key = (RedisKey)(_prefix + name), limit = perHour });
        return result is null ? null : (int)result;
    }

    /// <summary>Gives back the last action of the shared hour <paramref name="name"/>; false when Redis did not take it.</summary>
    public async ValueTask<bool> HourlyRefundAsync(string name) =>
        await RunAsync(RefundScript, new { key = (RedisKey)(_prefix + name) }) is not null;

    /// <summary>Takes up to <paramref name="want"/> tokens from the shared bucket <paramref name="name"/>; how many it got, or null (no Redis).</summary>
    public async ValueTask<int?> TakeAsync(string name, double ratePerSecond, double burst, int want)
    {
        var result = await RunAsync(TakeScript, new { key = (RedisKey)(_prefix + name), rate = ratePerSecond, burst, want });
        return result is null ? null : (int)result;
    }

    /// <summary>Counts a login attempt in the shared windows; 0 when counted, the seconds to wait when refused, null (no Redis).</summary>
    public async ValueTask<int?> BeginLoginAsync(string usernameKey, string addressKey, bool known, long windowMs, int pairLimit, int addressLimit, int userLimit, int slowMaxSeconds)
    {
        var result = await RunAsync(LoginScript, new
        {
            user = (RedisKey)(_prefix + "u:" + usernameKey),
            pair = (RedisKey)(_prefix + "p:" + usernameKey + "|" + addressKey),
            address = (RedisKey)(_prefix + "a:" + addressKey),
            window = windowMs,
            pairLimit,
            addressLimit,
            userLimit,
            slowMax = slowMaxSeconds,
            known = known ? 1 : 0,
        });
        return result is null ? null : (int)result;
    }

    /// <summary>Takes a counted attempt back (and, after a success, clears the username's count from this address).</summary>
    public async ValueTask<bool> TakeBackLoginAsync(string usernameKey, string addressKey, bool succeeded) =>
        await RunAsync(TakeBackScript, new
        {
            user = (RedisKey)(_prefix + "u:" + usernameKey),
            pair = (RedisKey)(_prefix + "p:" + usernameKey + "|" + addressKey),
            address = (RedisKey)(_prefix + "a:" + addressKey),
            clearPair = succeeded ? 1 : 0,
        }) is not null;

    /// <summary>The seconds until window <paramref name="name"/> ends when it holds <paramref name="limit"/> events (0: room left), or null (no Redis).</summary>
    public async ValueTask<int?> WindowRetryAfterAsync(string name, int limit, long windowMs)
    {
        var result = await RunAsync(WindowScript, new { key = (RedisKey)(_prefix + name), window = windowMs, limit, add = 0 });
        return result is null ? null : (int)result;
    }

    /// <summary>Counts one event in window <paramref name="name"/>; false when Redis did not take it.</summary>
    public async ValueTask<bool> WindowHitAsync(string name, long windowMs) =>
        await RunAsync(WindowScript, new { key = (RedisKey)(_prefix + name), window = windowMs, limit = 0, add = 1 }) is not null;

    private async ValueTask<RedisResult?> RunAsync(LuaScript script, object parameters)
    {
        if (time.GetTimestamp() < Volatile.Read(ref _skipUntil))
        {
            return null;
        }

        if (!redis.IsConnected)
        {
            return Unavailable("not connected");
        }

        try
        {
            return await redis.Database.ScriptEvaluateAsync(script, parameters).WaitAsync(Deadline, time);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return Unavailable(e.GetType().Name);
        }
    }

    private RedisResult? Unavailable(string error)
    {
        Volatile.Write(ref _skipUntil, time.GetTimestamp() + (long)(Backoff.TotalSeconds * time.TimestampFrequency));
        LogUnavailable(logger, error, (int)Backoff.TotalSeconds);
        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shared limits: Redis did not answer ({Error}); each node limits on its own for {Seconds} s")]
    private static partial void LogUnavailable(ILogger logger, string error, int seconds);
}

/// <summary>
/// Where this cluster's keys live in Redis: <c>parley:&lt;hash of the database's host, port and name&gt;:</c>. A
/// cluster is the set of nodes on one PostgreSQL database, so two clusters (or two test runs) sharing one Redis never
/// share a limit or a presence count, with nothing to configure.
/// </summary>
public sealed record ClusterKeyspace(string Prefix)
{
    public static ClusterKeyspace For(string? connectionString)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString ?? "");
        var identity = $"{builder.Host}|{builder.Port}|{builder.Database}";
        var hash = System.IO.Hashing.XxHash64.HashToUInt64(System.Text.Encoding.UTF8.GetBytes(identity));
        return new ClusterKeyspace($"parley:{hash:x16}:");
    }
}
