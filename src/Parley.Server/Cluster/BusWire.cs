using System.Buffers.Binary;

namespace Parley.Server.Cluster;

/// <summary>What a bus payload carries (its second byte).</summary>
public enum BusKind : byte
{
    /// <summary>A ready WebSocket frame for the users of the channel it was published on (user channels).</summary>
    Frame = 1,

    /// <summary>Sessions revoked: their sockets close with 4001 on every node (control channel).</summary>
    Revoked = 2,

    /// <summary>A conversation's members, roles, mutes or group changed: views are stale (control channel).</summary>
    Membership = 3,

    /// <summary>Friendship or blocks between two users changed (control channel).</summary>
    Pair = 4,

    /// <summary>Conversations that moved while the publisher could not publish: their members resync (control channel; none listed = everyone).</summary>
    Moved = 5,

    /// <summary>The node's own heartbeat through Redis (node channel).</summary>
    Canary = 6,

    /// <summary>A ready frame for a big group's local members (conversation channel; ClusterBus.Groups.cs).</summary>
    Conversation = 7,

    /// <summary>Who holds a user: join, here, leave, or resync of what was skipped (user channels; ClusterBus.Holders.cs).</summary>
    Holder = 8,
}

/// <summary>
/// A parsed bus payload. <see cref="Frame"/> is a slice of the payload (no copy made yet). For a
/// <see cref="BusKind.Conversation"/> frame, <see cref="Ids"/> is: the channel number, the conversation, the seq filter
/// (members who joined at or after it get nothing; 0 = none), the members version to deliver with, then the users
/// left out.
/// </summary>
public readonly record struct BusMessage(BusKind Kind, Guid Origin, ReadOnlyMemory<byte> Frame, long[] Ids);

/// <summary>
/// The bus's wire format: compact and binary, so the receiving node neither parses JSON nor re-serializes a frame.
/// <code>
/// byte 0     version (1)
/// byte 1     kind (<see cref="BusKind"/>)
/// bytes 2-17 the publisher's incarnation (a Guid, fresh per process start: a node skips its own payloads)
/// then       Frame:    one int64 (the publisher's sequence on this channel), then the frame's bytes as they go to
///                      the socket (UTF-8 JSON text), to the end
///            Conversation: int64 number on the channel, int64 conversation id, int64 seq filter, int64 members
///                      version, int32 count and that many int64 users left out, then the frame's bytes, to the end
///            Canary:   one int64 (the canary's number)
///            Holder:   int32 count (2 or more), then int64 action (1 join, 2 here, 3 leave, 4 resync), int64 the
///                      publisher's generation of its holding, and for resync the conversations (none: all)
///            others:   int32 count, then count int64 ids (sessions; a conversation; two users; conversations)
/// </code>
/// Little-endian. <see cref="TryParse"/> never throws: anything malformed (a rogue publisher, another version) is refused.
/// </summary>
public static class BusWire
{
    public const byte Version = 1;
    public const int HeaderLength = 18;

    /// <summary>The largest frame carried (a message frame is at most ~130 KiB of content; a huge one is refused).</summary>
    public const int MaxFrameBytes = 1024 * 1024;

    /// <summary>The most ids one payload may list (a revocation of many sessions, many moved conversations).</summary>
    public const int MaxIds = 100_000;

    /// <summary>The most conversations a holder's resync notice lists (more: it lists none, meaning all).</summary>
    public const int MaxHolderConversations = 64;

    /// <summary>A frame for one user channel, <paramref name="sequence"/> the publisher's count of payloads on that channel (1, 2, 3, ...).</summary>
    public static byte[] Frame(Guid origin, long sequence, ReadOnlySpan<byte> frame)
    {
        var payload = new byte[HeaderLength + 8 + frame.Length];
        WriteHeader(payload, BusKind.Frame, origin);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(HeaderLength), sequence);
        frame.CopyTo(payload.AsSpan(HeaderLength + 8));
        return payload;
    }

    /// <summary>Where a <see cref="BusKind.Conversation"/> payload's channel number is (written by the one publisher, just before it publishes).</summary>
    public const int ConversationNumberOffset = HeaderLength;

    /// <summary>
    /// A frame for a big group's conversation channel (number 0 until the publisher writes it at
    /// <see cref="ConversationNumberOffset"/>): delivered by each receiving node to its local members of
    /// <paramref name="conversationId"/> who joined before <paramref name="seq"/> (0: every member), but
    /// <paramref name="except"/>, with a view at least as new as <paramref name="membersVersion"/>.
    /// </summary>
    public static byte[] Conversation(Guid origin, long conversationId, long seq, long membersVersion, IReadOnlyList<long> except, ReadOnlySpan<byte> frame)
    {
        var head = HeaderLength + 32 + 4 + (8 * except.Count);
        var payload = new byte[head + frame.Length];
        WriteHeader(payload, BusKind.Conversation, origin);
        var body = payload.AsSpan(HeaderLength);
        BinaryPrimitives.WriteInt64LittleEndian(body[8..], conversationId);
        BinaryPrimitives.WriteInt64LittleEndian(body[16..], seq);
        BinaryPrimitives.WriteInt64LittleEndian(body[24..], membersVersion);
        BinaryPrimitives.WriteInt32LittleEndian(body[32..], except.Count);
        for (var i = 0; i < except.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(body[(36 + (8 * i))..], except[i]);
        }

        frame.CopyTo(payload.AsSpan(head));
        return payload;
    }

    public static byte[] Ids(BusKind kind, Guid origin, IReadOnlyList<long> ids)
    {
        var payload = new byte[HeaderLength + 4 + (8 * ids.Count)];
        WriteHeader(payload, kind, origin);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(HeaderLength), ids.Count);
        for (var i = 0; i < ids.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(HeaderLength + 4 + (8 * i)), ids[i]);
        }

        return payload;
    }

    public static byte[] Canary(Guid origin, long number)
    {
        var payload = new byte[HeaderLength + 8];
        WriteHeader(payload, BusKind.Canary, origin);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(HeaderLength), number);
        return payload;
    }

    /// <summary>Parses a payload; false for anything that is not one this version writes.</summary>
    public static bool TryParse(ReadOnlyMemory<byte> payload, out BusMessage message)
    {
        message = default;
        var span = payload.Span;
        if (span.Length < HeaderLength || span[0] != Version)
        {
            return false;
        }

        var kind = (BusKind)span[1];
        var origin = new Guid(span.Slice(2, 16));
        var body = span[HeaderLength..];
        switch (kind)
        {
            case BusKind.Frame:
                // The channel sequence, then a text frame of one JSON object: the bytes go to sockets as they are, so
                // refuse what is plainly not one.
                if (body.Length is < 10 or > MaxFrameBytes + 8 || body[8] != (byte)'{' || body[^1] != (byte)'}')
                {
                    return false;
                }

                var sequence = BinaryPrimitives.ReadInt64LittleEndian(body);
                if (sequence < 1)
                {
                    return false;
                }

                message = new BusMessage(kind, origin, payload[(HeaderLength + 8)..], [sequence]);
                return true;
            case BusKind.Conversation:
                return TryParseConversation(payload, origin, out message);
            case BusKind.Canary:
                if (body.Length != 8)
                {
                    return false;
                }

                message = new BusMessage(kind, origin, default, [BinaryPrimitives.ReadInt64LittleEndian(body)]);
                return true;
            case BusKind.Revoked or BusKind.Membership or BusKind.Pair or BusKind.Moved or BusKind.Holder:
                if (body.Length < 4)
                {
                    return false;
                }

                var count = BinaryPrimitives.ReadInt32LittleEndian(body);
                if (count < 0 || count > MaxIds || body.Length != 4 + (8L * count)
                    || (kind == BusKind.Membership && count != 1) || (kind == BusKind.Pair && count != 2))
                {
                    return false;
                }

                if (kind == BusKind.Holder)
                {
                    var action = count < 2 ? 0 : BinaryPrimitives.ReadInt64LittleEndian(body[4..]);
                    if (action is < 1 or > 4 || (action != 4 && count != 2) || count > 2 + MaxHolderConversations)
                    {
                        return false;
                    }
                }

                var ids = new long[count];
                for (var i = 0; i < count; i++)
                {
                    ids[i] = BinaryPrimitives.ReadInt64LittleEndian(body.Slice(4 + (8 * i)));
                }

                message = new BusMessage(kind, origin, default, ids);
                return true;
            default:
                return false;
        }
    }

    private static bool TryParseConversation(ReadOnlyMemory<byte> payload, Guid origin, out BusMessage message)
    {
        message = default;
        var body = payload.Span[HeaderLength..];
        if (body.Length < 36 + 2)
        {
            return false;
        }

        var number = BinaryPrimitives.ReadInt64LittleEndian(body);
        var conversationId = BinaryPrimitives.ReadInt64LittleEndian(body[8..]);
        var seq = BinaryPrimitives.ReadInt64LittleEndian(body[16..]);
        var version = BinaryPrimitives.ReadInt64LittleEndian(body[24..]);
        var count = BinaryPrimitives.ReadInt32LittleEndian(body[32..]);
        if (number < 1 || conversationId < 1 || seq < 0 || count < 0 || count > MaxIds || 36 + (8L * count) + 2 > body.Length)
        {
            return false;
        }

        var head = 36 + (8 * count);
        var frame = body[head..];
        if (frame.Length > MaxFrameBytes || frame[0] != (byte)'{' || frame[^1] != (byte)'}')
        {
            return false;
        }

        var ids = new long[4 + count];
        ids[0] = number;
        ids[1] = conversationId;
        ids[2] = seq;
        ids[3] = version;
        for (var i = 0; i < count; i++)
        {
            ids[4 + i] = BinaryPrimitives.ReadInt64LittleEndian(body[(36 + (8 * i))..]);
        }

        message = new BusMessage(BusKind.Conversation, origin, payload[(HeaderLength + head)..], ids);
        return true;
    }

    private static void WriteHeader(Span<byte> payload, BusKind kind, Guid origin)
    {
        payload[0] = Version;
        payload[1] = (byte)kind;
        origin.TryWriteBytes(payload.Slice(2, 16));
    }
}

/// <summary>
/// The Redis channel names of the bus (docs/cluster.md, "The bus"), all under <c>Cluster:ChannelPrefix</c> (default
/// <c>parley</c>), so deployments (or test clusters) sharing one Redis never hear each other.
/// </summary>
public sealed class BusChannels(string prefix)
{
    /// <summary>Every node: revocations, membership and pair changes, moved conversations.</summary>
    public string Control { get; } = prefix + ":ctl";

    /// <summary>A user's channel: every node holding one of the user's connections is subscribed.</summary>
    public string User(long userId) => prefix + ":u:" + userId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>One node incarnation's own channel (its canary).</summary>
    public string Node(Guid incarnation) => prefix + ":n:" + incarnation.ToString("N");
}
