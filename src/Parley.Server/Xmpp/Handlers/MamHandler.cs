using System.Globalization;
using System.Text;
using System.Xml.Linq;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Messaging;

namespace Parley.Server.Xmpp.Handlers;

/// <summary>
/// XEP-0313 MAM (urn:xmpp:mam:2) with XEP-0059 RSM, answered from <see cref="MessagingService.HistoryAsync"/> (the
/// REST history: membership, the join seq, deletions and recalls as it applies them). The user's own archive needs
/// <c>with</c> = a bare JID (the existing direct conversation with that user; none = an empty archive); a query to a room's JID pages the group's
/// conversation. Archive ids are the XEP-0359 stanza-ids, <c>conversationId:seq</c>.
/// </summary>
public sealed class MamHandler(MessagingService messaging, MessageStore conversations, MucRooms rooms, XmppDirectory directory) : IXmppIqHandler
{
    public const string MamNs = "urn:xmpp:mam:2";
    public const string RsmNs = "http://jabber.org/protocol/rsm";
    public const string DataNs = "jabber:x:data";
    public const int DefaultMax = 50;
    public const int MaxMax = 100;

    public string Namespace => MamNs;

    public IEnumerable<string> Features => [MamNs, RsmNs];

    public async ValueTask HandleAsync(XmppStream stream, XElement iq, XElement payload, CancellationToken cancellationToken)
    {
        var id = (string)iq.Attribute("id")!;
        var toText = (string?)iq.Attribute("to");
        var type = (string?)iq.Attribute("type");
        if (payload.Name.LocalName != "query")
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, toText, "cancel", "feature-not-implemented"));
            return;
        }

        if (type == "get")
        {
            // The form's fields (XEP-0313 5.1): only `with`.
            stream.Send(XmppWriter.IqResult(id, stream.FullJid, toText,
                $"<query xmlns='{MamNs}'><x xmlns='{DataNs}' type='form'><field var='FORM_TYPE' type='hidden'><value>{MamNs}</value></field><field var='with' type='jid-single'/></x></query>"));
            return;
        }

        try
        {
            await QueryAsync(stream, iq, id, toText, payload, cancellationToken);
        }
        catch (MamError e)
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, toText, e.Type, e.Condition, e.Message));
        }
        catch (ApiException e)
        {
            var (errorType, condition) = XmppErrors.ForCode(e.Code);
            stream.Send(XmppWriter.IqError(id, stream.FullJid, toText, errorType, condition, $"{e.Code}: {e.Message}"));
        }
        catch (Exception e) when (Database.IsUnavailable(e))
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, toText, "wait", "internal-server-error", "unavailable: the database is not reachable; retry"));
        }
    }

    private async Task QueryAsync(XmppStream stream, XElement iq, string id, string? toText, XElement query, CancellationToken cancellationToken)
    {
        var queryId = (string?)query.Attribute("queryid");
        string? with = null;
        if (query.Element(XName.Get("x", DataNs)) is { } form)
        {
            foreach (var field in form.Elements(XName.Get("field", DataNs)))
            {
                var name = (string?)field.Attribute("var");
                var value = field.Element(XName.Get("value", DataNs))?.Value;
                switch (name)
                {
                    case "FORM_TYPE":
                        if (value != MamNs)
                        {
                            throw new MamError("modify", "bad-request", "FORM_TYPE must be " + MamNs);
                        }

                        break;
                    case "with":
                        with = value;
                        break;
                    default:
                        throw new MamError("modify", "bad-request", $"the field '{name}' is not supported (only 'with')");
                }
            }
        }

        // RSM: max (bounded), after / before (archive ids), an empty before = the last page.
        var max = DefaultMax;
        string? after = null, before = null;
        var last = false;
        if (query.Element(XName.Get("set", RsmNs)) is { } set)
        {
            if (set.Element(XName.Get("max", RsmNs)) is { } m)
            {
                if (!int.TryParse(m.Value, NumberStyles.None, CultureInfo.InvariantCulture, out max))
                {
                    throw new MamError("modify", "bad-request", "max must be a number");
                }

                max = Math.Clamp(max, 1, MaxMax);
            }

            if (set.Element(XName.Get("after", RsmNs)) is { } a)
            {
                after = a.Value;
            }

            if (set.Element(XName.Get("before", RsmNs)) is { } b)
            {
                if (b.Value.Length == 0)
                {
                    last = true;
                }
                else
                {
                    before = b.Value;
                }
            }

            if (set.Element(XName.Get("index", RsmNs)) is not null)
            {
                throw new MamError("cancel", "feature-not-implemented", "RSM index is not supported; page with after/before");
            }
        }

        // Which archive: a room's JID, or the user's own with `with`.
        long conversationId;
        string? roomJid = null;
        if (toText is not null && Jid.TryParse(toText, out var to) && MucRooms.IsService(stream, to.Domain))
        {
            if (to.Local is null || to.Resource is not null || with is not null)
            {
                throw new MamError("modify", "bad-request", "query a room's bare JID, without 'with'");
            }

            var group = await rooms.FindForMemberAsync(stream, to.Local, cancellationToken) ?? throw new MamError("cancel", "item-not-found", "not_found: Group not found.");
            conversationId = long.Parse(group.ConversationId, CultureInfo.InvariantCulture);
            roomJid = $"{to.Local.ToLowerInvariant()}@{to.Domain.ToLowerInvariant()}";
        }
        else if (toText is null || string.Equals(Jid.TryParse(toText, out var own) ? own.Bare : "", stream.BareJid, StringComparison.OrdinalIgnoreCase))
        {
            if (with is null)
            {
                throw new MamError("cancel", "feature-not-implemented", "the whole archive is not offered: give 'with' (a user's bare JID), or query a room's JID");
            }

            if (!Jid.TryParse(with, out var peer) || peer.Local is null || peer.Resource is not null
                || !string.Equals(peer.Domain, stream.Domain, StringComparison.OrdinalIgnoreCase)
                || await directory.UserIdAsync(peer.Local, cancellationToken) is not { } peerId || peerId == stream.Caller.UserId)
            {
                throw new MamError("cancel", "item-not-found", "unknown 'with'");
            }

            // The existing conversation, whatever the friendship is now: its history is readable as by
            // GET /api/conversations/{id}/messages (HistoryAsync decides). No conversation: an empty archive.
            if (stream.TryGetConversation(peerId, out var known))
            {
                conversationId = long.Parse(known, CultureInfo.InvariantCulture);
            }
            else if (await conversations.FindDirectAsync(stream.Caller.UserId, peerId, cancellationToken) is { } row)
            {
                conversationId = row.Id;
            }
            else
            {
                stream.Send(XmppWriter.IqResult(id, stream.FullJid, toText, $"<fin xmlns='{MamNs}' complete='true'><set xmlns='{RsmNs}'/></fin>"));
                return;
            }
        }
        else
        {
            throw new MamError("cancel", "service-unavailable", "only your own archive and rooms' archives are offered");
        }

        long? afterSeq = after is null ? (last || before is not null ? null : 0) : ArchiveSeq(after, conversationId);
        long? beforeSeq = before is not null ? ArchiveSeq(before, conversationId) : last ? long.MaxValue : null;
        var history = await messaging.HistoryAsync(stream.Caller, Ids.Format(conversationId), afterSeq, beforeSeq, max, cancellationToken);
        if (!history.TryGetValue(out var page, out var refusal))
        {
            var (errorType, condition) = XmppErrors.ForCode(refusal.Code);
            throw new MamError(errorType, condition, $"{refusal.Code}: {refusal.Detail}");
        }

        foreach (var message in page.Items)
        {
            stream.Send(await ResultAsync(stream, queryId, roomJid, message, cancellationToken));
        }

        // Paging backwards, "more" is before the page; forwards, after it. Complete = nothing more that way.
        var fin = new StringBuilder($"<fin xmlns='{MamNs}' complete='{(page.HasMore ? "false" : "true")}'><set xmlns='{RsmNs}'>");
        if (page.Items.Count > 0)
        {
            fin.Append("<first>").Append(XmppWriter.Esc(ArchiveId(page.Items[0]))).Append("</first><last>").Append(XmppWriter.Esc(ArchiveId(page.Items[^1]))).Append("</last>");
        }

        fin.Append("</set></fin>");
        stream.Send(XmppWriter.IqResult(id, stream.FullJid, toText, fin.ToString()));
    }

    private async Task<string> ResultAsync(XmppStream stream, string? queryId, string? roomJid, MessageDto message, CancellationToken cancellationToken)
    {
        var sender = await directory.LocalPartAsync(long.Parse(message.SenderId, CultureInfo.InvariantCulture), cancellationToken) ?? "unknown";
        var json = MucOutbound.ToJson(message);
        string inner;
        if (roomJid is not null)
        {
            inner = MucOutbound.GroupchatStanza(stream.BareJid, roomJid, sender, json, null, delayed: false);
        }
        else
        {
            var from = $"{sender}@{stream.Domain}";
            var xml = new StringBuilder("<message type='chat' id='").Append(XmppWriter.Esc(message.ClientMsgId)).Append('\'').Append(XmppWriter.Addr(null, from)).Append('>');
            if (MessageFrameTranslator.Body(json) is { } text)
            {
                xml.Append("<body>").Append(XmppWriter.Esc(text)).Append("</body>");
            }

            inner = xml.Append("<stanza-id xmlns='").Append(MessageFrameTranslator.StanzaIdNamespace).Append("' id='").Append(XmppWriter.Esc(ArchiveId(message)))
                .Append("' by='").Append(XmppWriter.Esc(stream.BareJid)).Append("'/></message>").ToString();
        }

        inner = inner.Replace("<message ", "<message xmlns='jabber:client' ", StringComparison.Ordinal);
        return $"<message{XmppWriter.Addr(stream.FullJid, roomJid ?? stream.BareJid)}><result xmlns='{MamNs}'{(queryId is null ? "" : $" queryid='{XmppWriter.Esc(queryId)}'")} id='{XmppWriter.Esc(ArchiveId(message))}'>"
            + $"<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='{MucOutbound.Stamp(message.SentAt)}'/>{inner}</forwarded></result></message>";
    }

    private static string ArchiveId(MessageDto message) => $"{message.ConversationId}:{message.Seq.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The seq of an archive id of this conversation; another conversation's id is item-not-found (RSM 2.6).</summary>
    private static long ArchiveSeq(string archiveId, long conversationId)
    {
        var colon = archiveId.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && Ids.TryParse(archiveId[..colon], out var conversation) && conversation == conversationId
            && long.TryParse(archiveId[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var seq) && seq >= 1)
        {
            return seq;
        }

        throw new MamError("cancel", "item-not-found", $"unknown archive id '{archiveId}' (ids are conversationId:seq of this archive)");
    }

    private sealed class MamError(string type, string condition, string message) : Exception(message)
    {
        public string Type { get; } = type;

        public string Condition { get; } = condition;
    }
}
