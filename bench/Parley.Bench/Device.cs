using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text.Json;
using Parley.Client;

namespace Parley.Bench;

/// <summary>One online user in a phase: its socket, what it sent (acknowledged seqs) and what it received.</summary>
public sealed class Device(int index, string userId)
{
    private static readonly JsonElement Payload = JsonDocument.Parse("""{"text":"a benchmark message of ordinary length, about sixty bytes"}""").RootElement.Clone();

    private long _counter;

    public int Index { get; } = index;

    public string UserId { get; } = userId;

    public ParleySocket Socket { get; set; } = null!;

    /// <summary>--transport xmpp: the device's XMPP stream instead of <see cref="Socket"/>, and its partner's bare JID.</summary>
    public XmppLink? Xmpp { get; set; }

    public string PeerJid { get; set; } = "";

    /// <summary>--transport xmpp: the key a message is counted by (no seq comes back to an XMPP sender): sender and number.</summary>
    public static long XmppKey(int sender, long n) => ((long)sender << 40) | n;

    /// <summary>Where this device sends (its pair's conversation, or the group's).</summary>
    public string ConversationId { get; set; } = "";

    /// <summary>The device this one sends to (pairs), released when its message arrives there.</summary>
    public Device? Partner { get; set; }

    /// <summary>Seqs received by push; touched only by this device's receive loop until the phase ends.</summary>
    public HashSet<long> Delivered { get; } = [];

    /// <summary>failover: seqs a catch-up (sync) brought before their push came; that push is then no duplicate.</summary>
    public HashSet<long> Synced { get; } = [];

    public long Duplicates { get; set; }

    public long DeliveredInWindow { get; set; }

    /// <summary>Send-to-deliver latencies (Stopwatch ticks) of deliveries in the measured window.</summary>
    public List<long> Latencies { get; } = [];

    /// <summary>Seqs of this device's acknowledged sends (<c>sent</c>).</summary>
    public List<long> Acked { get; } = [];

    /// <summary>Per acknowledged send (guarded by <see cref="Acked"/>): its stamp and the ticks from stamp to ack.</summary>
    public List<(long Stamp, long Ticks)> AckLatencies { get; } = [];

    public long Errors;

    /// <summary>Sends not answered yet.</summary>
    public long Unanswered;

    /// <summary>The first send error's description (type and code or message), for the report.</summary>
    public string? FirstError { get; private set; }

    /// <summary>How the socket closed, if it closed during the phase.</summary>
    public ClosedEvent? Closed { get; set; }

    /// <summary>Sends one message stamped with <paramref name="stamp"/> (Stopwatch ticks) and records its seq when acknowledged.</summary>
    public async Task SendAsync(long stamp)
    {
        var n = Interlocked.Increment(ref _counter);
        Interlocked.Increment(ref Unanswered);
        var clientMsgId = string.Create(CultureInfo.InvariantCulture, $"{Index}.{n}.{stamp}");
        if (Xmpp is { } xmpp)
        {
            // XMPP: no `sent` with a seq comes back (Parley answers only refusals); a message counts as sent once it is
            // written, and by its key (the receiver reads it back from the stanza id), so lost and dup still show.
            try
            {
                await xmpp.SendChatAsync(PeerJid, clientMsgId);
                lock (Acked)
                {
                    Acked.Add(XmppKey(Index, n));
                }
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                Interlocked.Increment(ref Errors);
                FirstError ??= $"{e.GetType().Name}: {e.Message}";
            }
            finally
            {
                Interlocked.Decrement(ref Unanswered);
            }

            return;
        }

        try
        {
            var message = await Socket.SendAsync(ConversationId, "text", Payload, clientMsgId);
            var acked = Now;
            lock (Acked)
            {
                Acked.Add(message.Seq);
                AckLatencies.Add((stamp, acked - stamp));
            }
        }
        catch (Exception e) when (e is ParleyApiException or WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            Interlocked.Increment(ref Errors);
            FirstError ??= e is ParleyApiException api ? $"error {api.Code}" : $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            Interlocked.Decrement(ref Unanswered);
        }
    }

    /// <summary>
    /// Records a pushed message: false-y (null) for a duplicate; else counts it and its latency when it falls in the
    /// measured window (by arrival, or by its stamp for the open loop), and returns its sender's index.
    /// </summary>
    public int? Receive(Message message, Window window, bool byStamp)
    {
        var now = Now;
        if (!Delivered.Add(message.Seq))
        {
            Duplicates++;
            return null;
        }

        var (sender, stamp) = ParseClientMsgId(message.ClientMsgId);
        if (window.Contains(byStamp ? stamp : now))
        {
            DeliveredInWindow++;
            Latencies.Add(now - stamp);
        }

        return sender;
    }

    /// <summary>Reads the sender index and the stamp back from a bench clientMsgId ("sender.n.stamp").</summary>
    public static (int Sender, long Stamp) ParseClientMsgId(string clientMsgId) => ParseClientMsgId(clientMsgId, out _);

    public static (int Sender, long Stamp) ParseClientMsgId(string clientMsgId, out long n)
    {
        var span = clientMsgId.AsSpan();
        var first = span.IndexOf('.');
        var last = span.LastIndexOf('.');
        n = 0;
        if (first <= 0 || last <= first
            || !long.TryParse(span[(first + 1)..last], NumberStyles.None, CultureInfo.InvariantCulture, out n)
            || !int.TryParse(span[..first], NumberStyles.None, CultureInfo.InvariantCulture, out var sender)
            || !long.TryParse(span[(last + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var stamp))
        {
            return (-1, 0);
        }

        return (sender, stamp);
    }

    /// <summary>--transport xmpp: an error stanza came back for one of this device's messages.</summary>
    public void XmppError()
    {
        Interlocked.Increment(ref Errors);
        FirstError ??= "an error stanza";
    }

    public static long Now => Stopwatch.GetTimestamp();
}
