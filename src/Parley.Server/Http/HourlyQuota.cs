using System.Collections.Concurrent;
using System.Globalization;
using Parley.Server.Cluster;

namespace Parley.Server.Http;

/// <summary>
/// At most <c>perHour</c> actions of one kind per user in any sliding hour (group creations, friend requests,
/// join requests). Exact: each user keeps the times of the actions of the last hour, so a user holds at most
/// <c>perHour</c> stamps, and a timer drops users whose last action is over an hour old; memory is bounded by
/// the users active within the hour times the limit. A limit of 0 or less turns the quota off. Stamps are
/// <see cref="TimeProvider.GetTimestamp"/> (monotonic: a wall clock set back or forward neither frees nor holds
/// anyone), which a fake clock in tests moves too.
/// </summary>
public sealed class HourlyQuota : IDisposable
{
    private readonly ConcurrentDictionary<long, LinkedList<long>> _users = new();
    private readonly int _perHour;
    private readonly TimeProvider _time;
    private readonly ITimer _purge;
    private readonly long _window;

    private readonly SharedLimits? _shared;
    private readonly string _name;

    public HourlyQuota(int perHour, TimeProvider time, SharedLimits? shared = null, string name = "")
    {
        _shared = shared;
        _name = "hour:" + name + ":";
        _perHour = perHour;
        _time = time;
        _window = time.TimestampFrequency * 3600;
        _purge = time.CreateTimer(_ => Purge(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    internal int UserCount => _users.Count;

    /// <summary>Counts one action by <paramref name="userId"/>: null when it is allowed (and counted), else the
    /// seconds until the oldest action of the hour leaves the window.</summary>
    public int? TryTake(long userId)
    {
        if (_perHour <= 0)
        {
            return null;
        }

        var now = _time.GetTimestamp();
        while (true)
        {
            var stamps = _users.GetOrAdd(userId, static _ => new LinkedList<long>());
            lock (stamps)
            {
                if (!_users.TryGetValue(userId, out var current) || !ReferenceEquals(current, stamps))
                {
                    continue; // purged meanwhile: take the new list
                }

                Expire(stamps, now);
                if (stamps.Count >= _perHour)
                {
                    return Math.Max(1, (int)Math.Ceiling(_time.GetElapsedTime(now, stamps.First!.Value + _window).TotalSeconds));
                }

                stamps.AddLast(now);
                return null;
            }
        }
    }

    /// <summary><see cref="TryTake"/>, across nodes in cluster mode.</summary>
    public async ValueTask<int?> TryTakeAsync(long userId)
    {
        if (_shared is null || _perHour <= 0)
        {
            return TryTake(userId);
        }

        return await _shared.HourlyTakeAsync(_name + userId.ToString(CultureInfo.InvariantCulture), _perHour) switch
        {
            null => TryTake(userId),
            0 => null,
            var wait => wait,
        };
    }

    /// <summary><see cref="Refund"/>, across nodes in cluster mode.</summary>
    public async ValueTask RefundAsync(long userId)
    {
        if (_shared is null || _perHour <= 0 || !await _shared.HourlyRefundAsync(_name + userId.ToString(CultureInfo.InvariantCulture)))
        {
            Refund(userId);
        }
    }

    /// <summary>Gives back the last action taken (it did not happen after all: refused, or nothing new).</summary>
    public void Refund(long userId)
    {
        if (_perHour > 0 && _users.TryGetValue(userId, out var stamps))
        {
            lock (stamps)
            {
                if (stamps.Count > 0)
                {
                    stamps.RemoveLast();
                }
            }
        }
    }

    public void Dispose() => _purge.Dispose();

    private void Expire(LinkedList<long> stamps, long now)
    {
        while (stamps.First is { } first && first.Value + _window <= now)
        {
            stamps.RemoveFirst();
        }
    }

    internal void Purge()
    {
        var now = _time.GetTimestamp();
        foreach (var (userId, stamps) in _users)
        {
            lock (stamps)
            {
                Expire(stamps, now);
                if (stamps.Count == 0)
                {
                    _users.TryRemove(new KeyValuePair<long, LinkedList<long>>(userId, stamps));
                }
            }
        }
    }
}
