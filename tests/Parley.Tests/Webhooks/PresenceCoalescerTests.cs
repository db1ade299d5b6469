using Parley.Server.Webhooks;

namespace Parley.Tests.Webhooks;

/// <summary>The user.online / user.offline rate bound, as pure logic over a clock the test brings.</summary>
public sealed class PresenceCoalescerTests
{
    private const long Interval = 1000;

    [Fact]
    public void A_first_change_is_written_at_once_and_changes_inside_the_window_only_its_final_state_at_the_end()
    {
        var c = new PresenceCoalescer(Interval, 100);
        Assert.True(c.Change(7, true, 0));
        Assert.Equal([new PresenceChange(7, true, 0)], c.Take(0, out var end));
        Assert.Equal(Interval, end);

        // 250 close/connect cycles in the window, then a last close.
        for (var i = 1; i <= 501; i++)
        {
            Assert.False(c.Change(7, i % 2 == 0, i));
        }

        Assert.Empty(c.Take(999, out _));
        Assert.Equal([new PresenceChange(7, false, 501)], c.Take(1000, out end));
        Assert.Equal(2000, end);
        Assert.Empty(c.Take(2000, out end));
        Assert.Null(end);
    }

    [Fact]
    public void Online_offline_online_inside_a_window_writes_nothing_more_and_the_user_is_forgotten()
    {
        var c = new PresenceCoalescer(Interval, 100);
        c.Change(7, true, 0);
        Assert.Single(c.Take(0, out _));
        c.Change(7, false, 10);
        c.Change(7, true, 20);
        Assert.Empty(c.Take(1000, out var end));
        Assert.Null(end);
        Assert.Equal(0, c.Tracked);

        // The next change opens a new window and is written at once.
        Assert.True(c.Change(7, false, 1500));
        Assert.Equal([new PresenceChange(7, false, 1500)], c.Take(1500, out _));
    }

    [Fact]
    public void A_user_toggling_for_ten_windows_writes_at_most_one_event_per_window_and_ends_on_the_true_state()
    {
        var c = new PresenceCoalescer(Interval, 100);
        var written = new List<PresenceChange>();
        var online = false;
        for (long now = 0; now < 10_000; now += 7)
        {
            online = !online;
            c.Change(7, online, now);
            written.AddRange(c.Take(now, out _));
        }

        for (long now = 10_000; now <= 13_000; now += 100)
        {
            written.AddRange(c.Take(now, out _));
        }

        Assert.InRange(written.Count, 2, 1 + (10_000 / Interval) + 1);
        Assert.Equal(online, written[^1].Online);
        for (var i = 1; i < written.Count; i++)
        {
            Assert.NotEqual(written[i - 1].Online, written[i].Online); // each event a change from the last one written
            Assert.True(written[i].At - written[i - 1].At < 2 * Interval);
        }

        Assert.Equal(0, c.Tracked);
    }

    [Fact]
    public void Beyond_the_cap_changes_are_written_at_the_next_pass_the_last_one_winning_and_a_clean_stop_writes_every_pending_state()
    {
        var c = new PresenceCoalescer(Interval, 2);
        c.Change(1, true, 0);
        c.Change(2, true, 0);
        Assert.True(c.Change(3, true, 0));
        Assert.False(c.Change(3, false, 1)); // user 3 is beyond the cap: this replaces their change still waiting
        Assert.Equal(2, c.Tracked);
        Assert.Equal(2, c.Untracked);
        Assert.Equal([new PresenceChange(1, true, 0), new PresenceChange(2, true, 0), new PresenceChange(3, false, 1)], c.Take(1, out _));

        // Beyond the cap, a user's changes before the writer's next pass are one entry: the last state, never lost.
        Assert.True(c.Change(4, true, 2));
        Assert.False(c.Change(4, false, 3));
        Assert.True(c.Change(5, true, 3));
        Assert.False(c.Change(4, true, 4));
        Assert.False(c.Change(4, false, 5));
        Assert.Equal([new PresenceChange(4, false, 5), new PresenceChange(5, true, 3)], c.Take(6, out _));

        c.Change(1, false, 7);
        var last = c.TakeAll();
        Assert.Contains(new PresenceChange(1, false, 7), last);
        Assert.DoesNotContain(last, x => x.UserId == 2);
    }
}
