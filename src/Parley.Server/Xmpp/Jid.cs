namespace Parley.Server.Xmpp;

/// <summary>A JID (RFC 7622) split into its parts; Parley's are <c>username@domain/deviceId</c>.</summary>
public readonly record struct Jid(string? Local, string Domain, string? Resource)
{
    public string Bare => Local is null ? Domain : $"{Local}@{Domain}";

    public override string ToString() => Resource is null ? Bare : $"{Bare}/{Resource}";

    /// <summary>Parses a JID; false for an empty or malformed one.</summary>
    public static bool TryParse(string? value, out Jid jid)
    {
        jid = default;
        if (string.IsNullOrEmpty(value) || value.Length > 3071)
        {
            return false;
        }

        var slash = value.IndexOf('/');
        var resource = slash >= 0 ? value[(slash + 1)..] : null;
        var bare = slash >= 0 ? value[..slash] : value;
        var at = bare.IndexOf('@');
        var local = at >= 0 ? bare[..at] : null;
        var domain = at >= 0 ? bare[(at + 1)..] : bare;
        if (domain.Length == 0 || local is { Length: 0 } || resource is { Length: 0 } || domain.Contains('@'))
        {
            return false;
        }

        jid = new Jid(local, domain, resource);
        return true;
    }

    /// <summary>
    /// XML-escapes a value for an attribute or text. A character XML 1.0 forbids even as a reference (a control
    /// character other than tab and line breaks, U+FFFE, U+FFFF, a lone surrogate: JSON, hence a WebSocket user's text,
    /// allows them all) becomes U+FFFD, so no value can make the stream not-well-formed for the client reading it.
    /// </summary>
    public static string Escape(string value)
    {
        var escaped = System.Security.SecurityElement.Escape(value);
        return XmlSafe(escaped) ? escaped : string.Create(escaped.Length, escaped, static (span, text) =>
        {
            for (var i = 0; i < text.Length; i++)
            {
                var c = text[i];
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    span[i] = c;
                    span[++i] = text[i];
                }
                else
                {
                    span[i] = System.Xml.XmlConvert.IsXmlChar(c) ? c : '\uFFFD';
                }
            }
        });
    }

    private static bool XmlSafe(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (!System.Xml.XmlConvert.IsXmlChar(c))
            {
                return false;
            }
        }

        return true;
    }
}
