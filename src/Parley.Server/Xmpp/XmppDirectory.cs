using System.Collections.Concurrent;
using Parley.Storage.Accounts;

namespace Parley.Server.Xmpp;

/// <summary>Usernames <-> user ids for JIDs, cached (usernames do not change): one store read per user, not per stanza.</summary>
public sealed class XmppDirectory(UserStore users)
{
    private const int MaxCached = 100_000;
    private readonly ConcurrentDictionary<long, string> _names = new();
    private readonly ConcurrentDictionary<string, long> _ids = new(StringComparer.Ordinal);

    /// <summary>The JID local part of a user (the username, lower-cased), or null for an unknown id.</summary>
    public async ValueTask<string?> LocalPartAsync(long userId, CancellationToken cancellationToken)
    {
        if (_names.TryGetValue(userId, out var name))
        {
            return name;
        }

        var user = await users.GetAsync(userId, cancellationToken);
        if (user is null)
        {
            return null;
        }

        Remember(user.Id, user.Username);
        return _names[user.Id];
    }

    /// <summary>The user with this JID local part (usernames are unique case-insensitively), or null.</summary>
    public async ValueTask<long?> UserIdAsync(string localPart, CancellationToken cancellationToken)
    {
        var key = localPart.ToLowerInvariant();
        if (_ids.TryGetValue(key, out var id))
        {
            return id;
        }

        if (key.Length is < 3 or > 32)
        {
            return null;
        }

        var user = await users.FindByUsernameAsync(key, cancellationToken);
        if (user is null)
        {
            return null;
        }

        Remember(user.Id, user.Username);
        return user.Id;
    }

    private void Remember(long id, string username)
    {
        if (_names.Count > MaxCached)
        {
            _names.Clear();
            _ids.Clear();
        }

        var local = username.ToLowerInvariant();
        _names[id] = local;
        _ids[local] = id;
    }
}
