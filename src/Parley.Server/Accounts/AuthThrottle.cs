using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Options;

namespace Parley.Server.Accounts;

/// <summary>
/// Brute-force and sign-up-spam guards, in fixed windows: login attempts per username and per client
/// address (an attempt is counted before the password is checked, so concurrent guesses cannot slip past
/// the limit; a success takes its count back), and new accounts per client address. IPv6 clients are
/// counted per /64, the block one subscriber usually holds.
/// </summary>
public sealed class AuthThrottle : IDisposable
{
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly AuthOptions _options;
    private readonly TimeProvider _time;
    private readonly ITimer _purge;

    public AuthThrottle(IOptions<AuthOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
        // Expired windows are dropped on a timer, never on the request path.
        _purge = time.CreateTimer(_ => Purge(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    private long LoginWindowMs => _options.LoginFailureWindowSeconds * 1000L;

    private long RegistrationWindowMs => _options.RegistrationWindowSeconds * 1000L;

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Counts a login attempt against the username and the address. Returns the seconds to wait when either is
    /// already at its limit (nothing is counted then), or null when the attempt may go ahead.
    /// </summary>
    public int? TryBeginLogin(string usernameKey, string address)
    {
        var now = Now;
        var userKey = "u:" + usernameKey;
        var clientKey = "a:" + AddressKey(address);

        // A refused attempt adds nothing: before this check, each 429 added a window for its username, so one address
        // sending logins for random usernames grew the table at request rate (1.3 million windows and +360 MB of RSS
        // in a minute, kept for the whole window).
        if (Math.Max(RetryAfter(userKey, _options.LoginFailuresPerUsername, now), RetryAfter(clientKey, _options.LoginFailuresPerAddress, now)) is var refused and > 0)
        {
            return refused;
        }

        var user = _windows.GetOrAdd(userKey, static (_, n) => new Window(n), now);
        var client = _windows.GetOrAdd(clientKey, static (_, n) => new Window(n), now);
        // One lock order (user, then address) everywhere, so two attempts never deadlock.
        lock (user)
        {
            lock (client)
            {
                var wait = Math.Max(
                    user.RetryAfter(_options.LoginFailuresPerUsername, LoginWindowMs, now) ?? 0,
                    client.RetryAfter(_options.LoginFailuresPerAddress, LoginWindowMs, now) ?? 0);
                if (wait > 0)
                {
                    return wait;
                }

                user.Hit(LoginWindowMs, now);
                client.Hit(LoginWindowMs, now);
                return null;
            }
        }
    }

    /// <summary>A successful login clears the username's failures and takes back the address's count.</summary>
    public void LoginSucceeded(string usernameKey, string address)
    {
        _windows.TryRemove("u:" + usernameKey, out _);
        if (_windows.TryGetValue("a:" + AddressKey(address), out var client))
        {
            lock (client)
            {
                client.Count = Math.Max(0, client.Count - 1);
            }
        }
    }

    /// <summary>
    /// An attempt that never reached its password check (no hashing slot in time, or the client went away) is
    /// taken back from both counts: a busy server must not lock anyone out.
    /// </summary>
    public void LoginNotChecked(string usernameKey, string address)
    {
        foreach (var key in (ReadOnlySpan<string>)["u:" + usernameKey, "a:" + AddressKey(address)])
        {
            if (_windows.TryGetValue(key, out var window))
            {
                lock (window)
                {
                    window.Count = Math.Max(0, window.Count - 1);
                }
            }
        }
    }

    public int? RegistrationRetryAfter(string address)
    {
        if (!_windows.TryGetValue("r:" + AddressKey(address), out var window))
        {
            return null;
        }

        lock (window)
        {
            return window.RetryAfter(_options.RegistrationsPerAddress, RegistrationWindowMs, Now);
        }
    }

    public void RecordRegistration(string address)
    {
        var now = Now;
        var window = _windows.GetOrAdd("r:" + AddressKey(address), static (_, n) => new Window(n), now);
        lock (window)
        {
            window.Hit(RegistrationWindowMs, now);
        }
    }

    public void Dispose() => _purge.Dispose();

    /// <summary>How many windows are kept (tests).</summary>
    internal int WindowCount => _windows.Count;

    /// <summary>The seconds to wait when the login window <paramref name="key"/> exists and is at its limit, else 0.</summary>
    private int RetryAfter(string key, int limit, long now)
    {
        if (!_windows.TryGetValue(key, out var window))
        {
            return 0;
        }

        lock (window)
        {
            return window.RetryAfter(limit, LoginWindowMs, now) ?? 0;
        }
    }

    /// <summary>IPv4 addresses as they are; IPv6 addresses by their /64 prefix.</summary>
    internal static string AddressKey(string address)
    {
        if (!IPAddress.TryParse(address, out var ip))
        {
            return address;
        }

        if (ip.IsIPv4MappedToIPv6)
        {
            return ip.MapToIPv4().ToString();
        }

        if (ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return ip.ToString();
        }

        var bytes = ip.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    private void Purge()
    {
        var now = Now;
        foreach (var (key, window) in _windows)
        {
            var length = key[0] == 'r' ? RegistrationWindowMs : LoginWindowMs;
            if (now - Volatile.Read(ref window.Start) >= length)
            {
                _windows.TryRemove(new KeyValuePair<string, Window>(key, window));
            }
        }
    }

    private sealed class Window(long start)
    {
        public long Start = start;
        public int Count;

        /// <summary>Seconds until the window ends when it is at the limit, else null. Call under the lock.</summary>
        public int? RetryAfter(int limit, long windowMs, long now) =>
            now - Start >= windowMs || Count < limit ? null : (int)Math.Max(1, (Start + windowMs - now + 999) / 1000);

        public void Hit(long windowMs, long now)
        {
            if (now - Start >= windowMs)
            {
                Start = now;
                Count = 0;
            }

            Count++;
        }
    }
}
