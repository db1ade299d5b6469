using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Parley.Server.LinkPreviews;

namespace Parley.Server.Push;

/// <summary>
/// POSTs push bodies to the endpoints users registered, with the link previews' protection against server-side
/// request forgery (an endpoint is a URL a user chose): the host is resolved once, at connect, and every address it
/// resolves to must be public (<see cref="AddressRules"/>: no loopback, private, link-local or metadata address, IPv4
/// or IPv6, mapped ones included), and the connection goes to that vetted address; redirects are not followed (a 3xx
/// is a failed attempt); no cookies, no proxy; each attempt bounded by Push:TimeoutMs; the answer's body is not read.
/// Hosts in Push:AllowedInsecureHosts are the operator's own (a UnifiedPush distributor, a gateway on the private
/// network) and skip the address check. Never logs endpoints (a UnifiedPush endpoint is a capability URL) or bodies.
/// </summary>
public sealed class PushClient : IDisposable
{
    private readonly HttpClient _client;
    private readonly PushOptions _options;

    public PushClient(IOptions<PushOptions> options)
    {
        _options = options.Value;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            MaxResponseHeadersLength = 16, // KiB
            ConnectTimeout = TimeSpan.FromMilliseconds(_options.TimeoutMs),
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectCallback = ConnectAsync,
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public void Dispose() => _client.Dispose();

    /// <summary>The answer to one attempt: delivered (2xx), gone (404/410: the endpoint no longer exists), or failed with why.</summary>
    public readonly record struct Outcome(bool Delivered, bool Gone, string? Error);

    public async Task<Outcome> PostAsync(string endpoint, string id, byte[] body, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.TimeoutMs);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            request.Headers.TryAddWithoutValidation("X-Parley-Push-Id", id); // the same on every attempt: a receiver dedupes by it
            request.Headers.TryAddWithoutValidation("TTL", "86400"); // Web Push / UnifiedPush distributors want one
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            return status is >= 200 and < 300 ? new Outcome(true, false, null)
                : status is 404 or 410 ? new Outcome(false, true, $"HTTP {status}")
                : new Outcome(false, false, $"HTTP {status}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Outcome(false, false, "timeout");
        }
        catch (HttpRequestException e)
        {
            return new Outcome(false, false, e.InnerException is RefusedAddressException refused ? refused.Message : e.HttpRequestError.ToString());
        }
        catch (Exception e) when (e is UriFormatException or InvalidOperationException)
        {
            return new Outcome(false, true, "bad endpoint");
        }
    }

    /// <summary>Whether a connection to this address and port is allowed for a host not in Push:AllowedInsecureHosts.</summary>
    public bool Allowed(IPAddress address, int port) => AddressRules.Allowed(address, port, _options.TestLoopbackPort);

    /// <summary>Resolves once, checks every address, connects to a vetted one (a second DNS answer cannot slip in).</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var port = context.DnsEndPoint.Port;
        IPAddress[] addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);
        if (addresses.Length == 0)
        {
            throw new RefusedAddressException("the host name does not resolve");
        }

        if (!_options.IsAllowedInsecure(host) && addresses.Any(a => !Allowed(a, port)))
        {
            throw new RefusedAddressException("refused address");
        }

        var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses[0];
        return await AddressRules.ConnectAsync(chosen.IsIPv4MappedToIPv6 ? chosen.MapToIPv4() : chosen, port, cancellationToken);
    }

    /// <summary>The endpoint's host is (or resolves to) an address pushes may not go to.</summary>
    private sealed class RefusedAddressException(string message) : IOException(message);
}
