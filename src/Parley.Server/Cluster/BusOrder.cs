namespace Parley.Server.Cluster;

/// <summary>
/// One publisher's frames on one channel put back in its order (every frame carries the publisher's number on that
/// channel: 1, 2, 3, ...; StackExchange.Redis hands plain subscription handlers their frames concurrently, in no
/// order). A frame that overtook an earlier one waits for it, briefly: a gap that does not fill within the wait is
/// given up, what waited is delivered in order, and <see cref="GaveUp"/> says so (the client's seq check, or a resync,
/// fills it). The first frame heard is taken as the start. Every call is made under the lock of <c>gate</c>, which the
/// gap timer takes too; a subclass says where a frame goes.
/// </summary>
internal abstract class BusOrder<T>(object gate, TimeProvider time, TimeSpan wait)
{
    private long _next;
    private SortedDictionary<long, T>? _ahead;
    private ITimer? _gapTimer;

    /// <summary>Delivers one frame, in order (under the gate's lock).</summary>
    protected abstract void Deliver(T frame);

    /// <summary>A gap was given up, after what waited behind it was delivered (under the gate's lock).</summary>
    protected abstract void GaveUp();

    /// <summary>Frame <paramref name="number"/> arrived (under the gate's lock).</summary>
    public void Accept(long number, T frame)
    {
        if (_next == 0 || number == _next)
        {
            // The first heard from this publisher on this channel, or the one expected.
            Deliver(frame);
            _next = number + 1;
            DeliverAhead();
        }
        else if (number < _next)
        {
            Deliver(frame); // after its gap was given up: late, the client dedupes by seq
        }
        else
        {
            // Overtook an earlier one still being handed over: wait for it, briefly.
            (_ahead ??= [])[number] = frame;
            _gapTimer ??= time.CreateTimer(static state => ((BusOrder<T>)state!).GiveUp(), this, wait, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Delivers what waited for the expected number, as far as it runs on.</summary>
    private void DeliverAhead()
    {
        while (_ahead is { Count: > 0 } ahead && ahead.Remove(_next, out var next))
        {
            Deliver(next);
            _next++;
        }

        if (_ahead is not { Count: > 0 })
        {
            _gapTimer?.Dispose();
            _gapTimer = null;
        }
    }

    /// <summary>The gap did not fill in time (a frame lost on the bus): what waited goes out in order.</summary>
    private void GiveUp()
    {
        lock (gate)
        {
            _gapTimer?.Dispose();
            _gapTimer = null;
            if (_ahead is not { Count: > 0 } ahead)
            {
                return;
            }

            _next = ahead.Keys.First();
            DeliverAhead();
            GaveUp();
            if (_ahead is { Count: > 0 })
            {
                // Another gap behind this one: wait for it too.
                _gapTimer = time.CreateTimer(static state => ((BusOrder<T>)state!).GiveUp(), this, wait, Timeout.InfiniteTimeSpan);
            }
        }
    }
}
