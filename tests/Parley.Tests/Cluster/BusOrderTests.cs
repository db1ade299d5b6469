using Microsoft.Extensions.Time.Testing;
using Parley.Server.Cluster;

namespace Parley.Tests.Cluster;

/// <summary>
/// <see cref="BusOrder{T}"/>, the reordering both kinds of bus channel use, on a clock moved by hand: frames that
/// overtook an earlier one wait for it, a gap that does not fill in time is given up (what waited is delivered in
/// order, once), a late frame after that is delivered as it comes, and a second gap behind the first waits anew.
/// </summary>
public sealed class BusOrderTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromMilliseconds(200);

    private sealed class Recorder(object gate, TimeProvider time) : BusOrder<int>(gate, time, Wait)
    {
        public List<int> Delivered { get; } = [];

        public int GapsGivenUp { get; private set; }

        protected override void Deliver(int frame) => Delivered.Add(frame);

        protected override void GaveUp() => GapsGivenUp++;
    }

    [Fact]
    public void Frames_are_put_back_in_order_and_a_gap_that_does_not_fill_is_given_up_once()
    {
        var time = new FakeTimeProvider();
        var gate = new object();
        var order = new Recorder(gate, time);

        // The first heard is the start; 3 and 4 overtook 2 and wait for it.
        lock (gate)
        {
            order.Accept(1, 1);
            order.Accept(3, 3);
            order.Accept(4, 4);
        }

        Assert.Equal([1], order.Delivered);
        lock (gate)
        {
            order.Accept(2, 2);
        }

        Assert.Equal([1, 2, 3, 4], order.Delivered);
        time.Advance(Wait);
        Assert.Equal(0, order.GapsGivenUp); // the gap filled: its timer went with it

        // 5 is lost: 6 and 8 wait; after the wait 6 goes out; 8 then waits for 7 on a timer of its own.
        lock (gate)
        {
            order.Accept(6, 6);
            order.Accept(8, 8);
        }

        time.Advance(Wait - TimeSpan.FromMilliseconds(1));
        Assert.Equal([1, 2, 3, 4], order.Delivered);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([1, 2, 3, 4, 6], order.Delivered);
        Assert.Equal(1, order.GapsGivenUp);
        time.Advance(Wait);
        Assert.Equal([1, 2, 3, 4, 6, 8], order.Delivered);
        Assert.Equal(2, order.GapsGivenUp);

        // 5 and 7 arrive after all: late, delivered as they come (the client dedupes by seq); 9 is the next expected.
        lock (gate)
        {
            order.Accept(5, 5);
            order.Accept(7, 7);
            order.Accept(9, 9);
        }

        Assert.Equal([1, 2, 3, 4, 6, 8, 5, 7, 9], order.Delivered);
        time.Advance(Wait * 2);
        Assert.Equal(2, order.GapsGivenUp);
    }
}
