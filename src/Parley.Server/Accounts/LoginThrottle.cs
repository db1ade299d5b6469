using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Parley.Server.Accounts;

/// <summary>
/// Counts failed logins per username and per client address in fixed windows. Only failures count, so a
/// user who types the right password is never slowed down by their own successes.
/// </summary>
public sealed class LoginThrottle(IOptions<AuthOptions> options, TimeProvider time)
{
    private const int PurgeThreshold = 10_000;
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly AuthOptions _options = options.Value;

    /// <summary>Seconds to wait when either key is over its limit; null when a login may be tried.</summary>
    public int? RetryAfter(string usernameKey, string address)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var byUser = Check("u:" + usernameKey, _options.LoginFailuresPerUsername, now);
        var byAddress = Check("a:" + address, _options.LoginFailuresPerAddress, now);
        return byUser is null && byAddress is null ? null : Math.Max(byUser ?? 0, byAddress ?? 0);
    }

    public void RecordFailure(string usernameKey, string address)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        Increment("u:" + usernameKey, now);
        Increment("a:" + address, now);
        if (_windows.Count > PurgeThreshold)
        {
            Purge(now);
        }
    }

    /// <summary>A successful login clears the username's failures (not the address's).</summary>
    public void Reset(string usernameKey) => _windows.TryRemove("u:" + usernameKey, out _);

    private long WindowMs => _options.LoginFailureWindowSeconds * 1000L;

    private int? Check(string key, int limit, long now)
    {
        if (!_windows.TryGetValue(key, out var window))
        {
            return null;
        }

        lock (window)
        {
            if (now - window.Start >= WindowMs || window.Count < limit)
            {
                return null;
            }

            return (int)Math.Max(1, (window.Start + WindowMs - now + 999) / 1000);
        }
    }

    private void Increment(string key, long now)
    {
        var window = _windows.GetOrAdd(key, static (_, start) => new Window { Start = start }, now);
        lock (window)
        {
            if (now - window.Start >= WindowMs)
            {
                window.Start = now;
                window.Count = 0;
            }

            window.Count++;
        }
    }

    private void Purge(long now)
    {
        foreach (var (key, window) in _windows)
        {
            if (now - window.Start >= WindowMs)
            {
                _windows.TryRemove(key, out _);
            }
        }
    }

    private sealed class Window
    {
        public long Start;
        public int Count;
    }
}
