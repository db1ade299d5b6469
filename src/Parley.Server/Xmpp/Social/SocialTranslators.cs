using System.Globalization;
using System.Text;
using System.Text.Json;
using Parley.Server.Messaging;
using Parley.Storage.Messaging;
using Parley.Storage.Social;

namespace Parley.Server.Xmpp.Social;

/// <summary><c>{type:"presence", userId, online, lastSeenAt}</c> of a friend -> their presence, once the stream sent its initial presence.</summary>
public sealed class PresenceFrameTranslator(XmppSocial xmpp) : IXmppFrameTranslator
{
    public string FrameType => "presence";

    public async ValueTask<string?> TranslateAsync(XmppStream stream, JsonElement frame)
    {
        if (!SocialState.Of(stream).Available)
        {
            return null; // RFC 6121 4.4.2: no presence before the initial presence (which then gets the current state)
        }

        var userId = long.Parse(frame.GetProperty("userId").GetString()!, CultureInfo.InvariantCulture);
        if (await xmpp.JidAsync(stream, userId) is not { } jid)
        {
            return null;
        }

        var online = frame.GetProperty("online").GetBoolean();
        long? lastSeen = frame.TryGetProperty("lastSeenAt", out var at) && at.ValueKind == JsonValueKind.Number ? at.GetInt64() : null;
        return XmppSocial.Presence(stream, jid, online, lastSeen);
    }
}

/// <summary>
/// The friends online now, as available presence: the initial presence's answer, queued by
/// <see cref="PresenceHandler"/> as this pseudo-frame so the writer reads the state in order with the presence
/// frames (only the server queues frames on a connection: no client can send it).
/// </summary>
public sealed class PresenceSnapshotTranslator(XmppSocial xmpp, SocialStore store) : IXmppFrameTranslator
{
    public static readonly byte[] Frame = "{\"type\":\"xmpp.presence-snapshot\"}"u8.ToArray();

    public string FrameType => "xmpp.presence-snapshot";

    public async ValueTask<string?> TranslateAsync(XmppStream stream, JsonElement frame)
    {
        IReadOnlySet<long> online;
        try
        {
            online = await xmpp.OnlineAmongAsync(await store.FriendIdsAsync(stream.Caller.UserId, CancellationToken.None));
        }
        catch (Exception e) when (Parley.Storage.Database.IsUnavailable(e))
        {
            return null; // the presence frames from now on still arrive
        }

        var xml = new StringBuilder();
        foreach (var friend in online)
        {
            if (await xmpp.JidAsync(stream, friend) is { } jid)
            {
                xml.Append(XmppSocial.Presence(stream, jid, online: true));
            }
        }

        return xml.Length > 0 ? xml.ToString() : null;
    }
}

/// <summary><c>{type:"typing", conversationId, userId}</c> in a direct conversation -> a XEP-0085 <c>&lt;composing/&gt;</c> from the peer.</summary>
public sealed class TypingFrameTranslator(XmppSocial xmpp, ConversationViews views) : IXmppFrameTranslator
{
    public string FrameType => "typing";

    public async ValueTask<string?> TranslateAsync(XmppStream stream, JsonElement frame)
    {
        var userId = long.Parse(frame.GetProperty("userId").GetString()!, CultureInfo.InvariantCulture);
        var conversationId = long.Parse(frame.GetProperty("conversationId").GetString()!, CultureInfo.InvariantCulture);
        var view = await views.GetAsync(conversationId, CancellationToken.None);
        if (view is null || !view.IsDirect || userId == stream.Caller.UserId || await xmpp.JidAsync(stream, userId) is not { } jid)
        {
            return null; // group typing is the MUC part's
        }

        return $"<message type='chat'{XmppWriter.Addr(stream.FullJid, jid)}><composing xmlns='{XmppSocial.ChatStatesNs}'/></message>";
    }
}

/// <summary>
/// <c>{type:"read", conversationId, userId, seq}</c> of the peer in a direct conversation -> a XEP-0333
/// <c>&lt;displayed/&gt;</c> marker for the user's latest message at or before seq (its id = the clientMsgId, the
/// stanza id the client sent), plus a XEP-0184 <c>&lt;received/&gt;</c> when that message asked for one. The
/// user's own reads on other devices are not forwarded (no carbon of markers).
/// </summary>
public sealed class ReadFrameTranslator(XmppSocial xmpp, ConversationViews views, MessageStore messages) : IXmppFrameTranslator
{
    private const int LookBack = 20;

    public string FrameType => "read";

    public async ValueTask<string?> TranslateAsync(XmppStream stream, JsonElement frame)
    {
        var userId = long.Parse(frame.GetProperty("userId").GetString()!, CultureInfo.InvariantCulture);
        var conversationText = frame.GetProperty("conversationId").GetString()!;
        var conversationId = long.Parse(conversationText, CultureInfo.InvariantCulture);
        var seq = frame.GetProperty("seq").GetInt64();
        var me = stream.Caller.UserId;
        if (userId == me)
        {
            return null;
        }

        var view = await views.GetAsync(conversationId, CancellationToken.None);
        if (view is null || !view.IsDirect || await xmpp.JidAsync(stream, userId) is not { } jid)
        {
            return null;
        }

        MessageRow? mine;
        try
        {
            var (rows, _) = await messages.ReadAsync(conversationId, me, 0, 0, seq + 1, LookBack, 256 * 1024, CancellationToken.None);
            mine = rows.LastOrDefault(r => r.SenderId == me);
        }
        catch (Exception e) when (Parley.Storage.Database.IsUnavailable(e))
        {
            return null; // the next read marks it
        }

        var state = SocialState.Of(stream);
        if (mine is null || !state.MarkAdvances(conversationText, mine.Seq))
        {
            return null;
        }

        var id = XmppWriter.Esc(mine.ClientMsgId);
        var xml = new StringBuilder();
        xml.Append("<message type='chat'").Append(XmppWriter.Addr(stream.FullJid, jid)).Append('>')
            .Append("<displayed xmlns='").Append(XmppSocial.MarkersNs).Append("' id='").Append(id).Append("'/>");
        if (state.WantsReceipt(mine.ClientMsgId))
        {
            xml.Append("<received xmlns='").Append(XmppSocial.ReceiptsNs).Append("' id='").Append(id).Append("'/>");
        }

        return xml.Append("</message>").ToString();
    }
}

/// <summary>
/// XEP-0280 sent carbons: the user's own message in a direct conversation, sent from another device (the sending
/// connection gets <c>sent</c>, never the <c>message</c> frame, so every own <c>message</c> frame a stream sees
/// came from elsewhere: another XMPP resource, a WebSocket device, or REST), wrapped for a stream that enabled them.
/// </summary>
public static class Carbons
{
    public static async ValueTask<string?> SentAsync(XmppStream stream, JsonElement message, XmppSocial xmpp, ConversationViews views)
    {
        if (!SocialState.Of(stream).Carbons)
        {
            return null;
        }

        var conversationId = long.Parse(message.GetProperty("conversationId").GetString()!, CultureInfo.InvariantCulture);
        var view = await views.GetAsync(conversationId, CancellationToken.None);
        if (view is null || !view.IsDirect)
        {
            return null; // own group messages: the MUC part reflects them
        }

        var me = stream.Caller.UserId;
        var peerId = view.UserLow == me ? view.UserHigh : view.UserLow;
        if (await xmpp.JidAsync(stream, peerId) is not { } peer)
        {
            return null;
        }

        stream.RememberConversation(peerId, Parley.Storage.Ids.Format(conversationId));
        var inner = MessageFrameTranslator.ChatStanza(stream, stream.BareJid, message, to: peer);
        inner = "<message xmlns='jabber:client'" + inner["<message".Length..];
        return $"<message type='chat'{XmppWriter.Addr(stream.FullJid, stream.BareJid)}><sent xmlns='{XmppSocial.CarbonsNs}'><forwarded xmlns='{XmppSocial.ForwardNs}'>{inner}</forwarded></sent></message>";
    }
}
