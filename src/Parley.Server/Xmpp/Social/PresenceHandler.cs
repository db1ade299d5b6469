using System.Xml.Linq;
using Parley.Server.Http;
using Parley.Server.Social;
using Parley.Storage.Social;

namespace Parley.Server.Xmpp.Social;

/// <summary>
/// Presence stanzas (RFC 6121 4 and 3). The user is online while any of their connections is open (the bound
/// stream already counts), so presence the client broadcasts changes nothing in Parley; the initial presence makes
/// the stream receive its friends' presence (the current state now, then the <c>presence</c> frames), and
/// <c>unavailable</c> stops that. Subscriptions are friend requests: <c>subscribe</c> sends one (accepting theirs),
/// <c>subscribed</c> accepts theirs, <c>unsubscribed</c> declines it, <c>unsubscribe</c> unfriends (Parley has
/// only mutual friendship). <c>probe</c> is answered from Parley's presence, for friends only.
/// </summary>
public sealed class PresenceHandler(SocialService social, SocialStore store, XmppSocial xmpp) : IXmppStanzaHandler
{
    public string Stanza => "presence";

    public int Order => 100;

    public IEnumerable<string> Features => [XmppSocial.IdleNs];

    public async ValueTask<bool> HandleAsync(XmppStream stream, XElement presence, CancellationToken cancellationToken)
    {
        var type = (string?)presence.Attribute("type");
        var to = (string?)presence.Attribute("to");
        try
        {
            if (to is null || (Jid.TryParse(to, out var jid) && string.Equals(jid.Bare, stream.BareJid, StringComparison.OrdinalIgnoreCase)))
            {
                Broadcast(stream, type);
                return true;
            }

            if (await xmpp.PeerAsync(stream, to, cancellationToken) is not { } peer)
            {
                if (type is "subscribe" or "probe")
                {
                    stream.Send(Error(stream, to, "cancel", "item-not-found", "no such Parley user"));
                }

                return true; // other addressees (MUC rooms) are left alone: a MUC handler runs before this one
            }

            await DirectedAsync(stream, type, peer.Id, peer.Jid, cancellationToken);
        }
        catch (ApiException e)
        {
            var (errorType, condition) = XmppErrors.ForCode(e.Code);
            stream.Send(Error(stream, to, errorType, condition, $"{e.Code}: {e.Message}"));
        }
        catch (Exception e) when (Parley.Storage.Database.IsUnavailable(e))
        {
            stream.Send(Error(stream, to, "wait", "internal-server-error", "unavailable: the database is not reachable; retry"));
        }

        return true;
    }

    private static void Broadcast(XmppStream stream, string? type)
    {
        var state = SocialState.Of(stream);
        if (type == "unavailable")
        {
            state.Available = false;
            return;
        }

        if (type is not null || state.Available)
        {
            return; // a changed show/status: Parley has no status text; only the first available presence matters
        }

        // The friends online now are read by the writer (PresenceSnapshotTranslator), in queue order with the
        // presence frames: a frame queued before the snapshot is written before it, and one after it is newer
        // than what the snapshot read, so the client never ends with a stale state.
        state.Available = true;
        stream.Connection.TrySend(PresenceSnapshotTranslator.Frame);
    }

    private async Task DirectedAsync(XmppStream stream, string? type, long peerId, string peerJid, CancellationToken cancellationToken)
    {
        var me = stream.Caller.UserId;
        var peer = Parley.Storage.Ids.Format(peerId);
        switch (type)
        {
            case "subscribe":
                if (await store.AreFriendsAsync(me, peerId, cancellationToken))
                {
                    stream.Send($"<presence type='subscribed'{XmppWriter.Addr(stream.FullJid, peerJid)}/>"); // already friends (RFC 6121 3.1.3)
                    break;
                }

                await social.SendRequestAsync(me, new FriendRequestBody(peer, null), cancellationToken);

                break;
            case "subscribed" or "unsubscribed":
                if (await IncomingRequestAsync(me, peer, cancellationToken) is { } request)
                {
                    await social.DecideAsync(me, request, accept: type == "subscribed", cancellationToken);
                }

                break;
            case "unsubscribe":
                if (await store.AreFriendsAsync(me, peerId, cancellationToken))
                {
                    await social.RemoveFriendAsync(me, peer, cancellationToken);
                }

                break;
            case "probe":
                if (!await store.AreFriendsAsync(me, peerId, cancellationToken))
                {
                    stream.Send(Error(stream, peerJid, "auth", "forbidden", "not_friends: presence is for friends")); // nothing revealed
                    break;
                }

                var online = await xmpp.OnlineAmongAsync([peerId]);
                stream.Send(XmppSocial.Presence(stream, peerJid, online.Contains(peerId)));
                break;
            default:
                break; // directed available/unavailable presence: Parley has no per-contact presence
        }
    }

    /// <summary>The id of the pending request <paramref name="from"/> sent the user, if any.</summary>
    private async Task<string?> IncomingRequestAsync(long me, string from, CancellationToken cancellationToken)
    {
        string? cursor = null;
        for (var pages = 0; pages < 20; pages++)
        {
            var page = await social.ListRequestsAsync(me, "incoming", 100, cursor, cancellationToken);
            if (page.Items.FirstOrDefault(r => r.FromUserId == from) is { } request)
            {
                return request.Id;
            }

            if ((cursor = page.NextCursor) is null)
            {
                break;
            }
        }

        return null;
    }

    private static string Error(XmppStream stream, string? from, string type, string condition, string text) =>
        $"<presence type='error'{XmppWriter.Addr(stream.FullJid, from)}>{XmppWriter.StanzaError(type, condition, text)}</presence>";
}
