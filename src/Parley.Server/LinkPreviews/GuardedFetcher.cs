using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Parley.Server.LinkPreviews;

/// <summary>Why a fetch did not give a body.</summary>
public enum FetchFailure
{
    /// <summary>Not http(s), or no host.</summary>
    BadUrl,

    /// <summary>The name resolved to (or the URL named) an address that is not public.</summary>
    ForbiddenAddress,

    NotFound,
    TooManyRedirects,
    TooLarge,
    WrongType,
    Timeout,
    Failed,
}

public sealed class FetchException(FetchFailure failure, string detail) : Exception(detail)
{
    public FetchFailure Failure { get; } = failure;
}

/// <summary>A fetched body: its bytes, its declared media type and charset, and the URL it finally came from.</summary>
public sealed record Fetched(byte[] Body, string? MediaType, string? Charset, Uri FinalUrl);

/// <summary>
/// One deadline for everything a preview fetches (the page, its redirects and its og:image): started once per request
/// on the injected clock, so the fetches together, not each, are bounded by <c>LinkPreviews:TimeoutMs</c>.
/// </summary>
public sealed class FetchDeadline : IDisposable
{
    private readonly CancellationTokenSource _timer;
    private readonly CancellationTokenSource _linked;

    public FetchDeadline(TimeSpan after, TimeProvider time, CancellationToken cancellationToken)
    {
        _timer = new CancellationTokenSource(after, time);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _timer.Token);
        Limit = after;
    }

    public TimeSpan Limit { get; }

    /// <summary>Cancelled when the deadline passes or the caller goes away.</summary>
    public CancellationToken Token => _linked.Token;

    public bool Expired => _timer.IsCancellationRequested;

    public void Dispose()
    {
        _linked.Dispose();
        _timer.Dispose();
    }
}

/// <summary>
/// HTTP GET with server-side request forgery protection (docs/link-previews.md): only http and https; the host is
/// resolved once and every address it resolves to must be public (<see cref="AddressRules"/>), and the connection is
/// made to that vetted address by a <see cref="SocketsHttpHandler.ConnectCallback"/> (so a second, different DNS
/// answer cannot slip in between check and connect); redirects are followed by hand, each one checked the same way,
/// at most <c>LinkPreviews:MaxRedirects</c>; the body is read up to a bound; no cookies, no proxy, a fixed User-Agent.
/// </summary>
public sealed class GuardedFetcher : IDisposable
{
    public const string UserAgent = "ParleyLinkPreview/1.0 (+https://github.com/parley)";

    private static readonly HttpRequestOptionsKey<IPAddress> VettedAddress = new("parley.vetted-address");
    private readonly HttpClient _client;
    private readonly LinkPreviewOptions _options;

    public GuardedFetcher(IOptions<LinkPreviewOptions> options)
    {
        _options = options.Value;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.All, // the decompressed bytes are what is counted
            MaxResponseHeadersLength = 64, // KiB
            ConnectTimeout = TimeSpan.FromMilliseconds(_options.TimeoutMs),
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectCallback = ConnectAsync,
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>Whether a connection to this address and port is allowed.</summary>
    public bool Allowed(IPAddress address, int port) => AddressRules.Allowed(address, port, _options.TestLoopbackPort);

    /// <summary>
    /// Checks a URL's form: an absolute http or https URL with a host, at most <see cref="LinkPreviewService.MaxUrl"/>
    /// characters as it is fetched (see <see cref="FetchedLength"/>). Null when it is fine, else why not.
    /// </summary>
    public static string? CheckUrl(Uri url) =>
        CheckForm(url) ?? (FetchedLength(url) > LinkPreviewService.MaxUrl ? $"must be at most {LinkPreviewService.MaxUrl} characters once normalised (punycode host, percent-encoded path and query)" : null);

    /// <summary>The scheme and host part of <see cref="CheckUrl"/>.</summary>
    public static string? CheckForm(Uri url) =>
        !url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
            ? "must be an http or https URL"
            : string.IsNullOrEmpty(url.Host) ? "must name a host" : null;

    /// <summary>
    /// The length of the URL as it goes out: the escaped form (<see cref="Uri.AbsoluteUri"/>, non-ASCII percent-encoded)
    /// and the form with the punycode host (<see cref="Uri.IdnHost"/>), whichever is longer; a short Unicode text can
    /// grow several times over in either.
    /// </summary>
    public static int FetchedLength(Uri url)
    {
        var idn = url.Scheme.Length + 3 + url.IdnHost.Length + (url.HostNameType == UriHostNameType.IPv6 ? 2 : 0)
            + (url.IsDefaultPort ? 0 : 1 + url.Port.ToString(System.Globalization.CultureInfo.InvariantCulture).Length) + url.PathAndQuery.Length;
        return Math.Max(url.AbsoluteUri.Length, idn);
    }

    /// <summary>Fetches <paramref name="url"/>, following redirects, within <paramref name="deadline"/>; throws <see cref="FetchException"/>.</summary>
    public async Task<Fetched> GetAsync(Uri url, int maxBytes, Func<string?, bool> acceptType, string accept, FetchDeadline deadline, CancellationToken cancellationToken)
    {
        var token = deadline.Token;
        try
        {
            for (var redirects = 0; ; redirects++)
            {
                if (CheckUrl(url) is { } problem)
                {
                    throw new FetchException(FetchFailure.BadUrl, problem);
                }

                var address = await VetAsync(url, token);
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Options.Set(VettedAddress, address);
                request.Headers.UserAgent.ParseAdd(UserAgent);
                request.Headers.Accept.ParseAdd(accept);
                using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token);
                var status = (int)response.StatusCode;
                if (status is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    if (redirects >= _options.MaxRedirects)
                    {
                        throw new FetchException(FetchFailure.TooManyRedirects, $"more than {_options.MaxRedirects} redirects");
                    }

                    url = Uri.TryCreate(url, location, out var next) ? next : throw new FetchException(FetchFailure.BadUrl, "the server redirected to an unusable URL");
                    continue;
                }

                if (status is < 200 or >= 300)
                {
                    throw new FetchException(status == 404 ? FetchFailure.NotFound : FetchFailure.Failed, $"the server answered {status}");
                }

                var type = response.Content.Headers.ContentType;
                if (!acceptType(type?.MediaType?.ToLowerInvariant()))
                {
                    throw new FetchException(FetchFailure.WrongType, $"the server sent {type?.MediaType ?? "no content type"}");
                }

                if (response.Content.Headers.ContentLength > maxBytes)
                {
                    throw new FetchException(FetchFailure.TooLarge, $"the body is larger than {maxBytes} bytes");
                }

                var body = await ReadBoundedAsync(await response.Content.ReadAsStreamAsync(token), maxBytes, token);
                return new Fetched(body, type?.MediaType?.ToLowerInvariant(), type?.CharSet, url);
            }
        }
        catch (OperationCanceledException) when (deadline.Expired && !cancellationToken.IsCancellationRequested)
        {
            throw new FetchException(FetchFailure.Timeout, $"no complete answer within {(long)deadline.Limit.TotalMilliseconds} ms");
        }
        catch (HttpRequestException e)
        {
            throw new FetchException(FetchFailure.Failed, e.HttpRequestError.ToString());
        }
        catch (IOException)
        {
            // A body shorter than its Content-Length, bad chunked framing, a reset mid-body (HttpIOException).
            throw new FetchException(FetchFailure.Failed, "the connection broke off before the body was complete");
        }
        catch (InvalidDataException)
        {
            // A Content-Encoding (gzip, deflate, br) stream that does not decompress.
            throw new FetchException(FetchFailure.Failed, "the body does not decompress");
        }
    }

    /// <summary>The one address this URL's connection goes to; every address its host resolves to must be allowed.</summary>
    private async Task<IPAddress> VetAsync(Uri url, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        if (IPAddress.TryParse(url.DnsSafeHost, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = await Dns.GetHostAddressesAsync(url.IdnHost, cancellationToken);
            }
            catch (SocketException)
            {
                throw new FetchException(FetchFailure.Failed, "the host name does not resolve");
            }
        }

        if (addresses.Length == 0)
        {
            throw new FetchException(FetchFailure.Failed, "the host name does not resolve");
        }

        // Strict: one non-public answer refuses the name (an attacker's DNS may mix them).
        if (addresses.Any(a => !Allowed(a, url.Port)))
        {
            throw new FetchException(FetchFailure.ForbiddenAddress, "the host is a private, loopback, link-local or otherwise reserved address");
        }

        var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses[0];
        return chosen.IsIPv4MappedToIPv6 ? chosen.MapToIPv4() : chosen;
    }

    /// <summary>Connects only to the address <see cref="VetAsync"/> checked for this request, never resolving again.</summary>
    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        if (!context.InitialRequestMessage.Options.TryGetValue(VettedAddress, out var address))
        {
            throw new InvalidOperationException("A link-preview connection without a vetted address.");
        }

        return await AddressRules.ConnectAsync(address, context.DnsEndPoint.Port, cancellationToken);
    }

    private static async Task<byte[]> ReadBoundedAsync(Stream stream, int maxBytes, CancellationToken cancellationToken)
    {
        await using (stream)
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (buffer.Length + read > maxBytes)
                {
                    throw new FetchException(FetchFailure.TooLarge, $"the body is larger than {maxBytes} bytes");
                }

                buffer.Write(chunk, 0, read);
            }

            // Nothing to preview; also what a gzip stream cut after its header decompresses to.
            return buffer.Length == 0 ? throw new FetchException(FetchFailure.Failed, "the body is empty or does not decompress") : buffer.ToArray();
        }
    }

    public void Dispose() => _client.Dispose();
}
