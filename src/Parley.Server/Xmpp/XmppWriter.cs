namespace Parley.Server.Xmpp;

/// <summary>The fixed pieces of XML the gateway writes (headers, features, errors); values are escaped here.</summary>
public static class XmppWriter
{
    public const string SaslNamespace = "urn:ietf:params:xml:ns:xmpp-sasl";
    public const string TlsNamespace = "urn:ietf:params:xml:ns:xmpp-tls";
    public const string BindNamespace = "urn:ietf:params:xml:ns:xmpp-bind";
    public const string SessionNamespace = "urn:ietf:params:xml:ns:xmpp-session";
    public const string StanzasNamespace = "urn:ietf:params:xml:ns:xmpp-stanzas";
    public const string StreamsErrorNamespace = "urn:ietf:params:xml:ns:xmpp-streams";

    public static string Esc(string value) => Jid.Escape(value);

    /// <summary>The server's stream header (RFC 6120 4.7), answering the client's.</summary>
    public static string StreamHeader(string domain, string streamId) =>
        $"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='{Esc(streamId)}' from='{Esc(domain)}' version='1.0' xml:lang='en'>";

    /// <summary>A stream error and the end of the stream (RFC 6120 4.9).</summary>
    public static string StreamError(string condition, string? text = null) =>
        $"<stream:error><{condition} xmlns='{StreamsErrorNamespace}'/>"
        + (string.IsNullOrEmpty(text) ? "" : $"<text xmlns='{StreamsErrorNamespace}'>{Esc(text)}</text>")
        + "</stream:error></stream:stream>";

    /// <summary>A stanza error child (RFC 6120 8.3): <c>type</c> is cancel, continue, modify, auth or wait.</summary>
    public static string StanzaError(string type, string condition, string? text = null) =>
        $"<error type='{type}'><{condition} xmlns='{StanzasNamespace}'/>"
        + (string.IsNullOrEmpty(text) ? "" : $"<text xmlns='{StanzasNamespace}'>{Esc(text)}</text>")
        + "</error>";

    /// <summary>An <c>iq</c> result; <paramref name="payload"/> is XML already escaped, or null for an empty result.</summary>
    public static string IqResult(string id, string? to, string? from, string? payload = null) =>
        $"<iq type='result' id='{Esc(id)}'{Addr(to, from)}" + (payload is null ? "/>" : $">{payload}</iq>");

    public static string IqError(string? id, string? to, string? from, string type, string condition, string? text = null) =>
        $"<iq type='error'{(id is null ? "" : $" id='{Esc(id)}'")}{Addr(to, from)}>{StanzaError(type, condition, text)}</iq>";

    public static string Addr(string? to, string? from) =>
        (to is null ? "" : $" to='{Esc(to)}'") + (from is null ? "" : $" from='{Esc(from)}'");
}
