using System.Text;
using Parley.Server.Cluster;

namespace Parley.Tests.Cluster;

/// <summary>The bus's wire format and canary logic: pure, no Redis.</summary>
public sealed class BusWireTests
{
    private static readonly Guid Origin = Guid.NewGuid();

    [Fact]
    public void A_frame_travels_as_its_ready_bytes()
    {
        var frame = Encoding.UTF8.GetBytes("""{"type":"message","message":{"seq":1}}""");
        Assert.True(BusWire.TryParse(BusWire.Frame(Origin, 77, frame), out var parsed));
        Assert.Equal(BusKind.Frame, parsed.Kind);
        Assert.Equal(Origin, parsed.Origin);
        Assert.Equal([77L], parsed.Ids); // the publisher's sequence on the channel
        Assert.Equal(frame, parsed.Frame.ToArray());
    }

    [Fact]
    public void A_conversation_frame_carries_its_filter_and_is_numbered_by_the_publisher_in_place()
    {
        var frame = Encoding.UTF8.GetBytes("""{"type":"typing","conversationId":"9"}""");
        var payload = BusWire.Conversation(Origin, 9, 41, 17, [5, 6], frame);
        Assert.False(BusWire.TryParse(payload, out _)); // not numbered yet: never published so
        BitConverter.TryWriteBytes(payload.AsSpan(BusWire.ConversationNumberOffset), 3L);
        Assert.True(BusWire.TryParse(payload, out var parsed));
        Assert.Equal(BusKind.Conversation, parsed.Kind);
        Assert.Equal(Origin, parsed.Origin);
        Assert.Equal([3L, 9, 41, 17, 5, 6], parsed.Ids); // number, conversation, seq filter, members version, left out
        Assert.Equal(frame, parsed.Frame.ToArray());

        var none = BusWire.Conversation(Origin, 9, 0, 0, [], "{}"u8);
        BitConverter.TryWriteBytes(none.AsSpan(BusWire.ConversationNumberOffset), 1L);
        Assert.True(BusWire.TryParse(none, out var plain));
        Assert.Equal([1L, 9, 0, 0], plain.Ids);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(3, true)]
    [InlineData(100, true)]
    [InlineData(1_000_000, true)]
    [InlineData(1, false)]
    [InlineData(2, false)] // a direct conversation has 2 members: never on a conversation channel
    [InlineData(-1, false)]
    [InlineData(1_000_001, false)]
    public void Group_channel_sizes_are_off_or_at_least_three(int minMembers, bool valid)
    {
        var options = new ClusterOptions { GroupChannelMinMembers = minMembers };
        if (valid)
        {
            options.Validate("sqlite");
        }
        else
        {
            Assert.Contains("Cluster:GroupChannelMinMembers", Assert.Throws<InvalidOperationException>(() => options.Validate("sqlite")).Message);
        }
    }

    [Theory]
    [InlineData(BusKind.Revoked, new long[] { 1, 2, long.MaxValue })]
    [InlineData(BusKind.Membership, new long[] { 42 })]
    [InlineData(BusKind.Pair, new long[] { 7, 9 })]
    [InlineData(BusKind.Moved, new long[] { })]
    [InlineData(BusKind.Moved, new long[] { 3, 4, 5 })]
    [InlineData(BusKind.Holder, new long[] { 1, 7 })]
    [InlineData(BusKind.Holder, new long[] { 3, 7 })]
    [InlineData(BusKind.Holder, new long[] { 4, 7 })]
    [InlineData(BusKind.Holder, new long[] { 4, 7, 11, 12 })]
    public void Id_payloads_round_trip(BusKind kind, long[] ids)
    {
        Assert.True(BusWire.TryParse(BusWire.Ids(kind, Origin, ids), out var parsed));
        Assert.Equal(kind, parsed.Kind);
        Assert.Equal(Origin, parsed.Origin);
        Assert.Equal(ids, parsed.Ids);
    }

    [Fact]
    public void A_canary_round_trips()
    {
        Assert.True(BusWire.TryParse(BusWire.Canary(Origin, 12345), out var parsed));
        Assert.Equal(BusKind.Canary, parsed.Kind);
        Assert.Equal([12345L], parsed.Ids);
    }

    public static TheoryData<byte[]> Hostile()
    {
        var valid = BusWire.Ids(BusKind.Revoked, Origin, [1, 2]);
        var data = new TheoryData<byte[]>
        {
            Array.Empty<byte>(),
            new byte[] { 1 },
            new byte[17],
            Encoding.UTF8.GetBytes("hello, I am not a bus payload at all"),
            valid[..^1], // truncated
            valid.Append((byte)0).ToArray(), // trailing byte
            BusWire.Ids(BusKind.Membership, Origin, [1, 2]), // a membership change names one conversation
            BusWire.Ids(BusKind.Pair, Origin, [1]), // a pair is two users
            BusWire.Ids(BusKind.Holder, Origin, [1]), // a holder notice: action and generation
            BusWire.Ids(BusKind.Holder, Origin, [0, 1]), // actions are 1-4
            BusWire.Ids(BusKind.Holder, Origin, [5, 1]),
            BusWire.Ids(BusKind.Holder, Origin, [1, 1, 9]), // only resync lists conversations
            BusWire.Ids(BusKind.Holder, Origin, [4, 1, .. Enumerable.Range(1, BusWire.MaxHolderConversations + 1).Select(i => (long)i)]),
            BusWire.Frame(Origin, 1, "not json"u8), // a frame goes to sockets as it is: it must look like one object
            BusWire.Frame(Origin, 1, "{"u8),
            BusWire.Frame(Origin, 1, ReadOnlySpan<byte>.Empty),
            BusWire.Frame(Origin, 0, "{}"u8), // sequences start at 1
            BusWire.Frame(Origin, -5, "{}"u8),
        };
        byte[] Numbered(byte[] payload)
        {
            BitConverter.TryWriteBytes(payload.AsSpan(BusWire.ConversationNumberOffset), 1L);
            return payload;
        }

        data.Add(Numbered(BusWire.Conversation(Origin, 1, 1, 1, [], "not json"u8)));
        data.Add(Numbered(BusWire.Conversation(Origin, 0, 1, 1, [], "{}"u8))); // no conversation
        data.Add(Numbered(BusWire.Conversation(Origin, 1, -1, 1, [], "{}"u8)));
        data.Add(Numbered(BusWire.Conversation(Origin, 1, 1, 1, [2], "{}"u8))[..^3]); // the left-out list runs into the frame
        var conversationHugeCount = Numbered(BusWire.Conversation(Origin, 1, 1, 1, [], "{}"u8));
        BitConverter.TryWriteBytes(conversationHugeCount.AsSpan(BusWire.HeaderLength + 32), int.MaxValue);
        data.Add(conversationHugeCount);
        var wrongVersion = BusWire.Canary(Origin, 1);
        wrongVersion[0] = 2;
        data.Add(wrongVersion);
        var unknownKind = BusWire.Canary(Origin, 1);
        unknownKind[1] = 200;
        data.Add(unknownKind);
        var hugeCount = BusWire.Ids(BusKind.Revoked, Origin, [1]);
        BitConverter.TryWriteBytes(hugeCount.AsSpan(BusWire.HeaderLength), int.MaxValue);
        data.Add(hugeCount);
        var negativeCount = BusWire.Ids(BusKind.Moved, Origin, [1]);
        BitConverter.TryWriteBytes(negativeCount.AsSpan(BusWire.HeaderLength), -1);
        data.Add(negativeCount);
        return data;
    }

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Malformed_payloads_are_refused_without_throwing(byte[] payload) =>
        Assert.False(BusWire.TryParse(payload, out _));

    [Fact]
    public void Random_payloads_never_throw()
    {
        var random = new Random(14);
        for (var i = 0; i < 20_000; i++)
        {
            var payload = new byte[random.Next(0, 64)];
            random.NextBytes(payload);
            if (payload.Length > 1 && random.Next(2) == 0)
            {
                payload[0] = BusWire.Version; // reach past the version check
                payload[1] = (byte)random.Next(0, 8);
            }

            BusWire.TryParse(payload, out _);
        }
    }

    [Fact]
    public void Canaries_that_keep_coming_back_never_stop_the_subscription()
    {
        var canary = new CanaryMonitor(3);
        for (var i = 0; i < 10; i++)
        {
            var (number, stopped) = canary.Tick();
            Assert.False(stopped);
            Assert.True(canary.Returned(number));
        }
    }

    [Fact]
    public void Three_missed_canaries_in_a_row_stop_the_subscription_and_again_every_three_while_it_stays_so()
    {
        var canary = new CanaryMonitor(3);
        var (first, _) = canary.Tick();
        Assert.True(canary.Returned(first));

        // The subscription stops delivering: ticks 1 and 2 after the last return are misses, the third stops it.
        Assert.False(canary.Tick().Stopped); // sends #2
        Assert.False(canary.Tick().Stopped); // #2 missing: miss 1
        Assert.False(canary.Tick().Stopped); // miss 2
        Assert.True(canary.Tick().Stopped);  // miss 3
        Assert.False(canary.Tick().Stopped);
        Assert.False(canary.Tick().Stopped);
        var (latest, stoppedAgain) = canary.Tick();
        Assert.True(stoppedAgain);

        // A late canary is not the latest: not yet back.
        Assert.False(canary.Returned(latest - 1));
        Assert.True(canary.Returned(latest));
        Assert.Equal(0, canary.Misses);
        Assert.False(canary.Tick().Stopped);
    }

    [Fact]
    public void A_returned_number_never_sent_is_ignored()
    {
        var canary = new CanaryMonitor(3);
        var (number, _) = canary.Tick();
        Assert.False(canary.Returned(number + 5)); // forged or from the node's previous life
        Assert.True(canary.Returned(number));
    }
}
