using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Parley.Server.Webhooks;

/// <summary>
/// POSTs signed webhook bodies to Webhooks:Url through the named HttpClient "parley-webhooks": redirects not
/// followed, each attempt bounded by Webhooks:TimeoutMs (its resilience pipeline's timeout), response bodies read
/// only by before-send and only up to <see cref="MaxAnswerBytes"/>. Never logs bodies or the secret.
/// </summary>
public sealed class WebhookClient(IHttpClientFactory clients, IOptions<WebhookOptions> options)
{
    public const string HttpClientName = "parley-webhooks";

    /// <summary>The most of a before-send answer read; a longer one is an error.</summary>
    public const int MaxAnswerBytes = 64 * 1024;

    private readonly WebhookOptions _options = options.Value;
    private readonly byte[] _secret = Encoding.UTF8.GetBytes(options.Value.Secret);
    private readonly Uri? _url = options.Value.Enabled ? new Uri(options.Value.Url) : null;

    /// <summary><c>sha256=</c> and the lowercase hex HMAC-SHA256 of <paramref name="body"/> with <paramref name="secret"/>.</summary>
    public static string Signature(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(secret, body));

    /// <summary>Posts an event; null when the receiver answered 2xx, else why not (a status, a timeout, a transport error).</summary>
    public async Task<string?> DeliverAsync(string type, byte[] body, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await PostAsync(type, body, cancellationToken);
            // The body is not read: disposing the response drops (or drains a little of) what the receiver sent.
            return response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}";
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return Describe(e);
        }
    }

    /// <summary>Posts a before-send question; the 2xx answer's body (at most <see cref="MaxAnswerBytes"/>), or null with why not.</summary>
    public async Task<(byte[]? Answer, string? Error)> AskAsync(byte[] body, CancellationToken cancellationToken)
    {
        // One bound for the whole exchange, body included (the pipeline's timeout ends with the headers).
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.TimeoutMs);
        try
        {
            using var response = await PostAsync("message.before_send", body, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                return (null, $"HTTP {(int)response.StatusCode}");
            }

            if (response.Content.Headers.ContentLength > MaxAnswerBytes)
            {
                return (null, "answer too large");
            }

            await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
            var buffer = new byte[Math.Min(MaxAnswerBytes + 1, (int)(response.Content.Headers.ContentLength ?? 4096) + 1)];
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (buffer.Length > MaxAnswerBytes)
                    {
                        return (null, "answer too large");
                    }

                    Array.Resize(ref buffer, Math.Min(MaxAnswerBytes + 1, buffer.Length * 2));
                }

                var read = await stream.ReadAsync(buffer.AsMemory(length), timeout.Token);
                if (read == 0)
                {
                    break;
                }

                length += read;
            }

            return length > MaxAnswerBytes ? (null, "answer too large") : (buffer.AsSpan(0, length).ToArray(), null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return (null, timeout.IsCancellationRequested ? "timeout" : Describe(e));
        }
    }

    private async Task<HttpResponseMessage> PostAsync(string type, byte[] body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.TryAddWithoutValidation("X-Parley-Event", type);
        request.Headers.TryAddWithoutValidation("X-Parley-Signature", Signature(_secret, body));
        return await clients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    private static string Describe(Exception e) => e switch
    {
        Polly.Timeout.TimeoutRejectedException or TaskCanceledException or OperationCanceledException => "timeout",
        HttpRequestException h => h.HttpRequestError.ToString(),
        _ => e.GetType().Name,
    };
}
