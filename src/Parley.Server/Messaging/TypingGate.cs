using System.Collections.Concurrent;

namespace Parley.Server.Messaging;

/// <summary>
/// At most one typing hint per user and conversation per second, whatever the number of the user's sockets.
/// Bounded: past <see cref="MaxEntries"/> the table is emptied (a few hints may then pass twice in a second).
/// </summary>
internal sealed class TypingGate
{
    internal const int MaxEntries = 100_000;
    private const long IntervalMs = 1000;
    private readonly ConcurrentDictionary<(long User, long Conversation), long> _last = new();

    public bool TryPass(long userId, long conversationId, long nowMs)
    {
        var key = (userId, conversationId);
        while (true)
        {
            if (_last.TryGetValue(key, out var last))
            {
                if (nowMs - last < IntervalMs)
                {
                    return false;
                }

                if (_last.TryUpdate(key, nowMs, last))
                {
                    return true;
                }

                continue; // another socket of the user won the race
            }

            if (_last.Count >= MaxEntries)
            {
                _last.Clear();
            }

            if (_last.TryAdd(key, nowMs))
            {
                return true;
            }
        }
    }
}
