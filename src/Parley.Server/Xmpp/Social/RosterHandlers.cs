using System.Text;
using System.Xml.Linq;
using Parley.Server.Http;
using Parley.Server.Social;
using Parley.Storage.Social;

namespace Parley.Server.Xmpp.Social;

/// <summary>
/// RFC 6121 roster = Parley friends. get: every friend as <c>&lt;item subscription='both'/&gt;</c> (name = the
/// user's remark for them, else their nickname). set: an item = a friend request (<see cref="SocialService.SendRequestAsync"/>,
/// which accepts their pending request to us, as <c>POST /api/friends/requests</c> does); <c>subscription='remove'</c>
/// = unfriend. Pushes come from the <c>notify</c> frames (<see cref="FriendNotifyTranslator"/>), not from here.
/// </summary>
public sealed class RosterHandler(SocialService social, SocialStore store, XmppSocial xmpp) : IXmppIqHandler
{
    public string Namespace => XmppSocial.RosterNs;

    public IEnumerable<string> Features => [];

    public async ValueTask HandleAsync(XmppStream stream, XElement iq, XElement payload, CancellationToken cancellationToken)
    {
        var id = (string)iq.Attribute("id")!;
        var to = (string?)iq.Attribute("to");
        if (to is not null && !string.Equals(Jid.TryParse(to, out var target) ? target.Bare : to, stream.BareJid, StringComparison.OrdinalIgnoreCase))
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, to, "auth", "forbidden", "only your own roster")); // RFC 6121 2.1.3.1 / 2.1.5
            return;
        }

        try
        {
            if ((string?)iq.Attribute("type") == "get")
            {
                await GetAsync(stream, id, cancellationToken);
            }
            else
            {
                await SetAsync(stream, id, payload, cancellationToken);
            }
        }
        catch (ApiException e)
        {
            var (type, condition) = e.Code == ErrorCodes.Conflict ? ("cancel", "conflict") : XmppErrors.ForCode(e.Code);
            stream.Send(XmppWriter.IqError(id, stream.FullJid, null, type, condition, $"{e.Code}: {e.Message}"));
        }
        catch (Exception e) when (Parley.Storage.Database.IsUnavailable(e))
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, null, "wait", "internal-server-error", "unavailable: the database is not reachable; retry"));
        }
    }

    private async Task GetAsync(XmppStream stream, string id, CancellationToken cancellationToken)
    {
        var xml = new StringBuilder($"<query xmlns='{XmppSocial.RosterNs}'>");
        string? cursor = null;
        do
        {
            var page = await social.ListFriendsAsync(stream.Caller.UserId, 200, cursor, cancellationToken);
            foreach (var friend in page.Items)
            {
                xml.Append(XmppSocial.RosterItem($"{friend.User.Username.ToLowerInvariant()}@{stream.Domain}", friend.Remark ?? friend.User.Nickname, "both"));
            }

            cursor = page.NextCursor;
        }
        while (cursor is not null);

        xml.Append("</query>");
        stream.Send(XmppWriter.IqResult(id, stream.FullJid, null, xml.ToString()));
    }

    private async Task SetAsync(XmppStream stream, string id, XElement payload, CancellationToken cancellationToken)
    {
        var items = payload.Elements(XName.Get("item", XmppSocial.RosterNs)).ToList();
        if (items.Count != 1)
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, null, "modify", "bad-request", "one item per roster set")); // RFC 6121 2.3.3
            return;
        }

        var item = items[0];
        if (await xmpp.PeerAsync(stream, (string?)item.Attribute("jid"), cancellationToken) is not { } peer)
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, null, "cancel", "item-not-found", "no such Parley user"));
            return;
        }

        var peerId = Parley.Storage.Ids.Format(peer.Id);
        if ((string?)item.Attribute("subscription") == "remove")
        {
            await social.RemoveFriendAsync(stream.Caller.UserId, peerId, cancellationToken); // not a friend: not_found
            stream.Send(XmppWriter.IqResult(id, stream.FullJid, null));
            return;
        }

        if (await store.AreFriendsAsync(stream.Caller.UserId, peer.Id, cancellationToken))
        {
            // Already friends: the item is there; a name in the set is the remark (the roster's own field).
            if ((string?)item.Attribute("name") is { } name)
            {
                await social.SetRemarkAsync(stream.Caller.UserId, peerId, new RemarkBody(name), cancellationToken);
            }
        }
        else
        {
            await social.SendRequestAsync(stream.Caller.UserId, new FriendRequestBody(peerId, null), cancellationToken);
        }

        stream.Send(XmppWriter.IqResult(id, stream.FullJid, null));
    }
}

/// <summary>XEP-0280 <c>&lt;enable/&gt;</c> / <c>&lt;disable/&gt;</c>: per stream; the carbons themselves are <see cref="Carbons"/>.</summary>
public sealed class CarbonsHandler : IXmppIqHandler
{
    public string Namespace => XmppSocial.CarbonsNs;

    public IEnumerable<string> Features => [XmppSocial.CarbonsNs];

    public ValueTask HandleAsync(XmppStream stream, XElement iq, XElement payload, CancellationToken cancellationToken)
    {
        var id = (string)iq.Attribute("id")!;
        if ((string?)iq.Attribute("type") != "set" || payload.Name.LocalName is not ("enable" or "disable"))
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, null, "modify", "bad-request"));
            return ValueTask.CompletedTask;
        }

        SocialState.Of(stream).Carbons = payload.Name.LocalName == "enable";
        stream.Send(XmppWriter.IqResult(id, stream.FullJid, null));
        return ValueTask.CompletedTask;
    }
}
