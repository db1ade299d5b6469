using System.Text;
using System.Xml.Linq;
using Parley.Storage;
using Parley.Storage.Groups;

namespace Parley.Server.Xmpp.Handlers;

/// <summary>
/// XEP-0030 for the conference service (called from <see cref="DiscoHandler"/> and <see cref="DiscoItemsHandler"/>):
/// the server's items list <c>conference.&lt;domain&gt;</c>; the service's items are the user's groups (bounded);
/// a room's info is its identity and features, to its members (anyone else: item-not-found, as the REST API's 404).
/// </summary>
public sealed class MucDisco(MucRooms rooms, GroupStore store)
{
    public const int MaxItems = 100;

    /// <summary>True when this answered (the address is the conference service or one of its rooms).</summary>
    public async ValueTask<bool> InfoAsync(XmppStream stream, string id, string? to, CancellationToken cancellationToken)
    {
        if (!Jid.TryParse(to, out var jid) || !MucRooms.IsService(stream, jid.Domain))
        {
            return false;
        }

        if (jid.Local is null)
        {
            stream.Send(XmppWriter.IqResult(id, stream.FullJid, to,
                $"<query xmlns='{DiscoHandler.InfoNs}'><identity category='conference' type='text' name='Parley groups'/><feature var='{MucRooms.MucNs}'/><feature var='{DiscoHandler.InfoNs}'/><feature var='{DiscoItemsHandler.ItemsNs}'/><feature var='{MamHandler.MamNs}'/></query>"));
            return true;
        }

        if (jid.Resource is not null || await rooms.FindForMemberAsync(stream, jid.Local, cancellationToken) is not { } group)
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, to, "cancel", "item-not-found"));
            return true;
        }

        var features = new StringBuilder();
        foreach (var feature in (string[])[MucRooms.MucNs, MamHandler.MamNs, MessageFrameTranslator.StanzaIdNamespace, "muc_persistent", "muc_nonanonymous", "muc_unmoderated", "muc_unsecured",
                     group.Visibility == "public" ? "muc_public" : "muc_hidden", group.JoinPolicy == "open" ? "muc_open" : "muc_membersonly"])
        {
            features.Append("<feature var='").Append(feature).Append("'/>");
        }

        stream.Send(XmppWriter.IqResult(id, stream.FullJid, to,
            $"<query xmlns='{DiscoHandler.InfoNs}'><identity category='conference' type='text' name='{XmppWriter.Esc(group.Name)}'/>{features}</query>"));
        return true;
    }

    public async ValueTask<bool> ItemsAsync(XmppStream stream, string id, string? to, CancellationToken cancellationToken)
    {
        if (to is null || string.Equals(to, stream.Domain, StringComparison.OrdinalIgnoreCase))
        {
            stream.Send(XmppWriter.IqResult(id, stream.FullJid, to,
                $"<query xmlns='{DiscoItemsHandler.ItemsNs}'><item jid='{XmppWriter.Esc(MucRooms.Service(stream))}' name='Groups'/></query>"));
            return true;
        }

        if (!Jid.TryParse(to, out var jid) || !MucRooms.IsService(stream, jid.Domain))
        {
            return false;
        }

        var xml = new StringBuilder($"<query xmlns='{DiscoItemsHandler.ItemsNs}'>");
        if (jid.Local is null)
        {
            foreach (var group in await store.ListForMemberAsync(stream.Caller.UserId, 0, MaxItems, cancellationToken))
            {
                xml.Append("<item jid='").Append(XmppWriter.Esc(MucRooms.RoomJid(stream, group.Id))).Append("' name='").Append(XmppWriter.Esc(group.Name)).Append("'/>");
            }
        }

        stream.Send(XmppWriter.IqResult(id, stream.FullJid, to, xml.Append("</query>").ToString()));
        return true;
    }
}
