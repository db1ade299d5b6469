using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace Parley.Server.Realtime;

/// <summary>
/// Open connections by user. A user has a set of connections (one per device or tab); removal is by
/// connection, so closing an old socket never unregisters a newer one.
/// </summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<long, ImmutableArray<Connection>> _byUser = new();
    // Slots per user, taken before the upgrade (so a refused socket costs nothing) and given back when it ends.
    private readonly ConcurrentDictionary<long, int> _slots = new();
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>
    /// Told when this node may stop holding a user (cluster mode: the bus then drops the user's channel); null on one
    /// node. The gateway awaits <see cref="IUserInterest.HeldAsync"/> after <see cref="Add"/>, before the hello.
    /// </summary>
    public IUserInterest? Interest { get; set; }

    /// <summary>Whether any connection of the user is registered here.</summary>
    public bool Holds(long userId) => _byUser.ContainsKey(userId);

    /// <summary>How many users have a connection open here (takes the dictionary's locks: for stats, not hot paths).</summary>
    public int UserCount => _byUser.Count;

    public void Add(Connection connection)
    {
        _byUser.AddOrUpdate(connection.UserId, static (_, c) => [c], static (_, set, c) => set.Add(c), connection);
        Interlocked.Increment(ref _count);
        if (Volatile.Read(ref _stopping))
        {
            connection.Close(GoingAway, StoppingReason); // opened while the server stops: sent on at once
        }
    }

    private const System.Net.WebSockets.WebSocketCloseStatus GoingAway = System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable;
    private const string StoppingReason = "server shutting down";
    private bool _stopping;

    /// <summary>The server stops: every open socket is closed with 1001 (going away), and so is any opened from now on.</summary>
    public void CloseAllForShutdown()
    {
        Volatile.Write(ref _stopping, true);
        foreach (var connection in All())
        {
            connection.Close(GoingAway, StoppingReason);
        }
    }

    public void Remove(Connection connection)
    {
        while (_byUser.TryGetValue(connection.UserId, out var set))
        {
            var smaller = set.Remove(connection);
            if (smaller.Length == set.Length)
            {
                return;
            }

            var done = smaller.IsEmpty
                ? _byUser.TryRemove(new KeyValuePair<long, ImmutableArray<Connection>>(connection.UserId, set))
                : _byUser.TryUpdate(connection.UserId, smaller, set);
            if (done)
            {
                Interlocked.Decrement(ref _count);
                if (smaller.IsEmpty)
                {
                    Interest?.Released(connection.UserId);
                }

                return;
            }
        }
    }

    /// <summary>Takes one of the user's <paramref name="max"/> connection slots; false when all are taken.</summary>
    public bool TryReserve(long userId, int max)
    {
        while (max > 0)
        {
            if (_slots.TryGetValue(userId, out var taken))
            {
                if (taken >= max)
                {
                    return false;
                }

                if (_slots.TryUpdate(userId, taken + 1, taken))
                {
                    return true;
                }
            }
            else if (_slots.TryAdd(userId, 1))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Gives back a slot taken with <see cref="TryReserve"/>.</summary>
    public void Release(long userId)
    {
        while (_slots.TryGetValue(userId, out var taken))
        {
            var done = taken <= 1
                ? _slots.TryRemove(new KeyValuePair<long, int>(userId, taken))
                : _slots.TryUpdate(userId, taken - 1, taken);
            if (done)
            {
                return;
            }
        }
    }

    public ImmutableArray<Connection> ForUser(long userId) => _byUser.TryGetValue(userId, out var set) ? set : [];

    public IEnumerable<Connection> All() => _byUser.Values.SelectMany(set => set);
}

/// <summary>
/// What a cluster needs to know of the users this node holds (implemented by the bus, which keeps one subscription
/// per held user). Calls may race (a user's last connection leaving as a new one arrives): the implementation settles
/// each user against <see cref="ConnectionRegistry.Holds"/>, never against the order of the calls.
/// </summary>
public interface IUserInterest
{
    /// <summary>A connection of the user was registered; completes once traffic for the user reaches this node.</summary>
    ValueTask HeldAsync(long userId, CancellationToken cancellationToken);

    /// <summary>The user's last connection here was unregistered.</summary>
    void Released(long userId);
}
