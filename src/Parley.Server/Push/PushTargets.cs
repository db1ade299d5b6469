using System.Collections.Concurrent;

namespace Parley.Server.Push;

/// <summary>
/// Which users have push targets, in memory, so the message path asks no database: with none anywhere
/// <see cref="Any"/> is one volatile read per message. A superset is harmless (the writer's SQL finds no live target
/// and writes nothing); a user missing from it gets no push, so a registration here adds at once, and the
/// <see cref="PushRefresher"/> reloads the set from the database (targets registered on other nodes; deletions).
/// </summary>
public sealed class PushTargets
{
    private ConcurrentDictionary<long, byte> _users = new();
    private readonly ConcurrentDictionary<long, byte> _addedDuringReload = new();
    private volatile bool _any;
    private int _reloading;

    /// <summary>Whether any user has a target (read once per committed message).</summary>
    public bool Any => _any;

    public bool Has(long userId) => Volatile.Read(ref _users).ContainsKey(userId);

    public int Count => Volatile.Read(ref _users).Count;

    /// <summary>The user registered a target (on this node).</summary>
    public void Add(long userId)
    {
        if (Volatile.Read(ref _reloading) != 0)
        {
            _addedDuringReload[userId] = 0;
        }

        Volatile.Read(ref _users)[userId] = 0;
        _any = true;
    }

    /// <summary>Replaces the set with the database's (<paramref name="load"/>), keeping users added meanwhile.</summary>
    public async Task ReloadAsync(Func<Task<HashSet<long>>> load)
    {
        Volatile.Write(ref _reloading, 1);
        try
        {
            var fresh = new ConcurrentDictionary<long, byte>((await load()).Select(id => new KeyValuePair<long, byte>(id, 0)));
            foreach (var id in _addedDuringReload.Keys)
            {
                fresh[id] = 0;
            }

            Volatile.Write(ref _users, fresh);
            // An Add that read the old set just before the swap put its user there: carry it over once more.
            foreach (var id in _addedDuringReload.Keys)
            {
                fresh[id] = 0;
            }

            _any = !fresh.IsEmpty;
        }
        finally
        {
            _addedDuringReload.Clear();
            Volatile.Write(ref _reloading, 0);
        }
    }
}
