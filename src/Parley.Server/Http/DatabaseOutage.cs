using System.Diagnostics;

namespace Parley.Server.Http;

/// <summary>
/// What a request or frame that met an unreachable database is told (503 <c>unavailable</c>), and a bound on how
/// often that is logged: while PostgreSQL restarts every request fails alike, and one line per request would
/// bury everything else.
/// </summary>
public static class DatabaseOutage
{
    /// <summary>What a client is told to wait before retrying: about what a fast PostgreSQL restart takes.</summary>
    public const int RetryAfterSeconds = 2;

    public const string Detail = "The database is unavailable; retry shortly.";

    private static readonly long Interval = Stopwatch.Frequency * 5;
    private static long _last = long.MinValue / 2;
    private static long _suppressed;

    /// <summary>True at most once per 5 s; <paramref name="suppressed"/> counts the failures not logged since the last report.</summary>
    public static bool ShouldLog(out long suppressed)
    {
        var now = Stopwatch.GetTimestamp();
        var last = Volatile.Read(ref _last);
        if (now - last < Interval || Interlocked.CompareExchange(ref _last, now, last) != last)
        {
            Interlocked.Increment(ref _suppressed);
            suppressed = 0;
            return false;
        }

        suppressed = Interlocked.Exchange(ref _suppressed, 0);
        return true;
    }
}
