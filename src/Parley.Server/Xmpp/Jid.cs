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

    /// <summary>XML-escapes a value for an attribute or text.</summary>
    public static string Escape(string value) => System.Security.SecurityElement.Escape(value);
}
