using System.Net;
using System.Text.Json.Nodes;

namespace Parley.Tests.Infrastructure;

public static class RateLimitAssert
{
    /// <summary>Asserts a 429 <c>rate_limited</c> problem with a Retry-After; returns its seconds.</summary>
    public static async Task<int> ExpectRateLimited(this Task<HttpResponseMessage> call)
    {
        using var response = await call;
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.TooManyRequests, $"expected 429 but got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("rate_limited", (string?)JsonNode.Parse(text)!["code"]);
        var retry = response.Headers.RetryAfter?.Delta;
        Assert.True(retry is { TotalSeconds: >= 1 }, "no Retry-After");
        return (int)retry!.Value.TotalSeconds;
    }
}
