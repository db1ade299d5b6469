using System.Text.Json;
using Parley.Server.Messaging;

namespace Parley.Tests.Messaging;

/// <summary>A text's size is its UTF-8 bytes as decoded, whether or not the client escaped them.</summary>
[Trait("Tier", "Unit")]
public sealed class MessageValidatorTextSizeTests
{
    private static readonly MessagingOptions Options = new() { MaxTextBytes = 8 };

    [Theory]
    [InlineData("\"12345678\"", true)]
    [InlineData("\"123456789\"", false)]
    [InlineData("\"\"", false)]
    [InlineData("\"\\u00e9\\u00e9\\u00e9\\u00e9\"", true)] // 4 x 2 bytes decoded, 24 raw
    [InlineData("\"\\u00e9\\u00e9\\u00e9\\u00e9x\"", false)]
    [InlineData("\"éééé\"", true)]
    [InlineData("\"ééééx\"", false)]
    [InlineData("\"\\n\"", true)]
    [InlineData("7", false)]
    public void Text_is_measured_in_decoded_UTF8_bytes(string text, bool valid)
    {
        using var content = JsonDocument.Parse($$"""{"text":{{text}}}""");
        Assert.Equal(valid, MessageValidator.Validate("text", content.RootElement, Options).TryGetValue(out _, out _));
    }
}
