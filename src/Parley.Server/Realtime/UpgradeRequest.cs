using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Server.Realtime;

/// <summary>What the peek at a connection's first bytes found.</summary>
public enum UpgradePeek
{
    /// <summary>Could still become <c>GET /ws</c>: read more.</summary>
    Incomplete,

    /// <summary>A complete, well-formed WebSocket upgrade of <c>/ws</c> that the lean path takes.</summary>
    Upgrade,

    /// <summary>Anything else (another request, TLS, HTTP/2, an unusual or malformed head): Kestrel's HTTP stack gets it untouched.</summary>
    NotLean,
}

/// <summary>
/// The head of a <c>GET /ws</c> WebSocket upgrade, parsed from a connection's first bytes. Strict on purpose:
/// only the plain, common shape is taken by the lean path; everything unusual (a duplicated header, a body,
/// line folding, HTTP/1.0, another path) is left to Kestrel, so any refusal is Kestrel's and ASP.NET Core's own.
/// </summary>
public sealed class UpgradeRequest
{
    private static readonly byte[] Prefix = "GET /ws"u8.ToArray();

    private UpgradeRequest(int headLength, string? query, string host, string key)
    {
        HeadLength = headLength;
        Query = query;
        Host = host;
        Key = key;
    }

    /// <summary>Bytes of the request line and headers, the blank line included.</summary>
    public int HeadLength { get; }

    /// <summary>The query string with its '?', or null.</summary>
    public string? Query { get; }

    public string Host { get; }

    public string Key { get; }

    public string? Origin { get; private set; }

    public string? Authorization { get; private set; }

    public string? TraceParent { get; private set; }

    public string? TraceState { get; private set; }

    /// <summary>Looks at the start of a connection; <paramref name="maxHeadBytes"/> bounds what is looked at.</summary>
    public static UpgradePeek TryParse(ReadOnlySequence<byte> buffer, int maxHeadBytes, out UpgradeRequest? request)
    {
        request = null;
        var prefix = (int)Math.Min(Prefix.Length, buffer.Length);
        Span<byte> start = stackalloc byte[Prefix.Length];
        buffer.Slice(0, prefix).CopyTo(start);
        if (!start[..prefix].SequenceEqual(Prefix.AsSpan(0, prefix)))
        {
            return UpgradePeek.NotLean;
        }

        var window = buffer.Length > maxHeadBytes ? buffer.Slice(0, maxHeadBytes) : buffer;
        var reader = new SequenceReader<byte>(window);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> head, "\r\n\r\n"u8, advancePastDelimiter: true))
        {
            // A line ended by a bare LF: Kestrel reads such heads (it takes LF line ends), so the peek must not wait
            // for a CRLF CRLF that never comes (it did: 30 s, then 408, for a head Kestrel answers at once).
            return buffer.Length >= maxHeadBytes || HasBareLineFeed(window) ? UpgradePeek.NotLean : UpgradePeek.Incomplete;
        }

        var headLength = (int)reader.Consumed;
        request = Parse(Encoding.Latin1.GetString(head), headLength);
        return request is null ? UpgradePeek.NotLean : UpgradePeek.Upgrade;
    }

    private static UpgradeRequest? Parse(string head, int headLength)
    {
        var lines = head.Split("\r\n");
        // Request line: exactly "GET /ws[?query] HTTP/1.1".
        var line = lines[0];
        if (!line.StartsWith("GET /ws", StringComparison.Ordinal) || !line.EndsWith(" HTTP/1.1", StringComparison.Ordinal))
        {
            return null;
        }

        var target = line[4..^9];
        if (!IsVisibleAscii(target) || (target.Length > 3 && target[3] != '?'))
        {
            return null; // /wsx, /ws/, /ws#..., a space, a control or non-ASCII byte: the stock route (or Kestrel's 400) decides
        }

        string? host = null, upgrade = null, connection = null, key = null, version = null, origin = null, authorization = null, traceParent = null, traceState = null;
        for (var i = 1; i < lines.Length; i++)
        {
            var header = lines[i];
            var colon = header.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || header[0] is ' ' or '\t' || header[colon - 1] is ' ' or '\t')
            {
                return null; // folding or whitespace before the colon: left to Kestrel's parser
            }

            var name = header[..colon];
            var value = header[(colon + 1)..].Trim(' ', '\t');
            if (!IsToken(name) || !IsPlainValue(value))
            {
                // A name that is no RFC 9110 token (a bare LF, NUL or space in it), or a value with a control or non-ASCII
                // byte: Kestrel refuses such heads (400) or reads them its own way, so it must be the one to see them.
                return null;
            }

            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                return null; // an upgrade has no body
            }

            ref var slot = ref Slot(name, ref host, ref upgrade, ref connection, ref key, ref version, ref origin, ref authorization, ref traceParent, ref traceState, out var known);
            if (!known)
            {
                continue;
            }

            if (slot is not null)
            {
                return null; // a repeated header: ASP.NET Core's reading of it decides
            }

            slot = value;
        }

        if (host is null || !IsPlainHost(host) || upgrade is null || connection is null || key is null || version != "13"
            || !HasToken(upgrade, "websocket") || !HasToken(connection, "upgrade") || !IsValidKey(key))
        {
            return null; // not a valid upgrade: the stock endpoint answers it (400) exactly as it does today
        }

        return new UpgradeRequest(headLength, target.Length > 3 ? target[3..] : null, host, key)
        {
            Origin = origin,
            Authorization = authorization,
            TraceParent = traceParent,
            TraceState = traceState,
        };
    }

    private static ref string? Slot(
        string name,
        ref string? host,
        ref string? upgrade,
        ref string? connection,
        ref string? key,
        ref string? version,
        ref string? origin,
        ref string? authorization,
        ref string? traceParent,
        ref string? traceState,
        out bool known)
    {
        known = true;
        if (name.Equals("Host", StringComparison.OrdinalIgnoreCase))
        {
            return ref host;
        }

        if (name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase))
        {
            return ref upgrade;
        }

        if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
        {
            return ref connection;
        }

        if (name.Equals("Sec-WebSocket-Key", StringComparison.OrdinalIgnoreCase))
        {
            return ref key;
        }

        if (name.Equals("Sec-WebSocket-Version", StringComparison.OrdinalIgnoreCase))
        {
            return ref version;
        }

        if (name.Equals("Origin", StringComparison.OrdinalIgnoreCase))
        {
            return ref origin;
        }

        if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
        {
            return ref authorization;
        }

        if (name.Equals("traceparent", StringComparison.OrdinalIgnoreCase))
        {
            return ref traceParent;
        }

        known = name.Equals("tracestate", StringComparison.OrdinalIgnoreCase);
        return ref traceState;
    }

    /// <summary>Whether an LF not preceded by a CR is in <paramref name="bytes"/>.</summary>
    private static bool HasBareLineFeed(ReadOnlySequence<byte> bytes)
    {
        byte previous = 0;
        foreach (var memory in bytes)
        {
            var span = memory.Span;
            var at = span.IndexOf((byte)'\n');
            while (at >= 0)
            {
                if ((at == 0 ? previous : span[at - 1]) != '\r')
                {
                    return true;
                }

                var next = span[(at + 1)..].IndexOf((byte)'\n');
                at = next < 0 ? -1 : at + 1 + next;
            }

            if (!span.IsEmpty)
            {
                previous = span[^1];
            }
        }

        return false;
    }

    /// <summary>Only printable ASCII (0x21-0x7E): a request target with nothing a parser could read two ways.</summary>
    private static bool IsVisibleAscii(string text)
    {
        foreach (var c in text)
        {
            if (c is < '!' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>An RFC 9110 token (a header name): letters, digits and <c>!#$%&amp;'*+-.^_`|~</c>.</summary>
    private static bool IsToken(string name)
    {
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A header value of printable ASCII, spaces and tabs only (no control byte, no obs-text).</summary>
    private static bool IsPlainValue(string value)
    {
        foreach (var c in value)
        {
            if (c is not ('\t' or (>= ' ' and <= '~')))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A host[:port] in the plain shapes Kestrel accepts without question: a name or IPv4 address of letters, digits,
    /// '.', '-' and '_', or an IPv6 address in brackets, then optionally ':' and 1-5 digits. Anything else (an empty
    /// port, a second colon, a stray bracket: found by attack, upgraded here while Kestrel answers 400) is Kestrel's to judge.
    /// </summary>
    private static bool IsPlainHost(string host)
    {
        if (host.Length == 0)
        {
            return false;
        }

        var name = host;
        if (host.StartsWith('['))
        {
            var close = host.IndexOf(']', StringComparison.Ordinal);
            if (close < 2)
            {
                return false;
            }

            foreach (var c in host[1..close])
            {
                if (!(char.IsAsciiHexDigit(c) || c is ':' or '.'))
                {
                    return false;
                }
            }

            name = "";
            host = host[(close + 1)..];
            if (host.Length > 0 && host[0] != ':')
            {
                return false;
            }
        }

        var colon = host.IndexOf(':', StringComparison.Ordinal);
        if (name.Length > 0)
        {
            name = colon < 0 ? host : host[..colon];
            if (name.Length == 0)
            {
                return false;
            }

            foreach (var c in name)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
                {
                    return false;
                }
            }
        }

        if (colon < 0)
        {
            return true;
        }

        var port = host[(colon + 1)..];
        if (port.Length is 0 or > 5)
        {
            return false;
        }

        foreach (var c in port)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool HasToken(string value, string token)
    {
        foreach (var part in value.Split(','))
        {
            if (part.Trim(' ', '\t').Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>RFC 6455 4.2.1: the key is 16 random bytes in base64.</summary>
    private static bool IsValidKey(string key)
    {
        Span<byte> bytes = stackalloc byte[18];
        return key.Length == 24 && Convert.TryFromBase64String(key, bytes, out var written) && written == 16;
    }

    /// <summary>The Sec-WebSocket-Accept answer to a key (RFC 6455 4.2.2).</summary>
    public static string AcceptKey(string key)
    {
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"), hash);
        return Convert.ToBase64String(hash);
    }
}
