using System.Runtime.CompilerServices;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Server.Social;

namespace Parley.Server.Xmpp.Social;

/// <summary>
/// The social part's per-stream state (carbons on, initial presence sent, receipts asked for, markers sent), kept
/// beside the stream in a weak table rather than in <see cref="XmppStream.Items"/>: the receive loop writes it and
/// the writer reads it, so its fields are volatile or locked.
/// </summary>
public sealed class SocialState
{
    private static readonly ConditionalWeakTable<XmppStream, SocialState> States = [];
    private readonly HashSet<string> _receiptRequests = new(StringComparer.Ordinal);
    private readonly Queue<string> _receiptOrder = new();
    private readonly Dictionary<string, long> _markedSeq = new(StringComparer.Ordinal);
    private volatile bool _carbons;
    private volatile bool _available;
    private int _pushes;

    public static SocialState Of(XmppStream stream) => States.GetValue(stream, static _ => new SocialState());

    /// <summary>XEP-0280 enabled on this stream.</summary>
    public bool Carbons { get => _carbons; set => _carbons = value; }

    /// <summary>The stream sent its initial presence (and no unavailable since): friends' presence reaches it.</summary>
    public bool Available { get => _available; set => _available = value; }

    public string NextPushId() => $"push-{Interlocked.Increment(ref _pushes)}";

    /// <summary>A message of this stream asked for a XEP-0184 receipt (the last 1000 remembered).</summary>
    public void ReceiptRequested(string clientMsgId)
    {
        lock (_receiptRequests)
        {
            if (_receiptRequests.Add(clientMsgId))
            {
                _receiptOrder.Enqueue(clientMsgId);
                if (_receiptOrder.Count > 1000)
                {
                    _receiptRequests.Remove(_receiptOrder.Dequeue());
                }
            }
        }
    }

    public bool WantsReceipt(string clientMsgId)
    {
        lock (_receiptRequests)
        {
            return _receiptRequests.Contains(clientMsgId);
        }
    }

    /// <summary>True when <paramref name="seq"/> is past the last displayed marker sent for the conversation (and records it).</summary>
    public bool MarkAdvances(string conversationId, long seq)
    {
        lock (_markedSeq)
        {
            if (_markedSeq.TryGetValue(conversationId, out var last) && last >= seq)
            {
                return false;
            }

            if (_markedSeq.Count > 10_000)
            {
                _markedSeq.Clear();
            }

            _markedSeq[conversationId] = seq;
            return true;
        }
    }
}

/// <summary>What the social handlers and translators share: JIDs of users, the direct conversation with a peer, presence.</summary>
public sealed class XmppSocial(XmppDirectory directory, MessagingService messaging, PresenceTracker presence)
{
    public const string RosterNs = "jabber:iq:roster";
    public const string CarbonsNs = "urn:xmpp:carbons:2";
    public const string ForwardNs = "urn:xmpp:forward:0";
    public const string ChatStatesNs = "http://jabber.org/protocol/chatstates";
    public const string MarkersNs = "urn:xmpp:chat-markers:0";
    public const string ReceiptsNs = "urn:xmpp:receipts";
    public const string IdleNs = "urn:xmpp:idle:1";

    public XmppDirectory Directory => directory;

    /// <summary>The bare JID of a user, or null for an unknown id.</summary>
    public async ValueTask<string?> JidAsync(XmppStream stream, long userId) =>
        await directory.LocalPartAsync(userId, CancellationToken.None) is { } local ? $"{local}@{stream.Domain}" : null;

    /// <summary>The Parley user a JID of this domain names (not the stream's own user), or null.</summary>
    public async ValueTask<(long Id, string Jid)?> PeerAsync(XmppStream stream, string? jidText, CancellationToken cancellationToken)
    {
        if (!Jid.TryParse(jidText, out var jid) || jid.Local is null || !string.Equals(jid.Domain, stream.Domain, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (await directory.UserIdAsync(jid.Local, cancellationToken) is not { } id || id == stream.Caller.UserId)
        {
            return null;
        }

        return (id, $"{jid.Local.ToLowerInvariant()}@{stream.Domain}");
    }

    /// <summary>The direct conversation with a friend (cached on the stream), or null when Parley refuses it (not friends, blocked, down).</summary>
    public async ValueTask<string?> ConversationAsync(XmppStream stream, long peerId, CancellationToken cancellationToken)
    {
        if (stream.TryGetConversation(peerId, out var conversationId))
        {
            return conversationId;
        }

        try
        {
            var conversation = await messaging.GetOrCreateDirectAsync(stream.Caller, new DirectBody(Parley.Storage.Ids.Format(peerId)), cancellationToken);
            stream.RememberConversation(peerId, conversation.Id);
            return conversation.Id;
        }
        catch (ApiException)
        {
            return null;
        }
        catch (Exception e) when (Parley.Storage.Database.IsUnavailable(e))
        {
            return null;
        }
    }

    /// <summary>Which of the users are online (anywhere, in cluster mode).</summary>
    public async ValueTask<IReadOnlySet<long>> OnlineAmongAsync(IReadOnlyCollection<long> userIds)
    {
        if (presence.OnlineAmongAsync(userIds) is { } cluster)
        {
            return await cluster;
        }

        return userIds.Where(presence.IsOnline).ToHashSet();
    }

    /// <summary>A presence stanza from a friend's bare JID (available, or unavailable with XEP-0319 idle since last seen).</summary>
    public static string Presence(XmppStream stream, string from, bool online, long? lastSeenAt = null)
    {
        if (online)
        {
            return $"<presence{XmppWriter.Addr(stream.FullJid, from)}/>";
        }

        var idle = lastSeenAt is { } at
            ? $"<idle xmlns='{IdleNs}' since='{DateTimeOffset.FromUnixTimeMilliseconds(at).UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}'/>"
            : "";
        return $"<presence type='unavailable'{XmppWriter.Addr(stream.FullJid, from)}>{idle}</presence>";
    }

    /// <summary>A roster push (RFC 6121 2.1.6) of one item to this stream's resource.</summary>
    public static string RosterPush(XmppStream stream, string jid, string? name, string subscription) =>
        $"<iq type='set' id='{SocialState.Of(stream).NextPushId()}' to='{XmppWriter.Esc(stream.FullJid)}'><query xmlns='{RosterNs}'>{RosterItem(jid, name, subscription)}</query></iq>";

    public static string RosterItem(string jid, string? name, string subscription) =>
        $"<item jid='{XmppWriter.Esc(jid)}'{(string.IsNullOrEmpty(name) ? "" : $" name='{XmppWriter.Esc(name)}'")} subscription='{subscription}'/>";
}
