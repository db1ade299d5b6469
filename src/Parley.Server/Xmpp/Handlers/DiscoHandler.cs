using System.Text;
using System.Xml.Linq;

namespace Parley.Server.Xmpp.Handlers;

/// <summary>
/// XEP-0030 disco#info of the server: one identity and every feature the registered handlers declare
/// (<see cref="XmppRouter.Features"/>), so a handler added in its own file shows up here without an edit.
/// disco#items answers an empty list until MUC (next stage) lists the conference service.
/// </summary>
public sealed class DiscoHandler(IServiceProvider services) : IXmppIqHandler
{
    public const string InfoNs = "http://jabber.org/protocol/disco#info";

    public string Namespace => InfoNs;

    public IEnumerable<string> Features => [InfoNs];

    public async ValueTask HandleAsync(XmppStream stream, XElement iq, XElement payload, CancellationToken cancellationToken)
    {
        var id = (string)iq.Attribute("id")!;
        var to = (string?)iq.Attribute("to");
        if ((string?)iq.Attribute("type") != "get")
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, to, "cancel", "bad-request"));
            return;
        }

        // xmuc: the conference service and its rooms.
        if (services.GetService<MucDisco>() is { } muc && await muc.InfoAsync(stream, id, to, cancellationToken))
        {
            return;
        }

        if (to is not null && to != stream.Domain && !to.StartsWith(stream.BareJid, StringComparison.Ordinal))
        {
            stream.Send(XmppWriter.IqError(id, stream.FullJid, to, "cancel", "service-unavailable")); // other entities: next stages
            return;
        }

        var router = services.GetRequiredService<XmppRouter>(); // resolved late: the router holds this handler
        var xml = new StringBuilder($"<query xmlns='{InfoNs}'>");
        xml.Append(to is null || to == stream.Domain ? "<identity category='server' type='im' name='Parley'/>" : "<identity category='account' type='registered'/>");
        foreach (var feature in router.Features)
        {
            xml.Append("<feature var='").Append(XmppWriter.Esc(feature)).Append("'/>");
        }

        xml.Append("</query>");
        stream.Send(XmppWriter.IqResult(id, stream.FullJid, to, xml.ToString()));
    }
}

/// <summary>XEP-0030 disco#items: the conference service and its rooms (<see cref="MucDisco"/>), else an empty list.</summary>
public sealed class DiscoItemsHandler(IServiceProvider services) : IXmppIqHandler
{
    public const string ItemsNs = "http://jabber.org/protocol/disco#items";

    public string Namespace => ItemsNs;

    public IEnumerable<string> Features => [ItemsNs];

    public async ValueTask HandleAsync(XmppStream stream, XElement iq, XElement payload, CancellationToken cancellationToken)
    {
        // xmuc: the conference service on the server, the user's groups on the service.
        if (services.GetService<MucDisco>() is { } muc && await muc.ItemsAsync(stream, (string)iq.Attribute("id")!, (string?)iq.Attribute("to"), cancellationToken))
        {
            return;
        }

        stream.Send(XmppWriter.IqResult((string)iq.Attribute("id")!, stream.FullJid, (string?)iq.Attribute("to"), $"<query xmlns='{ItemsNs}'/>"));
    }
}

/// <summary>RFC 3921's session establishment, which old clients still send: a no-op result (RFC 6121 dropped it).</summary>
public sealed class SessionHandler : IXmppIqHandler
{
    public string Namespace => XmppWriter.SessionNamespace;

    public IEnumerable<string> Features => [];

    public ValueTask HandleAsync(XmppStream stream, XElement iq, XElement payload, CancellationToken cancellationToken)
    {
        stream.Send(XmppWriter.IqResult((string)iq.Attribute("id")!, stream.FullJid, null));
        return ValueTask.CompletedTask;
    }
}
