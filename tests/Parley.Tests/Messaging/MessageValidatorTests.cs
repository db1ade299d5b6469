using System.Text.Json;
using Parley.Server.Http;
using Parley.Server.Messaging;

namespace Parley.Tests.Messaging;

/// <summary>
/// The message validator alone: every content type and limit, bad shapes, and strings that are not storable
/// text. Pure, so every case is a unit test; the same rules over HTTP and the socket are in MessagingTests.
/// </summary>
[Trait("Tier", "Unit")]
public sealed class MessageValidatorTests
{
    private static readonly MessagingOptions Options = new() { MaxTextBytes = 100, MaxContentBytes = 400 };

    public static TheoryData<string, string> Valid => new()
    {
        { "text", """{"text":"hi"}""" },
        { "text", """{"text":"hi","extra":[1,{"a":null}]}""" }, // members a type does not use are kept, not refused
        { "image", """{"fileId":"5"}""" },
        { "image", """{"fileId":"5","width":1,"height":100000}""" },
        { "image", """{"fileId":"5","width":null,"height":null}""" },
        { "file", """{"fileId":"5","name":"a.txt","size":0}""" },
        { "file", """{"fileId":"9223372036854775807","name":"é ✓ 😀","size":9223372036854775807}""" },
        { "audio", """{"fileId":"5","durationMs":0}""" },
        { "audio", """{"fileId":"5","durationMs":86400000}""" },
        { "video", """{"fileId":"5"}""" },
        { "video", """{"fileId":"5","durationMs":86400000,"width":1920,"height":1080}""" },
        { "location", """{"latitude":-90,"longitude":180}""" },
        { "location", """{"latitude":48.8566,"longitude":-2.3522e0,"title":null}""" },
        { "link", """{"url":"https://example.com/a?b=c#d"}""" },
        { "link", """{"url":"http://example.com","title":"t","description":"d","imageFileId":"7"}""" },
        { "link", """{"url":"http://example.com","imageFileId":null}""" },
        { "custom", """{}""" },
        { "custom", """{"anything":{"at":[1,2.5,true,null,"x"]}}""" },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Every_type_accepts_its_content_and_keeps_it_as_sent(string type, string content)
    {
        var validated = Accept(type, content);
        Assert.Equal(content, validated.Json);
    }

    [Fact]
    public void File_ids_are_collected_for_the_access_check()
    {
        Assert.Equal([5L], Accept("image", """{"fileId":"5"}""").FileIds);
        Assert.Equal([6L], Accept("file", """{"fileId":"6","name":"n","size":1}""").FileIds);
        Assert.Equal([7L], Accept("audio", """{"fileId":"7","durationMs":1}""").FileIds);
        Assert.Equal([8L], Accept("video", """{"fileId":"8"}""").FileIds);
        Assert.Equal([9L], Accept("link", """{"url":"https://x.example","imageFileId":"9"}""").FileIds);
        Assert.Empty(Accept("link", """{"url":"https://x.example"}""").FileIds);
        Assert.Empty(Accept("custom", """{"fileId":"5"}""").FileIds); // custom content names no files the server knows of
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Text")]
    [InlineData("sticker")]
    [InlineData("text ")]
    public void An_unknown_type_is_refused(string? type) => Refuse(type, """{"text":"hi"}""", "type");

    [Theory]
    [InlineData("null")]
    [InlineData("\"hi\"")]
    [InlineData("[{\"text\":\"hi\"}]")]
    [InlineData("5")]
    [InlineData("true")]
    public void Content_must_be_an_object(string content) => Refuse("custom", content, "content");

    public static TheoryData<string, string, string> Invalid => new()
    {
        // text
        { "text", """{}""", "content.text" },
        { "text", """{"text":null}""", "content.text" },
        { "text", """{"text":5}""", "content.text" },
        { "text", """{"text":["hi"]}""", "content.text" },
        { "text", """{"text":""}""", "content.text" },
        // image
        { "image", """{}""", "content.fileId" },
        { "image", """{"fileId":null}""", "content.fileId" },
        { "image", """{"fileId":5}""", "content.fileId" },
        { "image", """{"fileId":"0"}""", "content.fileId" },
        { "image", """{"fileId":"-5"}""", "content.fileId" },
        { "image", """{"fileId":"+5"}""", "content.fileId" },
        { "image", """{"fileId":"5x"}""", "content.fileId" },
        { "image", """{"fileId":" 5"}""", "content.fileId" },
        { "image", """{"fileId":"9223372036854775808"}""", "content.fileId" },
        { "image", """{"fileId":"5","width":0}""", "content.width" },
        { "image", """{"fileId":"5","width":100001}""", "content.width" },
        { "image", """{"fileId":"5","width":1.5}""", "content.width" },
        { "image", """{"fileId":"5","width":"10"}""", "content.width" },
        { "image", """{"fileId":"5","height":-1}""", "content.height" },
        { "image", """{"fileId":"5","height":1e400}""", "content.height" },
        // file
        { "file", """{"name":"a","size":1}""", "content.fileId" },
        { "file", """{"fileId":"5","size":1}""", "content.name" },
        { "file", """{"fileId":"5","name":"","size":1}""", "content.name" },
        { "file", """{"fileId":"5","name":"a\nb","size":1}""", "content.name" },
        { "file", """{"fileId":"5","name":"a\u007fb","size":1}""", "content.name" },
        { "file", """{"fileId":"5","name":7,"size":1}""", "content.name" },
        { "file", """{"fileId":"5","name":"a"}""", "content.size" },
        { "file", """{"fileId":"5","name":"a","size":-1}""", "content.size" },
        { "file", """{"fileId":"5","name":"a","size":null}""", "content.size" },
        { "file", """{"fileId":"5","name":"a","size":"1"}""", "content.size" },
        { "file", """{"fileId":"5","name":"a","size":9223372036854775808}""", "content.size" },
        // audio
        { "audio", """{"durationMs":1}""", "content.fileId" },
        { "audio", """{"fileId":"5"}""", "content.durationMs" },
        { "audio", """{"fileId":"5","durationMs":-1}""", "content.durationMs" },
        { "audio", """{"fileId":"5","durationMs":86400001}""", "content.durationMs" },
        { "audio", """{"fileId":"5","durationMs":0.5}""", "content.durationMs" },
        // video
        { "video", """{}""", "content.fileId" },
        { "video", """{"fileId":"5","durationMs":86400001}""", "content.durationMs" },
        { "video", """{"fileId":"5","durationMs":"1"}""", "content.durationMs" },
        { "video", """{"fileId":"5","width":0}""", "content.width" },
        { "video", """{"fileId":"5","height":100001}""", "content.height" },
        // location
        { "location", """{"longitude":0}""", "content.latitude" },
        { "location", """{"latitude":0}""", "content.longitude" },
        { "location", """{"latitude":90.0001,"longitude":0}""", "content.latitude" },
        { "location", """{"latitude":-90.0001,"longitude":0}""", "content.latitude" },
        { "location", """{"latitude":0,"longitude":180.0001}""", "content.longitude" },
        { "location", """{"latitude":0,"longitude":-181}""", "content.longitude" },
        { "location", """{"latitude":"0","longitude":0}""", "content.latitude" },
        { "location", """{"latitude":null,"longitude":0}""", "content.latitude" },
        { "location", """{"latitude":1e400,"longitude":0}""", "content.latitude" },
        { "location", """{"latitude":0,"longitude":0,"title":5}""", "content.title" },
        // link
        { "link", """{}""", "content.url" },
        { "link", """{"url":5}""", "content.url" },
        { "link", """{"url":""}""", "content.url" },
        { "link", """{"url":"/relative/path"}""", "content.url" },
        { "link", """{"url":"example.com"}""", "content.url" },
        { "link", """{"url":"ftp://example.com/a"}""", "content.url" },
        { "link", """{"url":"javascript:alert(1)"}""", "content.url" },
        { "link", """{"url":"file:///etc/passwd"}""", "content.url" },
        { "link", """{"url":"https://x.example","title":{}}""", "content.title" },
        { "link", """{"url":"https://x.example","description":[]}""", "content.description" },
        { "link", """{"url":"https://x.example","imageFileId":"nope"}""", "content.imageFileId" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Each_rule_is_refused_as_invalid_and_names_its_field(string type, string content, string field) => Refuse(type, content, field);

    [Fact]
    public void Every_broken_rule_is_named_at_once()
    {
        var refusal = Refuse("file", """{"fileId":"x","name":"","size":-1}""", "content.fileId");
        Assert.Equal(["content.fileId", "content.name", "content.size"], refusal.Errors!.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Text_is_limited_in_utf8_bytes_not_characters()
    {
        Accept("text", Json(new { text = new string('x', 100) }));
        Refuse("text", Json(new { text = new string('x', 101) }), "content.text");
        Accept("text", Json(new { text = new string('é', 50) })); // 2 bytes each
        Refuse("text", Json(new { text = new string('é', 51) }), "content.text");
        Accept("text", Json(new { text = string.Concat(Enumerable.Repeat("😀", 25)) })); // 4 bytes each, 2 chars
        Refuse("text", Json(new { text = string.Concat(Enumerable.Repeat("😀", 26)) }), "content.text");
    }

    [Fact]
    public void String_members_hold_their_lengths_exactly()
    {
        Accept("file", Json(new { fileId = "5", name = new string('n', 255), size = 1 }));
        Refuse("file", Json(new { fileId = "5", name = new string('n', 256), size = 1 }), "content.name");
        Accept("location", Json(new { latitude = 0, longitude = 0, title = new string('t', 256) }));
        Refuse("location", Json(new { latitude = 0, longitude = 0, title = new string('t', 257) }), "content.title");
        var url = "https://x.example/" + new string('p', 2048 - 18);
        var big = new MessagingOptions { MaxContentBytes = 1 << 20 };
        Assert.Null(MessageValidator.Validate("link", Element(Json(new { url })), big).Refusal);
        Assert.Equal(["content.url"], MessageValidator.Validate("link", Element(Json(new { url = url + "p" })), big).Refusal!.Errors!.Keys);
        Assert.Null(MessageValidator.Validate("link", Element(Json(new { url, title = new string('t', 256), description = new string('d', 1024) })), big).Refusal);
        Assert.Equal(["content.description"], MessageValidator.Validate("link", Element(Json(new { url, description = new string('d', 1025) })), big).Refusal!.Errors!.Keys);
    }

    [Fact]
    public void The_whole_content_is_limited_in_bytes_as_sent_and_answered_413()
    {
        // {"blob":"..."} is 11 bytes besides the blob.
        Accept("custom", Json(new { blob = new string('x', 400 - 11) }));
        var refusal = MessageValidator.Validate("custom", Element(Json(new { blob = new string('x', 400 - 10) })), Options).Refusal;
        Assert.NotNull(refusal);
        Assert.Equal(413, refusal.Status);
        Assert.Equal(ErrorCodes.TooLarge, refusal.Code);

        // As sent: whitespace and escapes count, since the content is stored as written.
        Refuse413("custom", "{\"blob\":\"" + new string('x', 300) + "\"" + new string(' ', 100) + "}");
        Refuse413("custom", "{\"blob\":\"" + string.Concat(Enumerable.Repeat("\\u0041", 70)) + "\"}");
    }

    [Fact]
    public void Content_nests_at_most_sixteen_levels()
    {
        Accept("custom", Nest(MessageValidator.MaxDepth, "{}"));
        Refuse("custom", Nest(MessageValidator.MaxDepth + 1, "{}"), "content");
        Accept("custom", Nest(MessageValidator.MaxDepth - 1, "1")); // a scalar leaf is a level of its own
        Refuse("custom", Nest(MessageValidator.MaxDepth, "1"), "content");
        Refuse("custom", "{\"a\":" + new string('[', MessageValidator.MaxDepth) + new string(']', MessageValidator.MaxDepth) + "}", "content"); // arrays nest too
        Refuse("text", "{\"text\":\"hi\",\"x\":" + Nest(MessageValidator.MaxDepth, "{}") + "}", "content"); // whatever the type
    }

    [Theory]
    [InlineData("""{"text":"a\u0000b"}""")]
    [InlineData("""{"text":"\u0000"}""")]
    [InlineData("""{"text":"ok","x\u0000":1}""")] // in a member name
    [InlineData("""{"text":"ok","deep":[{"a":["\u0000"]}]}""")] // at any depth
    [InlineData("""{"text":"\ud800"}""")] // a high surrogate alone
    [InlineData("""{"text":"\udc00x"}""")] // a low surrogate alone
    [InlineData("""{"text":"\ud800\u0041"}""")] // high, then no low
    [InlineData("""{"text":"\ud800\n"}""")] // high, then another escape
    [InlineData("""{"text":"x\ud83d"}""")] // high at the very end
    [InlineData("""{"text":"\ude00\ud83d"}""")] // a pair the wrong way round
    [InlineData("""{"text":"\ud83d\ud83d\ude00"}""")] // two highs, one low
    [InlineData("""{"text":"ok","\udfff":1}""")]
    public void Strings_must_be_unicode_text_without_nul(string content) => Refuse("text", content, "content");

    [Theory]
    [InlineData("""{"text":"\ud83d\ude00"}""")] // an escaped pair is one character
    [InlineData("""{"text":"\uD83D\uDE00 upper-case hex"}""")]
    [InlineData("""{"text":"\\u0000 is only text after an escaped backslash"}""")]
    [InlineData("""{"text":"\\\ud83d\ude00"}""")]
    [InlineData("""{"text":"\"\\\/\b\f\n\r\t\u0001\u001f\u00e9\uffff"}""")]
    [InlineData("""{"text":"😀 raw UTF-8 of four bytes"}""")]
    public void Escapes_that_are_text_pass(string content) => Accept("text", content);

    private static ValidatedContent Accept(string type, string content)
    {
        var result = MessageValidator.Validate(type, Element(content), Options);
        Assert.True(result.TryGetValue(out var validated, out var refusal), $"refused: {refusal?.Detail}");
        return validated;
    }

    private static Refusal Refuse(string? type, string content, string field)
    {
        var refusal = MessageValidator.Validate(type, Element(content), Options).Refusal;
        Assert.NotNull(refusal);
        Assert.Equal(400, refusal.Status);
        Assert.Equal(ErrorCodes.Invalid, refusal.Code);
        Assert.Contains(field, refusal.Errors!.Keys);
        return refusal;
    }

    private static void Refuse413(string type, string content) =>
        Assert.Equal(413, MessageValidator.Validate(type, Element(content), Options).Refusal?.Status);

    private static string Json(object value) => JsonSerializer.Serialize(value);

    /// <summary><paramref name="levels"/> levels in all: that many objects, the innermost holding <paramref name="leaf"/>.</summary>
    private static string Nest(int levels, string leaf)
    {
        var json = leaf;
        for (var i = leaf == "{}" ? 1 : 0; i < levels; i++)
        {
            json = "{\"a\":" + json + "}";
        }

        return json;
    }

    private static JsonElement Element(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}
