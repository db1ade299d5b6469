using System.Globalization;
using System.Text;
using System.Text.Json;
using Parley.Server.Messaging;

namespace Parley.Server.Xmpp;

/// <summary>
/// <c>{type:"message", message}</c> -> <c>&lt;message type='chat'&gt;</c> from the sender's bare JID, with the
/// Parley message as a XEP-0359 stanza-id (<c>conversationId:seq</c>, what MAM pages by) and XEP-0333 markable. The
/// user's own messages from other devices are XEP-0280 carbons (<see cref="Social.Carbons"/>); group messages go to
/// <see cref="MucOutbound"/> (XEP-0045).
/// </summary>
public sealed class MessageFrameTranslator(ConversationViews views, XmppDirectory directory, Social.XmppSocial social, MucOutbound muc) : IXmppFrameTranslator
{
    public const string StanzaIdNamespace = "urn:xmpp:sid:0";

    public string FrameType => "message";

    public async ValueTask<string?> TranslateAsync(XmppStream stream, JsonElement frame)
    {
        var message = frame.GetProperty("message");
        var conversationId = message.GetProperty("conversationId").GetString()!;
        var senderId = long.Parse(message.GetProperty("senderId").GetString()!, CultureInfo.InvariantCulture);
        // xmuc: group messages (the user's own from other devices too) as groupchat to the streams in the room.
        if (await views.GetAsync(long.Parse(conversationId, CultureInfo.InvariantCulture), CancellationToken.None) is { IsDirect: false } group)
        {
            return await muc.TranslateAsync(stream, group.Id, senderId, message);
        }

        if (senderId == stream.Caller.UserId)
        {
            return await Social.Carbons.SentAsync(stream, message, social, views); // XEP-0280 (Xmpp/Social)
        }

        var view = await views.GetAsync(long.Parse(conversationId, CultureInfo.InvariantCulture), CancellationToken.None);
        if (view is null || !view.IsDirect)
        {
            return null;
        }

        if (await directory.LocalPartAsync(senderId, CancellationToken.None) is not { } sender)
        {
            return null;
        }

        stream.RememberConversation(senderId, conversationId);
        return ChatStanza(stream, $"{sender}@{stream.Domain}", message);
    }

    /// <summary>A Parley message as a chat stanza to this stream's resource (also for carbons and MAM results).</summary>
    public static string ChatStanza(XmppStream stream, string from, JsonElement message, string? to = null)
    {
        var seq = message.GetProperty("seq").GetInt64();
        var conversationId = message.GetProperty("conversationId").GetString()!;
        var id = message.TryGetProperty("clientMsgId", out var c) && c.GetString() is { Length: > 0 } cid ? cid : $"{conversationId}:{seq}";
        var body = new StringBuilder();
        body.Append("<message type='chat' id='").Append(XmppWriter.Esc(id)).Append('\'').Append(XmppWriter.Addr(to ?? stream.FullJid, from)).Append('>');
        if (Body(message) is { } text)
        {
            body.Append("<body>").Append(XmppWriter.Esc(text)).Append("</body>");
        }

        body.Append("<stanza-id xmlns='").Append(StanzaIdNamespace).Append("' id='").Append(XmppWriter.Esc($"{conversationId}:{seq}"))
            .Append("' by='").Append(XmppWriter.Esc(stream.BareJid)).Append("'/><markable xmlns='urn:xmpp:chat-markers:0'/></message>");
        return body.ToString();
    }

    /// <summary>The text an XMPP client shows: a text message's text, a placeholder for other types, none when recalled.</summary>
    public static string? Body(JsonElement message)
    {
        if (message.TryGetProperty("recalled", out var recalled) && recalled.ValueKind == JsonValueKind.True)
        {
            return null;
        }

        var type = message.GetProperty("type").GetString();
        if (type == "text" && message.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Object
            && content.TryGetProperty("text", out var text))
        {
            return text.GetString();
        }

        return $"[{type}]"; // files, images, locations...: the next stage maps them (XEP-0066 OOB, geoloc)
    }
}

/// <summary>
/// <c>{type:"error", ref}</c> answering a send the chat handler made -> <c>&lt;message type='error'&gt;</c> with the
/// stanza's id, from the peer it was addressed to (RFC 6120 8.3). Errors without such a ref are dropped.
/// </summary>
public sealed class ErrorFrameTranslator : IXmppFrameTranslator
{
    public string FrameType => "error";

    public ValueTask<string?> TranslateAsync(XmppStream stream, JsonElement frame)
    {
        if (!frame.TryGetProperty("ref", out var r) || r.ValueKind != JsonValueKind.String || !SendRef.TryParse(r.GetString(), out var to, out var stanzaId))
        {
            return ValueTask.FromResult<string?>(null);
        }

        var code = frame.TryGetProperty("code", out var c) ? c.GetString() ?? "" : "";
        var text = frame.TryGetProperty("message", out var m) ? m.GetString() : null;
        var (type, condition) = XmppErrors.ForCode(code);
        return ValueTask.FromResult<string?>(
            $"<message type='error' id='{XmppWriter.Esc(stanzaId)}'{XmppWriter.Addr(stream.FullJid, to)}>{XmppWriter.StanzaError(type, condition, $"{code}: {text}")}</message>");
    }
}

/// <summary>
/// The <c>ref</c> of a send frame made from a stanza: <c>x|peer-bare-jid|stanza-id</c>. The dispatcher echoes it
/// untouched on the <c>sent</c> or <c>error</c> answer, so the answer finds its stanza without any table.
/// </summary>
public static class SendRef
{
    public static string Make(string to, string stanzaId) => $"x|{to}|{stanzaId}";

    public static bool TryParse(string? value, out string to, out string stanzaId)
    {
        to = stanzaId = "";
        if (value is null || !value.StartsWith("x|", StringComparison.Ordinal))
        {
            return false;
        }

        var bar = value.IndexOf('|', 2);
        if (bar < 0)
        {
            return false;
        }

        to = value[2..bar];
        stanzaId = value[(bar + 1)..];
        return true;
    }
}

/// <summary>Parley's error codes as RFC 6120 8.3 stanza errors (type, condition).</summary>
public static class XmppErrors
{
    public static (string Type, string Condition) ForCode(string code) => code switch
    {
        "invalid" or "too_large" => ("modify", "not-acceptable"),
        "not_friends" or "blocked" or "forbidden" or "muted" => ("auth", "forbidden"),
        "not_found" => ("cancel", "item-not-found"),
        "rate_limited" => ("wait", "policy-violation"),
        "unavailable" => ("wait", "internal-server-error"),
        "rejected" => ("modify", "not-acceptable"),
        _ => ("cancel", "internal-server-error"),
    };
}
