using System.Buffers;
using System.Text;
using Parley.Server.Xmpp;

namespace Parley.Tests.Xmpp;

/// <summary>The bounded stanza reader: RFC 6120 restricted XML, limits, and any split of the input.</summary>
public sealed class XmlStanzaReaderTests
{
    private const string Header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='parley.test' version='1.0'>";

    /// <summary>Feeds the bytes in pieces of <paramref name="chunk"/> and collects the events (stanzas as XML text).</summary>
    private static List<string> Feed(XmlStanzaReader reader, string text, int chunk = int.MaxValue)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var events = new List<string>();
        for (var offset = 0; offset < bytes.Length; offset += chunk)
        {
            var piece = new ReadOnlySequence<byte>(bytes, offset, Math.Min(chunk, bytes.Length - offset));
            while (true)
            {
                var ev = reader.Read(piece, out var consumed);
                piece = piece.Slice(consumed);
                if (ev == XmlStanzaEvent.NeedMore)
                {
                    Assert.True(piece.IsEmpty);
                    break;
                }

                events.Add(ev switch
                {
                    XmlStanzaEvent.Stanza => reader.Stanza!.ToString(System.Xml.Linq.SaveOptions.DisableFormatting),
                    XmlStanzaEvent.Error => "error:" + reader.Error,
                    _ => ev.ToString(),
                });
                if (ev == XmlStanzaEvent.Error)
                {
                    return events;
                }
            }
        }

        return events;
    }

    private static XmlStanzaReader NewReader() => new(new XmlLimits());

    [Fact]
    public void A_stream_of_stanzas_is_read_the_same_at_every_split()
    {
        var text = Header + " <message to='bob@parley.test' id='a&amp;b' type='chat'><body>hi &lt;3 &#x263A; &#65;</body></message>\n"
            + "<presence/><iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq></stream:stream>";
        var whole = Feed(NewReader(), text);
        Assert.Equal(5, whole.Count);
        Assert.Equal("StreamOpened", whole[0]);
        Assert.Contains("<body>hi &lt;3 \u263A A</body>", whole[1]);
        Assert.Contains("id=\"a&amp;b\"", whole[1]);
        Assert.Contains("xmlns=\"jabber:client\"", whole[1]);
        Assert.Contains("urn:xmpp:ping", whole[3]);
        Assert.Equal("StreamClosed", whole[4]);
        for (var chunk = 1; chunk <= 7; chunk++)
        {
            Assert.Equal(whole, Feed(NewReader(), text, chunk));
        }
    }

    [Fact]
    public void The_header_attributes_are_read_and_a_restart_expects_a_new_header()
    {
        var reader = NewReader();
        Assert.Equal(["StreamOpened"], Feed(reader, Header));
        Assert.Equal("parley.test", reader.Header["to"]);
        Assert.Equal("1.0", reader.Header["version"]);
        reader.Restart();
        Assert.Equal(["StreamOpened", "<presence xmlns=\"jabber:client\" />"], Feed(reader, Header + "<presence/>"));
    }

    [Fact]
    public void Billion_laughs_is_restricted_xml_before_any_expansion()
    {
        var laughs = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>";
        Assert.Equal(["error:restricted-xml"], Feed(NewReader(), laughs + Header));
        // Inside the stream too, and an entity it would have declared is refused as not well-formed.
        Assert.Equal(["StreamOpened", "error:restricted-xml"], Feed(NewReader(), Header + "<!DOCTYPE x [<!ENTITY x 'y'>]>"));
        Assert.Equal(["StreamOpened", "error:not-well-formed"], Feed(NewReader(), Header + "<message><body>&lol9;</body></message>"));
    }

    [Fact]
    public void External_entities_comments_and_processing_instructions_are_refused()
    {
        Assert.Equal(["error:restricted-xml"], Feed(NewReader(), "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"));
        Assert.Equal(["StreamOpened", "error:restricted-xml"], Feed(NewReader(), Header + "<message><!-- hi --></message>"));
        Assert.Equal(["StreamOpened", "error:restricted-xml"], Feed(NewReader(), Header + "<message><?pi x?></message>"));
        Assert.Equal(["StreamOpened", "error:restricted-xml"], Feed(NewReader(), Header + "<message><![CDATA[x]]></message>"));
    }

    [Fact]
    public void Depth_beyond_the_limit_is_a_policy_violation()
    {
        var reader = new XmlStanzaReader(new XmlLimits(MaxDepth: 8));
        var ok = Header + "<message>" + string.Concat(Enumerable.Repeat("<a>", 7)) + string.Concat(Enumerable.Repeat("</a>", 7)) + "</message>";
        Assert.Equal(2, Feed(reader, ok).Count);
        var deep = Header + "<message>" + string.Concat(Enumerable.Repeat("<a>", 100_000));
        Assert.Equal(["StreamOpened", "error:policy-violation"], Feed(new XmlStanzaReader(new XmlLimits(MaxDepth: 8)), deep));
    }

    [Fact]
    public void An_oversized_stanza_is_refused_without_holding_more_than_the_limit()
    {
        var reader = new XmlStanzaReader(new XmlLimits(MaxStanzaBytes: 4096));
        Assert.Equal(["StreamOpened"], Feed(reader, Header));
        var events = Feed(reader, "<message><body>" + new string('x', 4000));
        Assert.Empty(events);
        Assert.True(reader.Held <= 4096);
        Assert.Equal(["error:policy-violation"], Feed(reader, new string('x', 200)));

        // Just under the limit is fine.
        var fits = new XmlStanzaReader(new XmlLimits(MaxStanzaBytes: 4096));
        Assert.Equal(2, Feed(fits, Header + "<message><body>" + new string('y', 4000) + "</body></message>").Count);
        // An endless header is bounded the same way.
        Assert.Equal(["error:policy-violation"], Feed(new XmlStanzaReader(new XmlLimits(MaxStanzaBytes: 4096)), "<stream:stream " + new string('a', 5000)));
    }

    [Fact]
    public void Too_many_attributes_and_long_names_are_policy_violations()
    {
        var attributes = string.Concat(Enumerable.Range(0, 70).Select(i => $" a{i}='v'"));
        Assert.Equal(["StreamOpened", "error:policy-violation"], Feed(NewReader(), Header + $"<message{attributes}/>"));
        Assert.Equal(["StreamOpened", "error:policy-violation"], Feed(NewReader(), Header + $"<{new string('m', 300)}/>"));
    }

    [Theory]
    [InlineData("<message><body>x</bod></message>")]
    [InlineData("<message a='1' a='2'/>")]
    [InlineData("<message a='<'/>")]
    [InlineData("<x:message/>")]
    [InlineData("text between stanzas")]
    [InlineData("<message>\u0001</message>")]
    public void Malformed_xml_is_not_well_formed(string stanza) =>
        Assert.Equal(["StreamOpened", "error:not-well-formed"], Feed(NewReader(), Header + stanza));

    [Fact]
    public void A_header_of_another_protocol_is_not_a_stream()
    {
        Assert.Equal(["error:not-well-formed"], Feed(NewReader(), "GET / HTTP/1.1\r\n"));
        Assert.Equal(["error:not-well-formed"], Feed(NewReader(), "<html>"));
        Assert.Equal(["error:not-well-formed"], Feed(NewReader(), "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>"));
    }
}
