namespace Parley.Server.Webhooks;

/// <summary>A presence change to write to the outbox: the user's state and when it changed.</summary>
public readonly record struct PresenceChange(long UserId, bool Online, long At);

/// <summary>
/// The user.online / user.offline rate bound (Webhooks:PresenceMinIntervalMs): a user's first change is written at
/// once and opens a window of the interval; changes inside it only update the user's current state, and when it ends
/// that state is written if it differs from the last one written (and opens the next window), else the user is
/// forgotten. So a user produces at most one event per interval however fast they connect and disconnect, a window's
/// online-offline-online writes nothing, and the last event a receiver gets is the user's state at that moment.
/// Memory: at most <c>maxTracked</c> users in a window; a change of a user beyond that is written at the writer's next
/// pass, coalesced only with that user's other changes before it (the last one wins: not rate-bounded, but never a
/// lost final state), so what waits is at most one entry per user. Pure logic under one lock; the caller brings the time.
/// </summary>
public sealed class PresenceCoalescer(long intervalMs, int maxTracked)
{
    private sealed class Window
    {
        public bool Written;
        public bool Current;
        public long CurrentAt;
    }

    private readonly Dictionary<long, Window> _windows = [];

    // Each tracked user has exactly one entry here: their window's end. The interval is fixed, so ends come in order.
    private readonly Queue<(long End, long UserId)> _ends = new();
    private List<PresenceChange> _ready = [];

    // Users beyond the cap with a change in _ready: where it is, so their next change before the pass replaces it.
    private readonly Dictionary<long, int> _untrackedReady = [];
    private long _untracked;

    /// <summary>Users in a window now (tests, the bound).</summary>
    public int Tracked
    {
        get
        {
            lock (_windows)
            {
                return _windows.Count;
            }
        }
    }

    /// <summary>Changes written uncoalesced because <c>maxTracked</c> users were already in a window.</summary>
    public long Untracked => Interlocked.Read(ref _untracked);

    /// <summary>Records a change; true when something became ready to write now (wake the writer).</summary>
    public bool Change(long userId, bool online, long now)
    {
        lock (_windows)
        {
            if (_windows.TryGetValue(userId, out var window))
            {
                window.Current = online;
                window.CurrentAt = now;
                return false;
            }

            if (_windows.Count < maxTracked)
            {
                _windows[userId] = new Window { Written = online, Current = online, CurrentAt = now };
                _ends.Enqueue((now + intervalMs, userId));
            }
            else
            {
                _untracked++;
                if (_untrackedReady.TryGetValue(userId, out var waiting))
                {
                    _ready[waiting] = new PresenceChange(userId, online, now); // not written yet: the latest state replaces it
                    return false;
                }

                _untrackedReady[userId] = _ready.Count;
            }

            _ready.Add(new PresenceChange(userId, online, now));
            return true;
        }
    }

    /// <summary>What to write now (first changes, and the states of windows ended by <paramref name="now"/>); the next window end, if any.</summary>
    public List<PresenceChange> Take(long now, out long? nextEnd)
    {
        lock (_windows)
        {
            while (_ends.TryPeek(out var end) && end.End <= now)
            {
                _ends.Dequeue();
                var window = _windows[end.UserId];
                if (window.Current != window.Written)
                {
                    window.Written = window.Current;
                    _ready.Add(new PresenceChange(end.UserId, window.Current, window.CurrentAt));
                    _ends.Enqueue((now + intervalMs, end.UserId));
                }
                else
                {
                    _windows.Remove(end.UserId);
                }
            }

            nextEnd = _ends.TryPeek(out var next) ? next.End : null;
            return TakeReady();
        }
    }

    /// <summary>Shutting down: everything ready and every window's state not written yet.</summary>
    public List<PresenceChange> TakeAll()
    {
        lock (_windows)
        {
            foreach (var (userId, window) in _windows)
            {
                if (window.Current != window.Written)
                {
                    window.Written = window.Current;
                    _ready.Add(new PresenceChange(userId, window.Current, window.CurrentAt));
                }
            }

            return TakeReady();
        }
    }

    private List<PresenceChange> TakeReady()
    {
        var ready = _ready;
        _ready = [];
        _untrackedReady.Clear();
        return ready;
    }
}
