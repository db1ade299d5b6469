using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using Parley.Protocol;
using Parley.Server.Http;
using Parley.Server.Messaging;

namespace Parley.Server.Xmpp.Handlers;

/// <summary>
/// <c>&lt;message type='chat' to='bob@domain' id='X'&gt;&lt;body&gt;..&lt;/body&gt;&lt;/message&gt;</c> -> a <c>send</c> frame in
/// the direct conversation with Bob (found or made as <c>POST /api/conversations/direct</c> does, so the friendship
/// and block rules are that call's), clientMsgId = the stanza id, through the one dispatcher: a retried id
/// returns the first message, and the <c>error</c> answer comes back as <c>&lt;message type='error'&gt;</c>
/// (<see cref="ErrorFrameTranslator"/>). Messages without a body (chat states, receipts) are left to their
/// handlers; groupchat and MUC addresses to the MUC stage.
/// </summary>
public sealed class ChatMessageHandler(MessagingService messaging, XmppDirectory directory) : IXmppStanzaHandler
{
    public string Stanza => "message";

    public int Order => 100;

    public IEnumerable<string> Features => [];

    public async ValueTask<bool> HandleAsync(XmppStream stream, XElement message, CancellationToken cancellationToken)
    {
        var type = (string?)message.Attribute("type") ?? "normal";
        if (type is not ("chat" or "normal"))
        {
            return false;
        }

        var body = message.Element(XName.Get("body", XmlStanzaReader.ClientNamespace))?.Value;
        if (body is null)
        {
            return false;
        }

        var id = (string?)message.Attribute("id");
        var toText = (string?)message.Attribute("to");
        if (!Jid.TryParse(toText, out var to) || to.Local is null || !string.Equals(to.Domain, stream.Domain, StringComparison.OrdinalIgnoreCase))
        {
            Refuse(stream, id, toText, "cancel", "item-not-found", "unknown recipient"); // s2s federation is not offered
            return true;
        }

        var peer = $"{to.Local.ToLowerInvariant()}@{stream.Domain}";
        if (await directory.UserIdAsync(to.Local, cancellationToken) is not { } peerId || peerId == stream.Caller.UserId)
        {
            Refuse(stream, id, peer, "cancel", "item-not-found", "unknown recipient");
            return true;
        }

        if (!stream.TryGetConversation(peerId, out var conversationId))
        {
            try
            {
                var conversation = await messaging.GetOrCreateDirectAsync(stream.Caller, new DirectBody(Parley.Storage.Ids.Format(peerId)), cancellationToken);
                conversationId = conversation.Id;
                stream.RememberConversation(peerId, conversationId);
            }
            catch (ApiException e)
            {
                var (errorType, condition) = XmppErrors.ForCode(e.Code);
                Refuse(stream, id, peer, errorType, condition, $"{e.Code}: {e.Message}");
                return true;
            }
            catch (Exception e) when (Parley.Storage.Database.IsUnavailable(e))
            {
                // As the dispatcher answers a send then: the client may retry with the same id.
                Refuse(stream, id, peer, "wait", "internal-server-error", "unavailable: the database is not reachable; retry");
                return true;
            }
        }

        await stream.DispatchAsync(SendFrame(SendRef.Make(peer, id ?? ""), conversationId, ClientMsgId(id), body), cancellationToken);
        return true;
    }

    /// <summary>The stanza id as clientMsgId: as it is when it fits, its SHA-256 when longer (so a retry still matches), a fresh one when absent.</summary>
    public static string ClientMsgId(string? stanzaId)
    {
        if (string.IsNullOrEmpty(stanzaId))
        {
            return Guid.NewGuid().ToString("N");
        }

        if (stanzaId.Length <= ProtocolLimits.MaxClientMsgIdLength && !stanzaId.Any(char.IsControl))
        {
            return stanzaId;
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(stanzaId)));
    }

    /// <summary>The JSON <c>send</c> frame a WebSocket client would write.</summary>
    public static byte[] SendFrame(string refValue, string conversationId, string clientMsgId, string text)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + (text.Length * 2));
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", "send");
            json.WriteString("ref", refValue);
            json.WriteString("conversationId", conversationId);
            json.WriteString("clientMsgId", clientMsgId);
            json.WriteString("msgType", "text");
            json.WriteStartObject("content");
            json.WriteString("text", text);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void Refuse(XmppStream stream, string? id, string? from, string type, string condition, string text) =>
        stream.Send($"<message type='error'{(id is null ? "" : $" id='{XmppWriter.Esc(id)}'")}{XmppWriter.Addr(stream.FullJid, from)}>{XmppWriter.StanzaError(type, condition, text)}</message>");
}
