using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Parley.Server.Xmpp.Social;

/// <summary>
/// One <c>notify</c> kind's XMPP form. The <c>notify</c> frame has one translator (<see cref="NotifyFrameTranslator"/>)
/// that hands each kind to its <see cref="IXmppNotifyTranslator"/>, so parts add kinds without sharing a file
/// (register with <c>services.AddSingleton&lt;IXmppNotifyTranslator, T&gt;()</c>).
/// </summary>
public interface IXmppNotifyTranslator
{
    IEnumerable<string> Kinds { get; }

    ValueTask<string?> TranslateAsync(XmppStream stream, string kind, JsonElement data);
}

public sealed class NotifyFrameTranslator(IEnumerable<IXmppNotifyTranslator> kinds) : IXmppFrameTranslator
{
    private readonly Dictionary<string, IXmppNotifyTranslator> _byKind = kinds.SelectMany(t => t.Kinds.Select(k => (k, t))).ToDictionary(p => p.k, p => p.t, StringComparer.Ordinal);

    public string FrameType => "notify";

    public ValueTask<string?> TranslateAsync(XmppStream stream, JsonElement frame) =>
        frame.TryGetProperty("kind", out var kind) && kind.GetString() is { } name && _byKind.TryGetValue(name, out var translator)
        && frame.TryGetProperty("data", out var data)
            ? translator.TranslateAsync(stream, name, data)
            : ValueTask.FromResult<string?>(null);
}

/// <summary>
/// Friend events -> roster and subscription stanzas: <c>friend.request</c> to the user -> <c>&lt;presence
/// type='subscribe'&gt;</c> from the requester (its message as the status); <c>friend.accepted</c> -> a roster push
/// of the friend (subscription both), <c>&lt;presence type='subscribed'&gt;</c> for the side that asked, and the
/// friend's presence when the stream is available and the friend online; <c>friend.removed</c> -> a roster push
/// with subscription remove and the friend's unavailable presence.
/// </summary>
public sealed class FriendNotifyTranslator(XmppSocial xmpp) : IXmppNotifyTranslator
{
    public IEnumerable<string> Kinds => ["friend.request", "friend.accepted", "friend.removed"];

    public async ValueTask<string?> TranslateAsync(XmppStream stream, string kind, JsonElement data)
    {
        var me = stream.Caller.UserId;
        if (kind == "friend.removed")
        {
            var other = Id(data, "userId");
            if (await xmpp.JidAsync(stream, other) is not { } removed)
            {
                return null;
            }

            return XmppSocial.RosterPush(stream, removed, null, "remove") + $"<presence type='unavailable'{XmppWriter.Addr(stream.FullJid, removed)}/>";
        }

        var from = Id(data, "fromUserId");
        var to = Id(data, "toUserId");
        if (kind == "friend.request")
        {
            if (to != me || await xmpp.JidAsync(stream, from) is not { } requester)
            {
                return null;
            }

            var status = data.TryGetProperty("message", out var m) && m.GetString() is { Length: > 0 } text ? $"<status>{XmppWriter.Esc(text)}</status>" : "";
            return $"<presence type='subscribe'{XmppWriter.Addr(stream.BareJid, requester)}>{status}</presence>";
        }

        var friendId = from == me ? to : from;
        var profile = data.GetProperty(from == me ? "to" : "from");
        if (await xmpp.JidAsync(stream, friendId) is not { } friend)
        {
            return null;
        }

        var name = profile.TryGetProperty("nickname", out var n) ? n.GetString() : null;
        var xml = new StringBuilder(XmppSocial.RosterPush(stream, friend, name, "both"));
        if (from == me)
        {
            xml.Append("<presence type='subscribed'").Append(XmppWriter.Addr(stream.FullJid, friend)).Append("/>");
        }

        if (SocialState.Of(stream).Available && (await xmpp.OnlineAmongAsync([friendId])).Contains(friendId))
        {
            xml.Append(XmppSocial.Presence(stream, friend, online: true));
        }

        return xml.ToString();
    }

    private static long Id(JsonElement data, string name) => long.Parse(data.GetProperty(name).GetString()!, CultureInfo.InvariantCulture);
}
