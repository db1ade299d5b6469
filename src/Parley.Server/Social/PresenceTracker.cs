using System.Collections.Concurrent;

namespace Parley.Server.Social;

/// <summary>
/// Who is online on this node: a count of open connections per user. A user is online from their first
/// connection until their last one closes. The WebSocket gateway reports connections here. In cluster mode a
/// <see cref="IPresenceDirectory"/> (Redis) decides when a user's first or last connection is the first or last
/// of the whole cluster, and answers who is online anywhere; one node never asks it.
/// </summary>
public sealed class PresenceTracker(IPresenceDirectory? cluster = null)
{
    private readonly ConcurrentDictionary<long, int> _connections = new();

    // A user's local transitions reach the directory in the order they happened here: each is issued under its stripe.
    private readonly object[] _stripes = [.. Enumerable.Range(0, 64).Select(_ => new object())];

    public bool IsOnline(long userId) => _connections.ContainsKey(userId);

    /// <summary>The users with at least one connection on this node, now.</summary>
    public IEnumerable<long> LocalUsers => _connections.Keys;

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

    /// <summary><see cref="Connected"/>, and in cluster mode: true only when it is the user's first connection anywhere.</summary>
    public ValueTask<bool> ConnectedAsync(long userId)
    {
        if (cluster is null)
        {
            return new ValueTask<bool>(Connected(userId));
        }

        Task<bool> first;
        lock (_stripes[(int)((ulong)userId % 64)])
        {
            if (!Connected(userId))
            {
                return new ValueTask<bool>(false);
            }

            first = cluster.ConnectedAsync(userId);
        }

        return new ValueTask<bool>(first);
    }

    /// <summary><see cref="Disconnected"/>, and in cluster mode: true only when it was the user's last connection anywhere.</summary>
    public ValueTask<bool> DisconnectedAsync(long userId)
    {
        if (cluster is null)
        {
            return new ValueTask<bool>(Disconnected(userId));
        }

        Task<bool> last;
        lock (_stripes[(int)((ulong)userId % 64)])
        {
            if (!Disconnected(userId))
            {
                return new ValueTask<bool>(false);
            }

            last = cluster.DisconnectedAsync(userId);
        }

        return new ValueTask<bool>(last);
    }

    /// <summary>Which of <paramref name="userIds"/> are online in the cluster; null on one node (ask <see cref="IsOnline"/>).</summary>
    public Task<IReadOnlySet<long>>? OnlineAmongAsync(IReadOnlyCollection<long> userIds) =>
        cluster is null || userIds.Count == 0 ? null : cluster.OnlineAmongAsync(userIds, this);
}

/// <summary>Presence across nodes (cluster mode): <c>Cluster/ClusterPresence</c>.</summary>
public interface IPresenceDirectory
{
    /// <summary>This node now holds the user (its first local connection); true when no other node does.</summary>
    Task<bool> ConnectedAsync(long userId);

    /// <summary>This node no longer holds the user; true when no other live node does.</summary>
    Task<bool> DisconnectedAsync(long userId);

    /// <summary>Which of the users some live node holds (when the directory cannot tell: those <paramref name="local"/> holds).</summary>
    Task<IReadOnlySet<long>> OnlineAmongAsync(IReadOnlyCollection<long> userIds, PresenceTracker local);
}
