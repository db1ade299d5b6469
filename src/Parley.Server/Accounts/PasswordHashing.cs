using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Parley.Server.Http;

namespace Parley.Server.Accounts;

/// <summary>
/// The outcome of checking a password: whether it matched and, when the stored hash was PBKDF2 or an Argon2id hash
/// weaker than the current settings, a fresh hash of the same password to store in its place.
/// </summary>
public readonly record struct PasswordCheck(bool Valid, string? Rehashed);

/// <summary>
/// Password hashes: Argon2id from libsodium (through Geralt) in the PHC string form
/// <c>$argon2id$v=19$m=19456,t=2,p=1$salt$hash</c>, at <c>Auth:Argon2MemoryKiB</c> and <c>Auth:Argon2Iterations</c>
/// (libsodium always uses one lane: p = 1). The PBKDF2 hashes that earlier versions stored (ASP.NET Core Identity's
/// V3 format) are still verified, so their users log in once more and are re-hashed; none is made any more.
/// <para>
/// A hash holds its memory (m KiB) and a core while it runs, so at most <c>Auth:MaxConcurrentHashes</c> run at once,
/// on threads of their own: on the request thread pool each would hold a pool thread that WebSocket and HTTP work
/// needs. A caller waits at most <c>Auth:HashQueueWaitMs</c> for a turn (asynchronously), then gets 503 unavailable
/// with Retry-After. Every register, login (the unknown-user dummy included) and password change comes through here.
/// </para>
/// </summary>
public sealed partial class PasswordHashing : IDisposable
{
    public const string Argon2Prefix = "$argon2id$";

    /// <summary>OWASP's Password Storage Cheat Sheet: equally strong Argon2id settings (memory KiB, passes), p = 1.</summary>
    internal static readonly (int MemoryKiB, int Iterations)[] OwaspMinimums = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)];

    /// <summary>The most memory Geralt takes (an int of bytes).</summary>
    internal const int MaxMemoryKiB = int.MaxValue / 1024;

    /// <summary>The most hashes at once that may be configured (each one is a thread and its memory).</summary>
    internal const int MaxBound = 1024;

    private const int RetryAfterSeconds = 1;

    private readonly int _memoryKiB;
    private readonly int _iterations;
    private readonly TimeSpan _queueWait;
    private readonly SemaphoreSlim _slots;
    private readonly BlockingCollection<Action> _work = [];
    private readonly Thread[] _workers;
    private readonly PasswordHasher<object> _pbkdf2 = new(); // verifies the old V3 hashes; never used to hash
    private readonly string _dummyHash;
    private int _running;
    private int _peakRunning;
    private long _dummyChecks;

    public PasswordHashing(IOptions<AuthOptions> options, ILogger<PasswordHashing> logger)
    {
        var o = options.Value;
        Check(o);
        _memoryKiB = o.Argon2MemoryKiB;
        _iterations = o.Argon2Iterations;
        _queueWait = TimeSpan.FromMilliseconds(o.HashQueueWaitMs);
        Bound = o.MaxConcurrentHashes;
        _slots = new SemaphoreSlim(Bound, Bound);
        _workers = new Thread[Bound];
        for (var i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(Work) { IsBackground = true, Name = "parley-hash-" + i.ToString(CultureInfo.InvariantCulture) };
            _workers[i].Start();
        }

        // Verified against when the username does not exist, so an unknown user costs what a wrong password does.
        // Made here, at startup, which also loads libsodium (or fails) before the first request.
        _dummyHash = Argon2Hash(RandomNumberGenerator.GetHexString(32));
        if (!MeetsOwasp(_memoryKiB, _iterations))
        {
            LogWeak(logger, _memoryKiB, _iterations);
        }

        LogSettings(logger, _memoryKiB, _iterations, Bound);
    }

    /// <summary>How many hashes may run at once.</summary>
    public int Bound { get; }

    /// <summary>The most hashes that ran at the same moment since startup (tests assert on it).</summary>
    internal int PeakRunning => Volatile.Read(ref _peakRunning);

    /// <summary>Checks made against the dummy hash (no such user, or no usable password) since startup (tests).</summary>
    internal long DummyChecks => Interlocked.Read(ref _dummyChecks);

    /// <summary>The dummy hash, made at the current settings (tests read its parameters).</summary>
    internal string DummyHash => _dummyHash;

    /// <summary>Called when a caller starts waiting for a hashing slot (a test seam; null in production).</summary>
    internal Action? WaitingForSlot { get; set; }

    /// <summary>A new Argon2id hash of <paramref name="password"/> at the current settings.</summary>
    public Task<string> HashAsync(string password, CancellationToken cancellationToken) =>
        RunAsync(() => Argon2Hash(password), cancellationToken);

    /// <summary>
    /// Checks <paramref name="password"/> against <paramref name="storedHash"/> (null: no such user, checked against a
    /// dummy hash so it costs the same) and re-hashes it, in the same turn, when the stored hash is out of date.
    /// </summary>
    public Task<PasswordCheck> VerifyAsync(string? storedHash, string password, CancellationToken cancellationToken) =>
        RunAsync(() => Verify(storedHash, password), cancellationToken);

    /// <summary>Checks the current password and, if it matches, hashes the new one (one turn); null when it does not match.</summary>
    public Task<string?> ChangeAsync(string storedHash, string currentPassword, string newPassword, CancellationToken cancellationToken) =>
        RunAsync(() => Verify(storedHash, currentPassword).Valid ? Argon2Hash(newPassword) : null, cancellationToken);

    /// <summary>Runs other password-derived work (the SCRAM keys' PBKDF2) in a hashing slot, under the same bound and wait.</summary>
    internal Task<T> RunInSlotAsync<T>(Func<T> work, CancellationToken cancellationToken) => RunAsync(work, cancellationToken);

    /// <summary>Takes one hashing slot until the result is disposed (a test seam: hold the only slot to see others wait).</summary>
    internal async Task<IDisposable> HoldSlotAsync(CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        return new Slot(_slots);
    }

    /// <summary>Whether (memory KiB, passes) is at least one of OWASP's Argon2id settings.</summary>
    internal static bool MeetsOwasp(int memoryKiB, int iterations) =>
        OwaspMinimums.Any(m => memoryKiB >= m.MemoryKiB && iterations >= m.Iterations);

    /// <summary>Reads m and t from an Argon2id PHC string; false when it is not one.</summary>
    internal static bool TryReadParameters(string hash, out int memoryKiB, out int iterations)
    {
        memoryKiB = iterations = 0;
        // $argon2id$v=19$m=19456,t=2,p=1$salt$hash
        var parts = hash.Split('$');
        if (parts.Length != 6 || parts[1] != "argon2id" || parts[2] != "v=19")
        {
            return false;
        }

        var found = 0;
        foreach (var pair in parts[3].Split(','))
        {
            if (pair.StartsWith("m=", StringComparison.Ordinal) && int.TryParse(pair.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out memoryKiB))
            {
                found++;
            }
            else if (pair.StartsWith("t=", StringComparison.Ordinal) && int.TryParse(pair.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out iterations))
            {
                found++;
            }
        }

        return found == 2;
    }

    public void Dispose()
    {
        _work.CompleteAdding();
        // A worker finishes the hash it is on, then leaves; only then may the queue go.
        if (_workers.All(w => w.Join(TimeSpan.FromSeconds(5))))
        {
            _work.Dispose();
        }

        _slots.Dispose();
    }

    private static void Check(AuthOptions o)
    {
        if (o.Argon2Iterations < 1 || o.Argon2MemoryKiB < 8 || o.Argon2MemoryKiB > MaxMemoryKiB)
        {
            throw new InvalidOperationException($"Auth:Argon2Iterations must be at least 1 and Auth:Argon2MemoryKiB between 8 and {MaxMemoryKiB}.");
        }

        if (!MeetsOwasp(o.Argon2MemoryKiB, o.Argon2Iterations) && !o.AllowWeakPasswordHashes)
        {
            throw new InvalidOperationException(
                $"Auth:Argon2MemoryKiB={o.Argon2MemoryKiB} with Auth:Argon2Iterations={o.Argon2Iterations} is below OWASP's minimum for Argon2id "
                + "(m=19456 KiB with t=2; or 47104/1, 12288/3, 9216/4, 7168/5). Raise them, or set Auth:AllowWeakPasswordHashes=true "
                + "(for tests and load tools only).");
        }

        // Each slot is a thread of its own, started now, and may hold Argon2MemoryKiB: 20000 took the server down at
        // startup with "Failed to create RW mapping for RX memory", far from the setting that caused it.
        if (o.MaxConcurrentHashes is < 1 or > MaxBound)
        {
            throw new InvalidOperationException($"Auth:MaxConcurrentHashes must be between 1 and {MaxBound}, not {o.MaxConcurrentHashes}.");
        }

        if (o.HashQueueWaitMs < 0)
        {
            throw new InvalidOperationException("Auth:HashQueueWaitMs must not be negative.");
        }
    }

    private async Task<T> RunAsync<T>(Func<T> hash, CancellationToken cancellationToken)
    {
        WaitingForSlot?.Invoke();
        if (!await _slots.WaitAsync(_queueWait, cancellationToken))
        {
            throw ApiException.Unavailable("The server is busy checking passwords; try again shortly.", RetryAfterSeconds);
        }

        try
        {
            // The slot is held until the worker is done, so no more than Bound items are ever queued for the Bound
            // workers: a hash never waits for a thread once it has its slot.
            var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            _work.Add(() =>
            {
                try
                {
                    done.SetResult(Counted(hash));
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            });
            return await done.Task;
        }
        finally
        {
            _slots.Release();
        }
    }

    private void Work()
    {
        foreach (var item in _work.GetConsumingEnumerable())
        {
            item();
        }
    }

    private T Counted<T>(Func<T> hash)
    {
        var running = Interlocked.Increment(ref _running);
        var peak = Volatile.Read(ref _peakRunning);
        while (running > peak && Interlocked.CompareExchange(ref _peakRunning, running, peak) is var seen && seen != peak)
        {
            peak = seen;
        }

        try
        {
            return hash();
        }
        finally
        {
            Interlocked.Decrement(ref _running);
        }
    }

    private PasswordCheck Verify(string? storedHash, string password)
    {
        if (storedHash is not null && storedHash.StartsWith(Argon2Prefix, StringComparison.Ordinal))
        {
            if (!VerifyArgon2(storedHash, password))
            {
                return default;
            }

            var current = TryReadParameters(storedHash, out var memoryKiB, out var iterations) && memoryKiB >= _memoryKiB && iterations >= _iterations;
            return new PasswordCheck(true, current ? null : Argon2Hash(password));
        }

        if (storedHash is not null && IsPbkdf2V3(storedHash))
        {
            return _pbkdf2.VerifyHashedPassword(this, storedHash, password) == PasswordVerificationResult.Failed
                ? default
                : new PasswordCheck(true, Argon2Hash(password));
        }

        // No such user, or an account without a usable password: the same work as a wrong password, then no.
        VerifyArgon2(_dummyHash, password);
        Interlocked.Increment(ref _dummyChecks);
        return default;
    }

    private string Argon2Hash(string password)
    {
        var bytes = Encoding.UTF8.GetBytes(password);
        Span<char> hash = stackalloc char[Geralt.Argon2id.HashSize];
        try
        {
            Geralt.Argon2id.ComputeHash(hash, bytes, _iterations, _memoryKiB * 1024);
            var end = hash.IndexOf('\0'); // libsodium writes a NUL-terminated string into the fixed-size buffer
            return new string(end < 0 ? hash : hash[..end]);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    private static bool VerifyArgon2(string hash, string password)
    {
        var bytes = Encoding.UTF8.GetBytes(password);
        try
        {
            return Geralt.Argon2id.VerifyHash(hash, bytes);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            return false; // a damaged stored hash matches nothing
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>ASP.NET Core Identity's V3 format: base64 of 0x01, PRF, iterations, salt length, salt, subkey.</summary>
    private static bool IsPbkdf2V3(string hash)
    {
        if (hash.Length is < 16 or > 256)
        {
            return false;
        }

        Span<byte> head = stackalloc byte[(hash.Length * 3 / 4) + 3];
        return Convert.TryFromBase64String(hash, head, out var length) && length > 13 && head[0] == 0x01;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Password hashes: Argon2id m={MemoryKiB} KiB, t={Iterations}, p=1; at most {Bound} at once")]
    private static partial void LogSettings(ILogger logger, int memoryKiB, int iterations, int bound);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Argon2id m={MemoryKiB} KiB, t={Iterations} is below OWASP's minimum (allowed by Auth:AllowWeakPasswordHashes): for tests and load tools only")]
    private static partial void LogWeak(ILogger logger, int memoryKiB, int iterations);

    private sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                slots.Release();
            }
        }
    }
}
