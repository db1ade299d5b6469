using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Options;
using Parley.Server.Cluster;

namespace Parley.Server.Accounts;

/// <summary>
/// Brute-force and sign-up-spam guards, in fixed windows. Login attempts are counted before the password is
/// checked (so concurrent guesses cannot slip past a limit; a success or an attempt never checked takes its count
/// back) against three things:
/// <list type="bullet">
/// <item>the client address (<c>Auth:LoginFailuresPerAddress</c>): a hard limit, 429 until the window ends;</item>
/// <item>the username from that address (<c>Auth:LoginFailuresPerUsernameAndAddress</c>): a hard limit too;</item>
/// <item>the username from anywhere (<c>Auth:LoginFailuresPerUsername</c>): beyond it, attempts from addresses the
/// user never logged in from are slowed down, one per 1, 2, 4, ... seconds (at most <c>Auth:LoginSlowdownMaxSeconds</c>),
/// never refused for good. A hard per-username limit would let anyone lock any account with ten wrong passwords;
/// this way an attacker spread over many addresses gets a few guesses a minute, and the owner, on an address they
/// logged in from before, is not slowed at all.</item>
/// </list>
/// Known addresses (the last few an account logged in from) are kept in memory only, so a restart forgets them: then
/// the owner is slowed like anyone else until they log in once. Sign-ups are counted per address. IPv6 clients
/// are counted per /64, the block one subscriber usually holds.
/// In cluster mode the windows are kept in Redis (<see cref="SharedLimits"/>, the same rules in one script), so the
/// limits hold across nodes; the local windows then only count while Redis does not answer (fail open to per node).
/// Known addresses stay per node: an owner logging in on a node that never saw them succeed is, beyond the
/// per-username failures, slowed like a stranger until they succeed there once.
/// </summary>
public sealed class AuthThrottle : IDisposable
{
    /// <summary>Addresses remembered per account, and accounts remembered at most (the oldest are forgotten first).</summary>
    internal const int KnownAddressesPerUser = 8;
    internal const int MaxKnownUsers = 100_000;

    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, KnownAddresses> _known = new(StringComparer.Ordinal);
    private readonly AuthOptions _options;
    private readonly TimeProvider _time;
    private readonly ITimer _purge;
    private readonly SharedLimits? _shared;

    public AuthThrottle(IOptions<AuthOptions> options, TimeProvider time, SharedLimits? shared = null)
    {
        _options = options.Value;
        _time = time;
        _shared = shared;
        // Expired windows are dropped on a timer, never on the request path.
        _purge = time.CreateTimer(_ => Purge(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    private long LoginWindowMs => _options.LoginFailureWindowSeconds * 1000L;

    private long RegistrationWindowMs => _options.RegistrationWindowSeconds * 1000L;

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// <see cref="TryBeginLogin"/> across nodes in cluster mode (one Redis script); the local count when Redis does not answer.
    /// </summary>
    public async ValueTask<int?> TryBeginLoginAsync(string usernameKey, string address)
    {
        if (_shared is null)
        {
            return TryBeginLogin(usernameKey, address);
        }

        var addressKey = AddressKey(address);
        var wait = await _shared.BeginLoginAsync(
            usernameKey, addressKey, IsKnown(usernameKey, addressKey), LoginWindowMs, _options.LoginFailuresPerUsernameAndAddress,
            _options.LoginFailuresPerAddress, _options.LoginFailuresPerUsername, _options.LoginSlowdownMaxSeconds);
        return wait switch
        {
            null => TryBeginLogin(usernameKey, address),
            0 => null,
            _ => wait,
        };
    }

    /// <summary><see cref="LoginSucceeded"/> across nodes in cluster mode.</summary>
    public async ValueTask LoginSucceededAsync(string usernameKey, string address)
    {
        if (_shared is null || !await _shared.TakeBackLoginAsync(usernameKey, AddressKey(address), succeeded: true))
        {
            LoginSucceeded(usernameKey, address);
            return;
        }

        Remember(usernameKey, AddressKey(address));
    }

    /// <summary><see cref="LoginNotChecked"/> across nodes in cluster mode.</summary>
    public async ValueTask LoginNotCheckedAsync(string usernameKey, string address)
    {
        if (_shared is null || !await _shared.TakeBackLoginAsync(usernameKey, AddressKey(address), succeeded: false))
        {
            LoginNotChecked(usernameKey, address);
        }
    }

    /// <summary><see cref="RegistrationRetryAfter"/> across nodes in cluster mode.</summary>
    public async ValueTask<int?> RegistrationRetryAfterAsync(string address)
    {
        if (_shared is null)
        {
            return RegistrationRetryAfter(address);
        }

        var wait = await _shared.WindowRetryAfterAsync("r:" + AddressKey(address), _options.RegistrationsPerAddress, RegistrationWindowMs);
        return wait switch
        {
            null => RegistrationRetryAfter(address),
            0 => null,
            _ => wait,
        };
    }

    /// <summary><see cref="RecordRegistration"/> across nodes in cluster mode.</summary>
    public async ValueTask RecordRegistrationAsync(string address)
    {
        if (_shared is null || !await _shared.WindowHitAsync("r:" + AddressKey(address), RegistrationWindowMs))
        {
            RecordRegistration(address);
        }
    }

    /// <summary>
    /// Counts a login attempt. Returns the seconds to wait when a limit or the username's slow-down applies (nothing
    /// is counted then), or null when the attempt may go ahead.
    /// </summary>
    public int? TryBeginLogin(string usernameKey, string address)
    {
        var now = Now;
        var addressKey = AddressKey(address);
        var userKey = "u:" + usernameKey;
        var pairKey = "p:" + usernameKey + "|" + addressKey;
        var clientKey = "a:" + addressKey;
        var known = IsKnown(usernameKey, addressKey);

        // A refused attempt adds nothing: before this check, each 429 added a window for its username, so one address
        // sending logins for random usernames grew the table at request rate (1.3 million windows and +360 MB of RSS
        // in a minute, kept for the whole window).
        var refused = Math.Max(
            Math.Max(RetryAfter(pairKey, _options.LoginFailuresPerUsernameAndAddress, now), RetryAfter(clientKey, _options.LoginFailuresPerAddress, now)),
            known ? 0 : SlowDown(userKey, now));
        if (refused > 0)
        {
            return refused;
        }

        var user = _windows.GetOrAdd(userKey, static (_, n) => new Window(n), now);
        var pair = _windows.GetOrAdd(pairKey, static (_, n) => new Window(n), now);
        var client = _windows.GetOrAdd(clientKey, static (_, n) => new Window(n), now);
        // One lock order (user, pair, address) everywhere, so two attempts never deadlock.
        lock (user)
        {
            lock (pair)
            {
                lock (client)
                {
                    var wait = Math.Max(
                        Math.Max(pair.RetryAfter(_options.LoginFailuresPerUsernameAndAddress, LoginWindowMs, now) ?? 0, client.RetryAfter(_options.LoginFailuresPerAddress, LoginWindowMs, now) ?? 0),
                        known ? 0 : user.SlowDown(_options.LoginFailuresPerUsername, _options.LoginSlowdownMaxSeconds, LoginWindowMs, now));
                    if (wait > 0)
                    {
                        return wait;
                    }

                    user.Hit(LoginWindowMs, now);
                    user.Last = now;
                    pair.Hit(LoginWindowMs, now);
                    client.Hit(LoginWindowMs, now);
                    return null;
                }
            }
        }
    }

    /// <summary>
    /// A successful login takes its attempt back from every count, clears the username's failures from this address,
    /// and makes this address one the user is known on. Failures from elsewhere stay counted: an attacker does not get
    /// a fresh allowance because the owner logged in.
    /// </summary>
    public void LoginSucceeded(string usernameKey, string address)
    {
        var addressKey = AddressKey(address);
        _windows.TryRemove("p:" + usernameKey + "|" + addressKey, out _);
        TakeBack("u:" + usernameKey);
        TakeBack("a:" + addressKey);
        Remember(usernameKey, addressKey);
    }

    /// <summary>A new account's address is one its owner is known on (nothing else is counted or taken back).</summary>
    public void Registered(string usernameKey, string address) => Remember(usernameKey, AddressKey(address));

    private void Remember(string usernameKey, string addressKey)
    {
        var known = _known.GetOrAdd(usernameKey, static _ => new KnownAddresses());
        lock (known)
        {
            known.LastSeen = Now;
            known.Addresses.Remove(addressKey);
            known.Addresses.Add(addressKey);
            if (known.Addresses.Count > KnownAddressesPerUser)
            {
                known.Addresses.RemoveAt(0);
            }
        }
    }

    /// <summary>
    /// An attempt that never reached its password check (no hashing slot in time, or the client went away) is
    /// taken back from every count: a busy server must not lock anyone out.
    /// </summary>
    public void LoginNotChecked(string usernameKey, string address)
    {
        var addressKey = AddressKey(address);
        foreach (var key in (ReadOnlySpan<string>)["u:" + usernameKey, "p:" + usernameKey + "|" + addressKey, "a:" + addressKey])
        {
            TakeBack(key);
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

    /// <summary>How many accounts have known addresses (tests).</summary>
    internal int KnownUserCount => _known.Count;

    private void TakeBack(string key)
    {
        if (_windows.TryGetValue(key, out var window))
        {
            lock (window)
            {
                window.Count = Math.Max(0, window.Count - 1);
            }
        }
    }

    private bool IsKnown(string usernameKey, string addressKey)
    {
        if (!_known.TryGetValue(usernameKey, out var known))
        {
            return false;
        }

        lock (known)
        {
            return known.Addresses.Contains(addressKey);
        }
    }

    /// <summary>The seconds the username's slow-down still asks for, else 0.</summary>
    private int SlowDown(string userKey, long now)
    {
        if (!_windows.TryGetValue(userKey, out var window))
        {
            return 0;
        }

        lock (window)
        {
            return window.SlowDown(_options.LoginFailuresPerUsername, _options.LoginSlowdownMaxSeconds, LoginWindowMs, now);
        }
    }

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
        // Known addresses: forgotten after 30 days without a login, and the least recently used beyond the cap.
        foreach (var (key, known) in _known)
        {
            if (now - Volatile.Read(ref known.LastSeen) > TimeSpan.FromDays(30).TotalMilliseconds)
            {
                _known.TryRemove(new KeyValuePair<string, KnownAddresses>(key, known));
            }
        }

        if (_known.Count > MaxKnownUsers)
        {
            foreach (var (key, known) in _known.OrderBy(p => Volatile.Read(ref p.Value.LastSeen)).Take(_known.Count - MaxKnownUsers).ToList())
            {
                _known.TryRemove(new KeyValuePair<string, KnownAddresses>(key, known));
            }
        }

        foreach (var (key, window) in _windows)
        {
            var length = key[0] == 'r' ? RegistrationWindowMs : LoginWindowMs;
            if (now - Volatile.Read(ref window.Start) >= length)
            {
                _windows.TryRemove(new KeyValuePair<string, Window>(key, window));
            }
        }
    }

    private sealed class KnownAddresses
    {
        public readonly List<string> Addresses = new(KnownAddressesPerUser + 1);
        public long LastSeen;
    }

    private sealed class Window(long start)
    {
        public long Start = start;
        public int Count;

        /// <summary>When the last attempt was let through (username windows).</summary>
        public long Last;

        /// <summary>
        /// Beyond <paramref name="limit"/> failures in the window, the n-th further attempt waits 2^n seconds (at most
        /// <paramref name="maxSeconds"/>) after the last one; the seconds still to wait, else 0. Call under the lock.
        /// </summary>
        public int SlowDown(int limit, int maxSeconds, long windowMs, long now)
        {
            if (now - Start >= windowMs || Count < limit)
            {
                return 0;
            }

            var gapMs = Math.Min(1000L << Math.Min(Count - limit, 20), Math.Max(1, maxSeconds) * 1000L);
            var left = Last + gapMs - now;
            return left <= 0 ? 0 : (int)Math.Max(1, (left + 999) / 1000);
        }

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
