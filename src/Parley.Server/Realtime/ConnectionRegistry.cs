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
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Add(Connection connection)
    {
        _byUser.AddOrUpdate(connection.UserId, static (_, c) => [c], static (_, set, c) => set.Add(c), connection);
        Interlocked.Increment(ref _count);
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
                return;
            }
        }
    }

    public ImmutableArray<Connection> ForUser(long userId) => _byUser.TryGetValue(userId, out var set) ? set : [];

    public IEnumerable<Connection> All() => _byUser.Values.SelectMany(set => set);
}
