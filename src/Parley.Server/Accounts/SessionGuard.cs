using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Parley.Storage.Accounts;

namespace Parley.Server.Accounts;

/// <summary>
/// Answers "is this device session still alive?" for every authenticated request without a database
/// round trip each time: live sessions are cached briefly, revocations made on this node take effect at
/// once, and <see cref="Revoked"/> lets the real-time layer close the session's sockets.
/// </summary>
public sealed class SessionGuard(SessionStore sessions, IMemoryCache cache, IOptions<AuthOptions> options, TimeProvider time)
{
    private readonly TimeSpan _liveFor = TimeSpan.FromSeconds(options.Value.SessionCacheSeconds);
    // A revoked session's access tokens die within their lifetime; remembering it a little longer is enough.
    private readonly TimeSpan _revokedFor = TimeSpan.FromMinutes(options.Value.AccessTokenMinutes + 1);

    // Revocations live apart from the cache of live sessions, so a database read that started before a
    // revocation can never cache the session as alive again.
    private readonly ConcurrentDictionary<long, DateTimeOffset> _revoked = new();

    /// <summary>Raised after sessions are revoked (after commit) with their ids.</summary>
    public event Action<IReadOnlyList<long>>? Revoked;

    public async ValueTask<bool> IsActiveAsync(long sessionId, long userId, CancellationToken cancellationToken)
    {
        if (IsKnownRevoked(sessionId))
        {
            return false;
        }

        if (cache.TryGetValue(Key(sessionId), out long owner))
        {
            return owner == userId;
        }

        var session = await sessions.GetAsync(sessionId, cancellationToken);
        if (session is null)
        {
            return false;
        }

        if (session.RevokedAt is not null)
        {
            Remember([sessionId]);
            return false;
        }

        if (IsKnownRevoked(sessionId))
        {
            return false; // revoked while we were reading
        }

        cache.Set(Key(sessionId), session.UserId, _liveFor);
        return session.UserId == userId;
    }

    public void MarkRevoked(IReadOnlyList<long> sessionIds)
    {
        if (sessionIds.Count == 0)
        {
            return;
        }

        Remember(sessionIds);
        Revoked?.Invoke(sessionIds);
    }

    /// <summary>Revocations committed on another node (cluster bus): remembered here, not announced again.</summary>
    public void MarkRevokedElsewhere(IReadOnlyList<long> sessionIds) => Remember(sessionIds);

    /// <summary>Forgets every cached live session (cluster mode, after a bus outage that may have lost revocations).</summary>
    public void DropCache() => Interlocked.Increment(ref _generation);

    private void Remember(IReadOnlyList<long> sessionIds)
    {
        var until = time.GetUtcNow() + _revokedFor;
        foreach (var id in sessionIds)
        {
            _revoked[id] = until;
            cache.Remove(Key(id));
        }

        if (_revoked.Count > 1024)
        {
            var now = time.GetUtcNow();
            foreach (var (id, expires) in _revoked)
            {
                if (expires <= now)
                {
                    _revoked.TryRemove(id, out _);
                }
            }
        }
    }

    private bool IsKnownRevoked(long sessionId) => _revoked.TryGetValue(sessionId, out var until) && until > time.GetUtcNow();

    private long _generation;

    private string Key(long sessionId) => $"session:{Volatile.Read(ref _generation)}:{sessionId}";
}
