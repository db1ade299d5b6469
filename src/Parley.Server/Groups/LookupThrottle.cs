using Microsoft.Extensions.Options;
using Parley.Server.Http;

namespace Parley.Server.Groups;

/// <summary>
/// Slows the enumeration of ids: a token bucket per user of lookups that found nothing (a group or conversation
/// id answered 404, a wrong invite code), <c>Groups:LookupMissesPerMinute</c> sustained and
/// <c>Groups:LookupMissBurst</c> at once. Beyond it those answers are 429 <c>rate_limited</c> with Retry-After, so
/// an exhausted caller cannot tell a missing id from a private one either. Answers a caller is entitled to (their
/// own groups and conversations) are never refused. Memory: one bucket per user who missed recently; a bucket
/// that is full again is dropped by a timer, so the table holds only users who missed within the last
/// burst / rate minutes.
/// </summary>
public sealed class LookupThrottle(IOptions<GroupOptions> options, TimeProvider time) : IDisposable
{
    private readonly TokenBuckets _buckets = new(options.Value.LookupMissesPerMinute / 60.0, options.Value.LookupMissBurst, time);

    /// <summary>Counts a miss by <paramref name="userId"/>: the 404 while the user has misses left, else a 429.</summary>
    public Refusal Miss(long userId, Refusal notFound) =>
        _buckets.TryTake(userId, out var left) ? notFound : Limited(left);

    /// <summary>The 429 to answer before a lookup whose success would itself tell something (an invite code), or null
    /// while the user has misses left.</summary>
    public Refusal? Exhausted(long userId) => _buckets.Peek(userId) is var tokens and < 1 ? Limited(tokens) : null;

    public void Dispose() => _buckets.Dispose();

    private Refusal Limited(double tokens) =>
        new(429, ErrorCodes.RateLimited, "Too many lookups of groups or conversations that do not exist; slow down.")
        {
            RetryAfterSeconds = _buckets.SecondsUntilToken(tokens),
        };
}
