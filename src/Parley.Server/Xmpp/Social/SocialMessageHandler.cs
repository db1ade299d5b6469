using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using Parley.Storage.Messaging;

namespace Parley.Server.Xmpp.Social;

/// <summary>
/// The extensions inside a chat message to a friend: XEP-0085 <c>&lt;composing/&gt;</c> -> a <c>typing</c> frame
/// (the dispatcher keeps it to one a second per conversation; <c>paused</c>/<c>active</c>/<c>inactive</c>/<c>gone</c>
/// have no Parley form: typing ends by itself); XEP-0333 <c>&lt;displayed/&gt;</c> (and <c>acknowledged</c>) -> a
/// <c>read</c> frame up to that message; XEP-0184 <c>&lt;received/&gt;</c> and the XEP-0333 <c>received</c> marker
/// -> an <c>ack</c> frame (delivered to this device, not read). A message with a body is left to the chat handler
/// (its receipt request is remembered for the receipt sent on the peer's read).
/// </summary>
public sealed class SocialMessageHandler(XmppSocial xmpp, MessageStore messages) : IXmppStanzaHandler
{
    public string Stanza => "message";

    public int Order => 50;

    public IEnumerable<string> Features => [XmppSocial.ChatStatesNs, XmppSocial.MarkersNs, XmppSocial.ReceiptsNs];

    public async ValueTask<bool> HandleAsync(XmppStream stream, XElement message, CancellationToken cancellationToken)
    {
        var type = (string?)message.Attribute("type") ?? "normal";
        if (type is not ("chat" or "normal"))
        {
            return false;
        }

        if (message.Element(XName.Get("body", XmlStanzaReader.ClientNamespace)) is not null)
        {
            if (message.Element(XName.Get("request", XmppSocial.ReceiptsNs)) is not null && (string?)message.Attribute("id") is { Length: > 0 } id)
            {
                SocialState.Of(stream).ReceiptRequested(Handlers.ChatMessageHandler.ClientMsgId(id));
            }

            return false; // the chat handler sends it
        }

        var composing = message.Element(XName.Get("composing", XmppSocial.ChatStatesNs)) is not null;
        var displayed = message.Element(XName.Get("displayed", XmppSocial.MarkersNs)) ?? message.Element(XName.Get("acknowledged", XmppSocial.MarkersNs));
        var received = message.Element(XName.Get("received", XmppSocial.ReceiptsNs)) ?? message.Element(XName.Get("received", XmppSocial.MarkersNs));
        if (!composing && displayed is null && received is null)
        {
            // Other chat states, <markable/> alone...: nothing Parley maps (dropped as the router drops them). A
            // <carbons private> or groupchat is not ours either.
            return message.Elements().Any(e => e.Name.NamespaceName == XmppSocial.ChatStatesNs);
        }

        if (await xmpp.PeerAsync(stream, (string?)message.Attribute("to"), cancellationToken) is not { } peer
            || await xmpp.ConversationAsync(stream, peer.Id, cancellationToken) is not { } conversationId)
        {
            return true; // strangers, unknown users: no typing or read for them (and no error: clients send these unasked)
        }

        if (composing)
        {
            await stream.DispatchAsync(Frame("typing", conversationId, null), cancellationToken);
        }

        if (displayed is not null && await SeqAsync(conversationId, peer.Id, (string?)displayed.Attribute("id"), cancellationToken) is { } readSeq)
        {
            await stream.DispatchAsync(Frame("read", conversationId, readSeq), cancellationToken);
        }

        if (received is not null && await SeqAsync(conversationId, peer.Id, (string?)received.Attribute("id"), cancellationToken) is { } ackSeq)
        {
            await stream.DispatchAsync(Frame("ack", conversationId, ackSeq), cancellationToken);
        }

        return true;
    }

    /// <summary>
    /// The seq a marker's id names: the stanza-id <c>conversationId:seq</c>, or the id of the peer's message (its clientMsgId).
    /// </summary>
    private async ValueTask<long?> SeqAsync(string conversationId, long peerId, string? id, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(id))
        {
            return null;
        }

        var colon = id.LastIndexOf(':');
        if (colon > 0 && id.AsSpan(0, colon).SequenceEqual(conversationId)
            && long.TryParse(id.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var seq) && seq > 0)
        {
            return seq;
        }

        try
        {
            var row = await messages.FindByClientIdAsync(peerId, id, cancellationToken);
            return row is not null && Parley.Storage.Ids.Format(row.ConversationId) == conversationId ? row.Seq : null;
        }
        catch (Exception e) when (Parley.Storage.Database.IsUnavailable(e))
        {
            return null; // a marker is not worth an error; the next one catches up
        }
    }

    private static byte[] Frame(string type, string conversationId, long? seq)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", type);
            json.WriteString("conversationId", conversationId);
            if (seq is { } s)
            {
                json.WriteNumber("seq", s);
            }

            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
