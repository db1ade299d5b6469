using System.Globalization;
using System.Text;
using System.Text.Json;
using Parley.Server.Messaging;
using Parley.Server.Xmpp.Handlers;

namespace Parley.Server.Xmpp;

/// <summary>
/// Group messages as XEP-0045 <c>groupchat</c> stanzas, for the streams that joined the room: from
/// <c>room/&lt;sender's username&gt;</c>, id = the clientMsgId, a XEP-0359 stanza-id <c>conversationId:seq</c> by the room.
/// Called from <see cref="MessageFrameTranslator"/> for every message of a group conversation.
/// </summary>
public sealed class MucOutbound(XmppDirectory directory)
{
    public async ValueTask<string?> TranslateAsync(XmppStream stream, long conversationId, long senderId, JsonElement message)
    {
        if (!MucStreamRooms.Of(stream).ByConversation.TryGetValue(conversationId, out var room))
        {
            return null; // the stream did not join this room (or left it): nothing, as for an XMPP user outside a room
        }

        if (await directory.LocalPartAsync(senderId, CancellationToken.None) is not { } nick)
        {
            return null;
        }

        return GroupchatStanza(stream.FullJid, room.RoomJid, nick, message, null, delayed: false);
    }

    /// <summary>A group message as a groupchat stanza (history on join and reflections too); null for a recalled one when <paramref name="delayed"/>.</summary>
    public static string GroupchatStanza(string to, string roomJid, string nick, JsonElement message, string? id, bool delayed)
    {
        var seq = message.GetProperty("seq").GetInt64();
        var conversationId = message.GetProperty("conversationId").GetString()!;
        id ??= message.TryGetProperty("clientMsgId", out var c) && c.GetString() is { Length: > 0 } cid ? cid : $"{conversationId}:{seq}";
        var xml = new StringBuilder();
        xml.Append("<message type='groupchat' id='").Append(XmppWriter.Esc(id)).Append('\'').Append(XmppWriter.Addr(to, $"{roomJid}/{nick}")).Append('>');
        if (MessageFrameTranslator.Body(message) is { } text)
        {
            xml.Append("<body>").Append(XmppWriter.Esc(text)).Append("</body>");
        }

        if (delayed)
        {
            xml.Append("<delay xmlns='urn:xmpp:delay' stamp='").Append(Stamp(message.GetProperty("sentAt").GetInt64())).Append("' from='").Append(XmppWriter.Esc(roomJid)).Append("'/>");
        }

        xml.Append("<stanza-id xmlns='").Append(MessageFrameTranslator.StanzaIdNamespace).Append("' id='").Append(XmppWriter.Esc($"{conversationId}:{seq}"))
            .Append("' by='").Append(XmppWriter.Esc(roomJid)).Append("'/></message>");
        return xml.ToString();
    }

    /// <summary>XEP-0082 date-time of a Unix-millisecond time.</summary>
    public static string Stamp(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static JsonElement ToJson(MessageDto message) => JsonSerializer.SerializeToElement(message, Parley.Server.Http.ParleyJson.Default.MessageDto);
}

/// <summary>
/// <c>{type:"sent", ref, message}</c> answering a groupchat send: the reflection XEP-0045 7.2.3 requires, to the
/// sending resource, with the stanza's own id. Other <c>sent</c> frames have no XMPP form and are dropped.
/// </summary>
public sealed class SentFrameTranslator : IXmppFrameTranslator
{
    public string FrameType => "sent";

    public ValueTask<string?> TranslateAsync(XmppStream stream, JsonElement frame)
    {
        if (!frame.TryGetProperty("ref", out var r) || r.ValueKind != JsonValueKind.String || !SendRef.TryParse(r.GetString(), out var to, out var stanzaId)
            || !Jid.TryParse(to, out var roomJid) || !MucRooms.IsService(stream, roomJid.Domain))
        {
            return ValueTask.FromResult<string?>(null);
        }

        var message = frame.GetProperty("message");
        var conversationId = long.Parse(message.GetProperty("conversationId").GetString()!, CultureInfo.InvariantCulture);
        if (!MucStreamRooms.Of(stream).ByConversation.TryGetValue(conversationId, out var room))
        {
            return ValueTask.FromResult<string?>(null); // left the room meanwhile
        }

        return ValueTask.FromResult<string?>(MucOutbound.GroupchatStanza(stream.FullJid, room.RoomJid, room.Nick, message, stanzaId.Length > 0 ? stanzaId : null, delayed: false));
    }
}
