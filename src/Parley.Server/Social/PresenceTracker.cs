using System.Collections.Concurrent;

namespace Parley.Server.Social;

/// <summary>
/// Who is online on this node: a count of open connections per user. A user is online from their first
/// connection until their last one closes. The WebSocket gateway reports connections here.
/// </summary>
public sealed class PresenceTracker
{
    private readonly ConcurrentDictionary<long, int> _connections = new();

    public bool IsOnline(long userId) => _connections.ContainsKey(userId);

    /// <summary>Counts a new connection; true when it is the user's first (they just came online).</summary>
    public bool Connected(long userId) => _connections.AddOrUpdate(userId, 1, static (_, n) => n + 1) == 1;

    /// <summary>Counts a closed connection; true when it was the user's last (they just went offline).</summary>
    public bool Disconnected(long userId)
    {
        while (_connections.TryGetValue(userId, out var n))
        {
            if (n <= 1)
            {
                if (_connections.TryRemove(new KeyValuePair<long, int>(userId, n)))
                {
                    return true;
                }
            }
            else if (_connections.TryUpdate(userId, n - 1, n))
            {
                return false;
            }
        }

        return false;
    }
}
