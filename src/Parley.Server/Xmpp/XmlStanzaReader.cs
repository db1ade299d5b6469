using System.Buffers;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Parley.Server.Xmpp;

/// <summary>What <see cref="XmlStanzaReader.Read"/> found in the bytes it was given.</summary>
public enum XmlStanzaEvent
{
    /// <summary>Nothing complete yet: feed more bytes.</summary>
    NeedMore,

    /// <summary>A stream header (<c>&lt;stream:stream ...&gt;</c>): <see cref="XmlStanzaReader.Header"/>.</summary>
    StreamOpened,

    /// <summary>One complete top-level element under the stream: <see cref="XmlStanzaReader.Stanza"/>.</summary>
    Stanza,

    /// <summary>The peer closed its stream (<c>&lt;/stream:stream&gt;</c>).</summary>
    StreamClosed,

    /// <summary>A violation: <see cref="XmlStanzaReader.Error"/> names the RFC 6120 stream error; the stream must close.</summary>
    Error,
}

/// <summary>The limits of one stream's XML (RFC 6120 13.12: a server must bound what a peer can make it hold).</summary>
public sealed record XmlLimits(int MaxStanzaBytes = 128 * 1024, int MaxDepth = 32, int MaxAttributes = 64, int MaxNameLength = 256);

/// <summary>
/// An incremental, bounded reader of an XMPP stream: bytes come in as they arrive (any split, down to one byte at a
/// time) and leave as events. A small scanner of our own finds where each top-level stanza ends, keeping its bytes
/// (never more than <see cref="XmlLimits.MaxStanzaBytes"/>) and only a handful of integers between calls, so a
/// stanza split across a thousand reads is scanned once. It refuses what RFC 6120 11.1 restricts, before any parser
/// sees it: a DOCTYPE or any other <c>&lt;!</c> construct (so no entity can be declared, hence no billion laughs or
/// external entities), comments, processing instructions after the XML declaration; and it bounds depth, attribute
/// count and name length. A complete stanza is then parsed by <see cref="XmlReader"/> with DTDs prohibited, which
/// decodes the five predefined entities and character references and refuses any other reference.
/// </summary>
public sealed class XmlStanzaReader(XmlLimits limits)
{
    public const string StreamsNamespace = "http://etherx.jabber.org/streams";
    public const string ClientNamespace = "jabber:client";

    private enum Mode
    {
        Text,
        Lt, // after '<'
        StartName, // reading a start tag's name
        InTag, // inside a start tag, between attributes
        InValue, // inside a quoted attribute value
        EndTag, // inside "</...>"
        EmptyEnd, // after '/' in a start tag: '>' must follow
        XmlDecl, // inside "<?xml ...?>" (only at the start of a stream)
    }

    private byte[] _buffer = [];
    private int _length; // bytes held (a header or a stanza in progress, from its '<')
    private Mode _mode = Mode.Text;
    private byte _quote;
    private int _depth; // 0 before the header, 1 inside the stream, 2+ inside a stanza
    private int _nameLength;
    private int _attributes;
    private bool _headerSeen;
    private bool _anyBytes; // the XML declaration may only be the very first thing
    private int _elementStart = -1; // where the current stanza starts in _buffer

    /// <summary>The attributes of the last stream header (local name -> value; <c>xmlns</c> and <c>xmlns:stream</c> included).</summary>
    public Dictionary<string, string> Header { get; } = new(StringComparer.Ordinal);

    /// <summary>The last complete stanza (valid until the next <see cref="Read"/>).</summary>
    public XElement? Stanza { get; private set; }

    /// <summary>The RFC 6120 stream error condition (<c>not-well-formed</c>, <c>policy-violation</c>, <c>restricted-xml</c>...).</summary>
    public string? Error { get; private set; }

    /// <summary>Bytes held for a stanza in progress (for tests and metrics).</summary>
    public int Held => _length;

    /// <summary>A stream restart (after SASL or STARTTLS): everything held is dropped and a new header is expected.</summary>
    public void Restart()
    {
        _length = 0;
        _mode = Mode.Text;
        _depth = 0;
        _headerSeen = false;
        _anyBytes = false;
        _elementStart = -1;
        Header.Clear();
        Stanza = null;
        Error = null;
    }

    /// <summary>
    /// Consumes bytes from <paramref name="input"/> until one event is complete (or the input is used up);
    /// <paramref name="consumed"/> says how far it read. Call again with the rest after each event.
    /// </summary>
    public XmlStanzaEvent Read(ReadOnlySequence<byte> input, out SequencePosition consumed)
    {
        Stanza = null;
        var reader = new SequenceReader<byte>(input);
        while (reader.TryRead(out var b))
        {
            var ev = Step(b);
            if (ev != XmlStanzaEvent.NeedMore)
            {
                consumed = reader.Position;
                return ev;
            }
        }

        consumed = reader.Position;
        return XmlStanzaEvent.NeedMore;
    }

    private XmlStanzaEvent Fail(string condition)
    {
        Error = condition;
        _length = 0;
        return XmlStanzaEvent.Error;
    }

    private void Hold(byte b)
    {
        if (_length == _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(256, Math.Min(_buffer.Length * 2, limits.MaxStanzaBytes + 1)));
        }

        _buffer[_length++] = b;
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    private XmlStanzaEvent Step(byte b)
    {
        if (Error is not null)
        {
            return XmlStanzaEvent.Error;
        }

        var holding = _depth >= 2 || _mode != Mode.Text;
        if (holding)
        {
            if (_length >= limits.MaxStanzaBytes)
            {
                return Fail("policy-violation");
            }

            Hold(b);
        }

        switch (_mode)
        {
            case Mode.Text:
                if (b == (byte)'<')
                {
                    if (!holding)
                    {
                        _length = 0;
                        Hold(b);
                    }

                    if (_depth == 1)
                    {
                        _elementStart = _length - 1;
                    }

                    _mode = Mode.Lt;
                    return XmlStanzaEvent.NeedMore;
                }

                if (_depth <= 1)
                {
                    // Between stanzas only whitespace (keepalives) may appear; before the header, only whitespace too.
                    if (!IsSpace(b))
                    {
                        return Fail("not-well-formed");
                    }

                    _anyBytes |= _depth == 1;
                    return XmlStanzaEvent.NeedMore;
                }

                return b == (byte)'&' || b >= 0x20 || IsSpace(b) ? XmlStanzaEvent.NeedMore : Fail("not-well-formed");
            case Mode.Lt:
                if (b == (byte)'!')
                {
                    // DOCTYPE, comments, CDATA: none is allowed on an XMPP stream (RFC 6120 11.1).
                    return Fail("restricted-xml");
                }

                if (b == (byte)'?')
                {
                    if (_depth != 0 || _anyBytes)
                    {
                        return Fail("restricted-xml");
                    }

                    _mode = Mode.XmlDecl;
                    return XmlStanzaEvent.NeedMore;
                }

                _anyBytes = true;
                if (b == (byte)'/')
                {
                    _nameLength = 0;
                    _mode = Mode.EndTag;
                    return XmlStanzaEvent.NeedMore;
                }

                if (IsSpace(b) || b == (byte)'>' || b == (byte)'=' || b == (byte)'"' || b == (byte)'\'')
                {
                    return Fail("not-well-formed");
                }

                if (_depth + 1 > limits.MaxDepth + 1)
                {
                    return Fail("policy-violation");
                }

                _nameLength = 1;
                _attributes = 0;
                _mode = Mode.StartName;
                return XmlStanzaEvent.NeedMore;
            case Mode.StartName:
                if (IsSpace(b))
                {
                    _mode = Mode.InTag;
                    return XmlStanzaEvent.NeedMore;
                }

                if (b == (byte)'>' || b == (byte)'/')
                {
                    _mode = Mode.InTag;
                    return Step2InTag(b);
                }

                return ++_nameLength > limits.MaxNameLength ? Fail("policy-violation") : XmlStanzaEvent.NeedMore;
            case Mode.InTag:
                return Step2InTag(b);
            case Mode.InValue:
                if (b == _quote)
                {
                    _mode = Mode.InTag;
                }
                else if (b == (byte)'<')
                {
                    return Fail("not-well-formed");
                }

                return XmlStanzaEvent.NeedMore;
            case Mode.EmptyEnd:
                if (b != (byte)'>')
                {
                    return Fail("not-well-formed");
                }

                _mode = Mode.Text;
                return ElementEnded(empty: true);
            case Mode.EndTag:
                if (b == (byte)'>')
                {
                    _mode = Mode.Text;
                    return ElementEnded(empty: false);
                }

                return ++_nameLength > limits.MaxNameLength ? Fail("policy-violation") : XmlStanzaEvent.NeedMore;
            case Mode.XmlDecl:
                if (b == (byte)'>' && _length >= 2 && _buffer[_length - 2] == (byte)'?')
                {
                    _mode = Mode.Text;
                    _anyBytes = true;
                    _length = 0;
                }
                else if (_length > 256)
                {
                    return Fail("policy-violation");
                }

                return XmlStanzaEvent.NeedMore;
            default:
                return Fail("not-well-formed");
        }
    }

    private XmlStanzaEvent Step2InTag(byte b)
    {
        switch (b)
        {
            case (byte)'"' or (byte)'\'':
                _quote = b;
                _mode = Mode.InValue;
                return ++_attributes > limits.MaxAttributes ? Fail("policy-violation") : XmlStanzaEvent.NeedMore;
            case (byte)'/':
                _mode = Mode.EmptyEnd;
                return XmlStanzaEvent.NeedMore;
            case (byte)'>':
                _mode = Mode.Text;
                return ElementStarted();
            case (byte)'<':
                return Fail("not-well-formed");
            default:
                return XmlStanzaEvent.NeedMore;
        }
    }

    private XmlStanzaEvent ElementStarted()
    {
        if (_depth == 0)
        {
            // The stream header: an element that stays open for the whole stream.
            if (!ParseHeader())
            {
                return Fail("not-well-formed");
            }

            _depth = 1;
            _length = 0;
            _headerSeen = true;
            return XmlStanzaEvent.StreamOpened;
        }

        if (_depth >= limits.MaxDepth + 1)
        {
            return Fail("policy-violation");
        }

        _depth++;
        return XmlStanzaEvent.NeedMore;
    }

    private XmlStanzaEvent ElementEnded(bool empty)
    {
        if (empty)
        {
            if (_depth == 0)
            {
                return Fail("not-well-formed"); // a header that closes itself opens no stream
            }

            if (_depth == 1)
            {
                return Complete();
            }

            return XmlStanzaEvent.NeedMore;
        }

        // An end tag.
        if (_depth == 1)
        {
            _length = 0;
            _depth = 0;
            return _headerSeen ? XmlStanzaEvent.StreamClosed : Fail("not-well-formed");
        }

        if (_depth == 0)
        {
            return Fail("not-well-formed");
        }

        _depth--;
        return _depth == 1 ? Complete() : XmlStanzaEvent.NeedMore;
    }

    private XmlStanzaEvent Complete()
    {
        var start = Math.Max(0, _elementStart);
        var bytes = _buffer.AsMemory(start, _length - start);
        _length = 0;
        _elementStart = -1;
        try
        {
            Stanza = Parse(bytes.Span);
            return XmlStanzaEvent.Stanza;
        }
        catch (XmlException)
        {
            return Fail("not-well-formed");
        }
    }

    private XElement Parse(ReadOnlySpan<byte> bytes)
    {
        var names = new XmlNamespaceManager(new NameTable());
        names.AddNamespace("", Header.TryGetValue("xmlns", out var ns) ? ns : ClientNamespace);
        names.AddNamespace("stream", StreamsNamespace);
        var context = new XmlParserContext(null, names, null, XmlSpace.None);
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            ConformanceLevel = ConformanceLevel.Fragment,
            MaxCharactersInDocument = limits.MaxStanzaBytes,
            MaxCharactersFromEntities = limits.MaxStanzaBytes, // none can be declared (no DTD); a bound all the same
            IgnoreComments = false,
            IgnoreProcessingInstructions = false,
            CloseInput = true,
        };
        using var stream = new MemoryStream(bytes.ToArray(), writable: false);
        using var xml = XmlReader.Create(stream, settings, context);
        xml.MoveToContent();
        var element = (XElement)XNode.ReadFrom(xml);
        return element;
    }

    /// <summary>The header's attributes, from the held tag (<c>&lt;stream:stream a='b' ...&gt;</c>); false if it is no stream header.</summary>
    private bool ParseHeader()
    {
        Header.Clear();
        var tag = Encoding.UTF8.GetString(_buffer, 0, _length);
        var end = 1;
        while (end < tag.Length && !char.IsWhiteSpace(tag[end]) && tag[end] != '>')
        {
            end++;
        }

        if (tag[1..end] != "stream:stream")
        {
            return false;
        }

        var i = end;
        while (i < tag.Length)
        {
            while (i < tag.Length && (char.IsWhiteSpace(tag[i]) || tag[i] == '>'))
            {
                i++;
            }

            if (i >= tag.Length)
            {
                break;
            }

            var eq = tag.IndexOf('=', i);
            if (eq < 0)
            {
                return false;
            }

            var name = tag[i..eq].Trim();
            var q = eq + 1;
            while (q < tag.Length && char.IsWhiteSpace(tag[q]))
            {
                q++;
            }

            if (q >= tag.Length || (tag[q] != '\'' && tag[q] != '"'))
            {
                return false;
            }

            var close = tag.IndexOf(tag[q], q + 1);
            if (close < 0 || name.Length == 0 || Header.ContainsKey(name))
            {
                return false;
            }

            var value = tag[(q + 1)..close];
            if (value.Contains('&'))
            {
                try
                {
                    value = XElement.Parse($"<v a='{value}'/>").Attribute("a")!.Value;
                }
                catch (XmlException)
                {
                    return false;
                }
            }

            Header[name] = value;
            i = close + 1;
        }

        return Header.TryGetValue("xmlns:stream", out var streams) && streams == StreamsNamespace;
    }
}
