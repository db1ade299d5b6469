using System.Globalization;
using System.Text;
using System.Xml.Linq;
using Parley.Server.Groups;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Storage;
using Parley.Storage.Groups;

namespace Parley.Server.Xmpp.Handlers;

/// <summary>
/// XEP-0045 presence to <c>room@conference.&lt;domain&gt;/nick</c>: available = join (occupants, self-presence with
/// status 110, history from the member's join on, the subject), unavailable = leave (delivery to this stream stops;
/// the Parley group is not left). The nick is always the username (status 210 when the client asked for another).
/// </summary>
public sealed class MucPresenceHandler(MucRooms rooms, MessagingService messaging, GroupStore store, ConnectionRegistry registry, XmppDirectory directory, TimeProvider time)
    : IXmppStanzaHandler
{
    public const int MaxOccupants = 50;
    public const int DefaultHistory = 20;
    public const int MaxHistory = 50;
    public const int MaxRoomsPerStream = 500;

    public string Stanza => "presence";

    public int Order => 50;

    public IEnumerable<string> Features => [MucRooms.MucNs];

    public async ValueTask<bool> HandleAsync(XmppStream stream, XElement presence, CancellationToken cancellationToken)
    {
        if (!Jid.TryParse((string?)presence.Attribute("to"), out var to) || !MucRooms.IsService(stream, to.Domain))
        {
            return false;
        }

        var type = (string?)presence.Attribute("type");
        var id = (string?)presence.Attribute("id");
        if (to.Local is null)
        {
            return true; // presence to the service itself: nothing to do
        }

        var roomJid = $"{to.Local.ToLowerInvariant()}@{MucRooms.Service(stream)}";
        var state = MucStreamRooms.Of(stream);
        if (type == "unavailable")
        {
            if (state.FindByJid(roomJid) is { } left)
            {
                state.ByConversation.TryRemove(left.ConversationId, out _);
                stream.Send($"<presence type='unavailable'{XmppWriter.Addr(stream.FullJid, $"{roomJid}/{left.Nick}")}><x xmlns='{MucRooms.MucUserNs}'><item affiliation='member' role='none'/><status code='110'/></x></presence>");
            }

            return true;
        }

        if (type is not null)
        {
            return true; // probes, subscriptions to rooms: not offered
        }

        if (to.Resource is null)
        {
            Error(stream, id, roomJid, "modify", "jid-malformed", "a nick is required");
            return true;
        }

        if (state.ByConversation.Count >= MaxRoomsPerStream && state.FindByJid(roomJid) is null)
        {
            Error(stream, id, $"{roomJid}/{to.Resource}", "wait", "resource-constraint", $"at most {MaxRoomsPerStream} rooms per stream; leave one first");
            return true;
        }

        GroupDto group;
        bool created;
        string role;
        try
        {
            (group, created, role) = await rooms.JoinAsync(stream, to.Local, cancellationToken);
        }
        catch (ApiException e)
        {
            var (errorType, condition) = e.Status switch
            {
                404 => ("cancel", "item-not-found"), // does not exist or is private to the caller: the REST API's 404
                403 => ("auth", "registration-required"),
                409 => ("wait", "service-unavailable"), // full
                429 => ("wait", "resource-constraint"),
                400 => ("modify", "not-acceptable"),
                _ => ("cancel", "internal-server-error"),
            };
            Error(stream, id, $"{roomJid}/{to.Resource}", errorType, condition, $"{e.Code}: {e.Message}");
            return true;
        }
        catch (Exception e) when (Database.IsUnavailable(e))
        {
            Error(stream, id, $"{roomJid}/{to.Resource}", "wait", "internal-server-error", "unavailable: the database is not reachable; retry");
            return true;
        }

        var groupId = long.Parse(group.Id, CultureInfo.InvariantCulture);
        var conversationId = long.Parse(group.ConversationId, CultureInfo.InvariantCulture);
        var nick = stream.Username;
        var full = stream.FullJid;

        // Occupants: members online (on this node), bounded; then self-presence.
        var members = await store.ListMembersAsync(groupId, -1, 0, MaxOccupants * 4, cancellationToken);
        var shown = 0;
        foreach (var member in members)
        {
            if (member.UserId == stream.Caller.UserId || !registry.Holds(member.UserId) || shown >= MaxOccupants)
            {
                continue;
            }

            if (await directory.LocalPartAsync(member.UserId, cancellationToken) is { } other)
            {
                shown++;
                stream.Send(OccupantPresence(full, $"{roomJid}/{other}", $"{other}@{stream.Domain}", member.Role, []));
            }
        }

        var codes = new List<int> { 100, 110 };
        if (created)
        {
            codes.Add(201);
        }

        if (!string.Equals(to.Resource, nick, StringComparison.Ordinal))
        {
            codes.Add(210);
        }

        // Joined before the history is read: a message committed meanwhile comes live (or in both: same id, clients dedupe).
        var room = new JoinedRoom(roomJid, groupId, conversationId, nick);
        state.ByConversation[conversationId] = room;
        stream.Send(OccupantPresence(full, $"{roomJid}/{nick}", stream.FullJid, role, codes, id));

        await HistoryAsync(stream, room, presence.Element(XName.Get("x", MucRooms.MucNs))?.Element(XName.Get("history", MucRooms.MucNs)), cancellationToken);
        stream.Send($"<message type='groupchat'{XmppWriter.Addr(full, roomJid)}><subject>{XmppWriter.Esc(group.Announcement)}</subject></message>");
        return true;
    }

    private async Task HistoryAsync(XmppStream stream, JoinedRoom room, XElement? history, CancellationToken cancellationToken)
    {
        var max = DefaultHistory;
        long? since = null;
        if (history is not null)
        {
            if (int.TryParse((string?)history.Attribute("maxstanzas"), NumberStyles.None, CultureInfo.InvariantCulture, out var m))
            {
                max = Math.Min(m, MaxHistory);
            }

            if (int.TryParse((string?)history.Attribute("seconds"), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            {
                since = time.GetUtcNow().ToUnixTimeMilliseconds() - (seconds * 1000L);
            }
            else if (DateTimeOffset.TryParse((string?)history.Attribute("since"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var s))
            {
                since = s.ToUnixTimeMilliseconds();
            }

            if ((string?)history.Attribute("maxchars") == "0")
            {
                max = 0;
            }
        }

        if (max <= 0)
        {
            return;
        }

        // The last `max` messages the member may see (the history service applies the join seq and deletions).
        var page = await messaging.HistoryAsync(stream.Caller, Ids.Format(room.ConversationId), null, long.MaxValue, max, cancellationToken);
        if (!page.TryGetValue(out var messages, out _))
        {
            return;
        }

        foreach (var message in messages.Items)
        {
            if (message.Recalled || (since is { } from && message.SentAt < from))
            {
                continue;
            }

            if (await directory.LocalPartAsync(long.Parse(message.SenderId, CultureInfo.InvariantCulture), cancellationToken) is { } sender)
            {
                stream.Send(MucOutbound.GroupchatStanza(stream.FullJid, room.RoomJid, sender, MucOutbound.ToJson(message), null, delayed: true));
            }
        }
    }

    private static string OccupantPresence(string to, string from, string realJid, string parleyRole, IReadOnlyList<int> codes, string? id = null)
    {
        var (affiliation, role) = MucRooms.MucRole(parleyRole);
        var xml = new StringBuilder("<presence");
        if (id is not null)
        {
            xml.Append(" id='").Append(XmppWriter.Esc(id)).Append('\'');
        }

        xml.Append(XmppWriter.Addr(to, from)).Append("><x xmlns='").Append(MucRooms.MucUserNs).Append("'><item affiliation='").Append(affiliation)
            .Append("' role='").Append(role).Append("' jid='").Append(XmppWriter.Esc(realJid)).Append("'/>");
        foreach (var code in codes)
        {
            xml.Append("<status code='").Append(code.ToString(CultureInfo.InvariantCulture)).Append("'/>");
        }

        return xml.Append("</x></presence>").ToString();
    }

    private static void Error(XmppStream stream, string? id, string from, string type, string condition, string text) =>
        stream.Send($"<presence type='error'{(id is null ? "" : $" id='{XmppWriter.Esc(id)}'")}{XmppWriter.Addr(stream.FullJid, from)}><x xmlns='{MucRooms.MucNs}'/>{XmppWriter.StanzaError(type, condition, text)}</presence>");
}

/// <summary>
/// <c>&lt;message type='groupchat' to='room@conference.&lt;domain&gt;' id='X'&gt;&lt;body&gt;</c> from a stream that joined
/// the room -> the same <c>send</c> frame a WebSocket member writes (clientMsgId = the stanza id), through the one
/// dispatcher; <see cref="SentFrameTranslator"/> reflects it with the same id, errors come back from the room.
/// Anything else to the conference service (private messages to occupants, subject changes) is refused.
/// </summary>
public sealed class MucMessageHandler : IXmppStanzaHandler
{
    public string Stanza => "message";

    public int Order => 50;

    public IEnumerable<string> Features => [];

    public async ValueTask<bool> HandleAsync(XmppStream stream, XElement message, CancellationToken cancellationToken)
    {
        if (!Jid.TryParse((string?)message.Attribute("to"), out var to) || !MucRooms.IsService(stream, to.Domain))
        {
            return false;
        }

        var id = (string?)message.Attribute("id");
        var type = (string?)message.Attribute("type");
        var to2 = to.ToString();
        if (type == "error")
        {
            return true;
        }

        var room = to.Local is null ? null : MucStreamRooms.Of(stream).FindByJid($"{to.Local}@{to.Domain}");
        if (room is null)
        {
            Refuse(stream, id, to2, "cancel", "not-acceptable", "join the room first");
            return true;
        }

        if (type != "groupchat" || to.Resource is not null)
        {
            Refuse(stream, id, to2, "cancel", "feature-not-implemented", "private messages in rooms are not offered; write the user's bare JID");
            return true;
        }

        var body = message.Element(XName.Get("body", XmlStanzaReader.ClientNamespace))?.Value;
        if (body is null)
        {
            if (message.Element(XName.Get("subject", XmlStanzaReader.ClientNamespace)) is not null)
            {
                Refuse(stream, id, to2, "auth", "forbidden", "the subject is the group's announcement (PATCH /api/groups/{id})");
            }

            return true; // chat states and the like: nothing to send
        }

        await stream.DispatchAsync(ChatMessageHandler.SendFrame(SendRef.Make(room.RoomJid, id ?? ""), Ids.Format(room.ConversationId), ChatMessageHandler.ClientMsgId(id), body), cancellationToken);
        return true;
    }

    private static void Refuse(XmppStream stream, string? id, string from, string type, string condition, string text) =>
        stream.Send($"<message type='error'{(id is null ? "" : $" id='{XmppWriter.Esc(id)}'")}{XmppWriter.Addr(stream.FullJid, from)}>{XmppWriter.StanzaError(type, condition, text)}</message>");
}
