using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Parley.Server.Accounts;

/// <summary>
/// Brute-force and sign-up-spam guards: failed logins per username and per client address, and new
/// accounts per client address, each counted in fixed windows. Successful logins are never counted, so a
/// user who types the right password is never slowed down by their own successes.
/// </summary>
public sealed class AuthThrottle(IOptions<AuthOptions> options, TimeProvider time)
{
    private const int PurgeThreshold = 10_000;
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly AuthOptions _options = options.Value;

    private long LoginWindowMs => _options.LoginFailureWindowSeconds * 1000L;

    private long RegistrationWindowMs => _options.RegistrationWindowSeconds * 1000L;

    /// <summary>Seconds to wait when the username or the address is over its failed-login limit; null when a login may be tried.</summary>
    public int? LoginRetryAfter(string usernameKey, string address)
    {
        var now = Now;
        var byUser = RetryAfter("u:" + usernameKey, _options.LoginFailuresPerUsername, LoginWindowMs, now);
        var byAddress = RetryAfter("a:" + address, _options.LoginFailuresPerAddress, LoginWindowMs, now);
        return byUser is null && byAddress is null ? null : Math.Max(byUser ?? 0, byAddress ?? 0);
    }

    public void RecordLoginFailure(string usernameKey, string address)
    {
        var now = Now;
        Hit("u:" + usernameKey, LoginWindowMs, now);
        Hit("a:" + address, LoginWindowMs, now);
    }

    /// <summary>A successful login clears the username's failures (not the address's).</summary>
    public void ResetLogin(string usernameKey) => _windows.TryRemove("u:" + usernameKey, out _);

    public int? RegistrationRetryAfter(string address) =>
        RetryAfter("r:" + address, _options.RegistrationsPerAddress, RegistrationWindowMs, Now);

    public void RecordRegistration(string address) => Hit("r:" + address, RegistrationWindowMs, Now);

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    private int? RetryAfter(string key, int limit, long windowMs, long now)
    {
        if (!_windows.TryGetValue(key, out var window))
        {
            return null;
        }

        lock (window)
        {
            if (now - window.Start >= windowMs || window.Count < limit)
            {
                return null;
            }

            return (int)Math.Max(1, (window.Start + windowMs - now + 999) / 1000);
        }
    }

    private void Hit(string key, long windowMs, long now)
    {
        var window = _windows.GetOrAdd(key, static (_, start) => new Window { Start = start }, now);
        lock (window)
        {
            if (now - window.Start >= windowMs)
            {
                window.Start = now;
                window.Count = 0;
            }

            window.Count++;
        }

        if (_windows.Count > PurgeThreshold)
        {
            Purge(now);
        }
    }

    private void Purge(long now)
    {
        var longest = Math.Max(LoginWindowMs, RegistrationWindowMs);
        foreach (var (key, window) in _windows)
        {
            if (now - Volatile.Read(ref window.Start) >= longest)
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
