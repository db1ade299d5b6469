using System.Xml.Linq;

namespace Parley.Server.Xmpp;

/// <summary>
/// An <c>iq</c> get/set handler for one payload namespace (XEP-0199 <c>urn:xmpp:ping</c>, XEP-0030 disco#info,
/// roster, MAM...). Register with <c>services.AddSingleton&lt;IXmppIqHandler, MyHandler&gt;()</c>: the router
/// finds it by <see cref="Namespace"/>, and disco#info lists its <see cref="Features"/>.
/// </summary>
public interface IXmppIqHandler
{
    string Namespace { get; }

    /// <summary>The disco#info <c>var</c>s this handler adds (usually its namespace).</summary>
    IEnumerable<string> Features { get; }

    /// <summary>Answers <paramref name="iq"/> (one result or error, through <see cref="XmppStream.Send"/>); <paramref name="payload"/> is its one child.</summary>
    ValueTask HandleAsync(XmppStream stream, XElement iq, XElement payload, CancellationToken cancellationToken);
}

/// <summary>
/// A <c>message</c> or <c>presence</c> handler. The router offers each stanza to the handlers of its kind in
/// <see cref="Order"/> (lower first) until one returns true; one that returns false leaves it to the next. A
/// handler of an extension inside messages (receipts, markers, chat states, carbons) takes what it knows and
/// returns false when the message also carries a body, so the chat handler still sends it.
/// </summary>
public interface IXmppStanzaHandler
{
    /// <summary><c>message</c> or <c>presence</c>.</summary>
    string Stanza { get; }

    int Order { get; }

    IEnumerable<string> Features { get; }

    ValueTask<bool> HandleAsync(XmppStream stream, XElement stanza, CancellationToken cancellationToken);
}

/// <summary>
/// A top-level element that is no stanza (a "nonza": XEP-0198's <c>&lt;r/&gt;</c>/<c>&lt;a/&gt;</c>/<c>&lt;enable/&gt;</c>),
/// by its namespace; unknown ones end the stream with <c>unsupported-stanza-type</c>.
/// </summary>
public interface IXmppNonzaHandler
{
    string Namespace { get; }

    /// <summary>Stream features this handler offers after bind (XML, e.g. <c>&lt;sm xmlns='urn:xmpp:sm:3'/&gt;</c>), or null.</summary>
    string? StreamFeature { get; }

    ValueTask HandleAsync(XmppStream stream, XElement element, CancellationToken cancellationToken);
}

/// <summary>The one stanza router of a bound stream: iq by payload namespace, message and presence by ordered handlers.</summary>
public sealed class XmppRouter
{
    private readonly Dictionary<string, IXmppIqHandler> _iq;
    private readonly IXmppStanzaHandler[] _messages;
    private readonly IXmppStanzaHandler[] _presences;
    private readonly Dictionary<string, IXmppNonzaHandler> _nonzas;

    public XmppRouter(IEnumerable<IXmppIqHandler> iq, IEnumerable<IXmppStanzaHandler> stanzas, IEnumerable<IXmppNonzaHandler> nonzas)
    {
        _iq = iq.ToDictionary(h => h.Namespace, StringComparer.Ordinal);
        var all = stanzas.ToList();
        _messages = [.. all.Where(h => h.Stanza == "message").OrderBy(h => h.Order)];
        _presences = [.. all.Where(h => h.Stanza == "presence").OrderBy(h => h.Order)];
        _nonzas = nonzas.ToDictionary(h => h.Namespace, StringComparer.Ordinal);
        Features = [.. _iq.Values.SelectMany(h => h.Features).Concat(all.SelectMany(h => h.Features)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        StreamFeatures = string.Concat(_nonzas.Values.Select(h => h.StreamFeature ?? ""));
    }

    /// <summary>Every feature the handlers declare, for disco#info.</summary>
    public IReadOnlyList<string> Features { get; }

    /// <summary>What the nonza handlers add to the post-bind stream features.</summary>
    public string StreamFeatures { get; }

    /// <summary>False: the element is no stanza this router knows; the stream ends with <c>unsupported-stanza-type</c>.</summary>
    public async ValueTask<bool> RouteAsync(XmppStream stream, XElement element, CancellationToken cancellationToken)
    {
        if (element.Name.NamespaceName != XmlStanzaReader.ClientNamespace)
        {
            if (_nonzas.TryGetValue(element.Name.NamespaceName, out var nonza))
            {
                await nonza.HandleAsync(stream, element, cancellationToken);
                return true;
            }

            return false;
        }

        switch (element.Name.LocalName)
        {
            case "iq":
                await IqAsync(stream, element, cancellationToken);
                return true;
            case "message":
                await OfferAsync(_messages, stream, element, cancellationToken);
                return true;
            case "presence":
                await OfferAsync(_presences, stream, element, cancellationToken);
                return true;
            default:
                return false;
        }
    }

    private static async ValueTask OfferAsync(IXmppStanzaHandler[] handlers, XmppStream stream, XElement stanza, CancellationToken cancellationToken)
    {
        foreach (var handler in handlers)
        {
            if (await handler.HandleAsync(stream, stanza, cancellationToken))
            {
                return;
            }
        }

        // Nobody took it: a message with nothing Parley maps is dropped (RFC 6121 8.5.2 lets a server do so for
        // content it does not support); an error would make clients retry it.
    }

    private async ValueTask IqAsync(XmppStream stream, XElement iq, CancellationToken cancellationToken)
    {
        var id = (string?)iq.Attribute("id");
        var type = (string?)iq.Attribute("type");
        if (type is "result" or "error")
        {
            return; // an answer to the server's own ping (the bytes already counted as traffic)
        }

        var payloads = iq.Elements().ToList();
        if (id is null || type is not ("get" or "set") || payloads.Count != 1)
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, null, "modify", "bad-request"));
            return;
        }

        var to = (string?)iq.Attribute("to");
        var payload = payloads[0];
        // Addressed to the server (no 'to', the domain, or the user's own bare JID): handled here. Other addressees
        // (another user's resource, a MUC room) are the next stages' (a handler may look at 'to' itself).
        if (_iq.TryGetValue(payload.Name.NamespaceName, out var handler))
        {
            await handler.HandleAsync(stream, iq, payload, cancellationToken);
            return;
        }

        stream.Send(XmppWriter.IqError(id, stream.FullJid, to, "cancel", "service-unavailable"));
    }
}
