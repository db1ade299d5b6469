using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Parley.Storage;

/// <summary>
/// 64-bit, time-ordered ids (41 bits of milliseconds since 2026-01-01, 10 bits of node, 12 bits of
/// sequence), so that every node of a cluster can mint ids without asking the database. On the wire
/// they are decimal strings: JavaScript cannot hold 64-bit numbers.
/// </summary>
public sealed class IdGenerator
{
    private static readonly long Epoch = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
    private const int NodeBits = 10;
    private const int SequenceBits = 12;
    private const long MaxSequence = (1L << SequenceBits) - 1;

    private readonly long _node;
    private readonly Lock _lock = new();
    private long _lastMs = -1;
    private long _sequence;

    public IdGenerator(int nodeId = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nodeId);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nodeId, (1 << NodeBits) - 1);
        _node = nodeId;
    }

    public long Next()
    {
        lock (_lock)
        {
            // The wall clock, not an injected TimeProvider: ids must stay unique even when tests move time.
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - Epoch;
            if (now < _lastMs)
            {
                now = _lastMs; // the clock stepped back: keep counting on the last millisecond
            }

            if (now == _lastMs)
            {
                _sequence = (_sequence + 1) & MaxSequence;
                if (_sequence == 0)
                {
                    now = ++_lastMs; // 4096 ids in one millisecond: borrow the next one
                }
            }
            else
            {
                _sequence = 0;
            }

            _lastMs = now;
            return (now << (NodeBits + SequenceBits)) | (_node << SequenceBits) | _sequence;
        }
    }
}

public static class Ids
{
    public static string Format(long id) => id.ToString(CultureInfo.InvariantCulture);

    public static string? Format(long? id) => id is { } value ? Format(value) : null;

    public static bool TryParse([NotNullWhen(true)] string? text, out long id)
    {
        id = 0;
        return text is { Length: > 0 and <= 19 }
            && text[0] != '-' && text[0] != '+'
            && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id)
            && id > 0;
    }
}
