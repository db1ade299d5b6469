using System.Xml.Linq;

namespace Parley.Server.Xmpp.Handlers;

/// <summary>XEP-0199: a client's ping to the server is answered with an empty result (the bytes counted as traffic already).</summary>
public sealed class PingHandler : IXmppIqHandler
{
    public const string Ns = "urn:xmpp:ping";

    public string Namespace => Ns;

    public IEnumerable<string> Features => [Ns];

    public ValueTask HandleAsync(XmppStream stream, XElement iq, XElement payload, CancellationToken cancellationToken)
    {
        stream.Send(XmppWriter.IqResult((string)iq.Attribute("id")!, stream.FullJid, (string?)iq.Attribute("to")));
        return ValueTask.CompletedTask;
    }
}
