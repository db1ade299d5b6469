using System.Text;
using Parley.Server.Webhooks;

namespace Parley.Tests.Webhooks;

/// <summary>The pure parts: the signature, the backoff, the settings' checks.</summary>
public sealed class WebhookRulesTests
{
    [Fact]
    public void The_signature_is_the_lowercase_hex_HMAC_SHA256_of_the_raw_body()
    {
        // RFC 4231 test case 2.
        Assert.Equal(
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            WebhookClient.Signature(Encoding.ASCII.GetBytes("Jefe"), Encoding.ASCII.GetBytes("what do ya want for nothing?")));
    }

    [Theory]
    [InlineData(1, 500, 1000)]
    [InlineData(2, 1000, 2000)]
    [InlineData(5, 8000, 16000)]
    [InlineData(12, 300_000, 600_000)]
    [InlineData(1000, 300_000, 600_000)]
    public void Backoff_doubles_from_the_base_up_to_the_maximum_with_the_upper_half_jittered(int attempts, long low, long high)
    {
        Assert.Equal(low, WebhookSender.Backoff(attempts, 1000, 600, 0));
        Assert.InRange(WebhookSender.Backoff(attempts, 1000, 600, 0.999999), low, high);
        Assert.True(WebhookSender.Backoff(attempts, 1000, 600, 0.999999) < high);
    }

    [Theory]
    [InlineData("ftp://example.com/hooks", "secret", null)]
    [InlineData("not a url", "secret", null)]
    [InlineData("http://127.0.0.1/hooks", "", null)]
    [InlineData("http://127.0.0.1/hooks", "secret", "message.exploded")]
    public void Bad_settings_fail_the_start_with_a_clear_message(string url, string secret, string? eventType)
    {
        var options = new WebhookOptions { Url = url, Secret = secret, Events = eventType is null ? null : [eventType] };
        var error = Assert.Throws<InvalidOperationException>(options.Validate);
        Assert.StartsWith("Webhooks:", error.Message);
    }

    [Fact]
    public void Off_is_valid_and_before_send_without_a_url_is_not()
    {
        new WebhookOptions().Validate();
        Assert.Empty(new WebhookOptions { Events = ["message.created"] }.EventTypes);
        Assert.Throws<InvalidOperationException>(new WebhookOptions { BeforeSend = true }.Validate);
    }
}
