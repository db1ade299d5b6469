using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Parley.Storage.Accounts;

namespace Parley.Server.Accounts;

/// <summary>
/// Answers "is this device session still alive?" for every authenticated request without a database
/// round trip each time: live sessions are cached briefly, revocations made on this node take effect at
/// once, and <see cref="Revoked"/> lets the real-time layer close the session's sockets.
/// </summary>
public sealed class SessionGuard(SessionStore sessions, IMemoryCache cache, IOptions<AuthOptions> options)
{
    private readonly TimeSpan _liveFor = TimeSpan.FromSeconds(options.Value.SessionCacheSeconds);
    // A revoked session's access tokens die within their lifetime; remembering it a little longer is enough.
    private readonly TimeSpan _revokedFor = TimeSpan.FromMinutes(options.Value.AccessTokenMinutes + 1);

    /// <summary>Raised after sessions are revoked (after commit) with their ids.</summary>
    public event Action<IReadOnlyList<long>>? Revoked;

    public async ValueTask<bool> IsActiveAsync(long sessionId, long userId, CancellationToken cancellationToken)
    {
        if (!cache.TryGetValue(Key(sessionId), out bool active))
        {
            var session = await sessions.GetAsync(sessionId, cancellationToken);
            active = session is { RevokedAt: null } && session.UserId == userId;
            cache.Set(Key(sessionId), active, active ? _liveFor : _revokedFor);
        }

        return active;
    }

    public void MarkRevoked(IReadOnlyList<long> sessionIds)
    {
        if (sessionIds.Count == 0)
        {
            return;
        }

        foreach (var id in sessionIds)
        {
            cache.Set(Key(id), false, _revokedFor);
        }

        Revoked?.Invoke(sessionIds);
    }

    private static string Key(long sessionId) => "session:" + sessionId;
}
