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
}

/// <summary>A parsed bus payload. <see cref="Frame"/> is a slice of the payload (no copy made yet).</summary>
public readonly record struct BusMessage(BusKind Kind, Guid Origin, ReadOnlyMemory<byte> Frame, long[] Ids);

/// <summary>
/// The bus's wire format: compact and binary, so the receiving node neither parses JSON nor re-serializes a frame.
/// <code>
/// byte 0     version (1)
/// byte 1     kind (<see cref="BusKind"/>)
/// bytes 2-17 the publisher's incarnation (a Guid, fresh per process start: a node skips its own payloads)
/// then       Frame:    the frame's bytes as they go to the socket (UTF-8 JSON text), to the end
///            Canary:   one int64 (the canary's number)
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

    public static byte[] Frame(Guid origin, ReadOnlySpan<byte> frame)
    {
        var payload = new byte[HeaderLength + frame.Length];
        WriteHeader(payload, BusKind.Frame, origin);
        frame.CopyTo(payload.AsSpan(HeaderLength));
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
                // A text frame of one JSON object; the bytes go to sockets as they are, so refuse what is plainly not one.
                if (body.Length is < 2 or > MaxFrameBytes || body[0] != (byte)'{' || body[^1] != (byte)'}')
                {
                    return false;
                }

                message = new BusMessage(kind, origin, payload[HeaderLength..], []);
                return true;
            case BusKind.Canary:
                if (body.Length != 8)
                {
                    return false;
                }

                message = new BusMessage(kind, origin, default, [BinaryPrimitives.ReadInt64LittleEndian(body)]);
                return true;
            case BusKind.Revoked or BusKind.Membership or BusKind.Pair or BusKind.Moved:
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
