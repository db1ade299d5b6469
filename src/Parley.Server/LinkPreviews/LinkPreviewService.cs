using System.Text;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Parley.Server.Files;
using Parley.Server.Http;

namespace Parley.Server.LinkPreviews;

public sealed record LinkPreviewRequest(string? Url);

/// <summary>The preview, shaped as a <c>link</c> message's content: absent members are left out.</summary>
public sealed record LinkPreviewDto(
    string Url,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Title,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Description,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? ImageFileId);

/// <summary>
/// POST /api/link-previews (docs/link-previews.md): fetches a page through <see cref="GuardedFetcher"/>, reads its Open
/// Graph tags (then &lt;title&gt; and the description meta tag) with AngleSharp, fetches og:image under the same guard
/// and stores it as a file of the caller's, counted against the caller's daily upload quota. Previews (with the image
/// bytes) are cached per URL, bounded in bytes and time; each caller still gets a file of their own (the bytes are
/// stored once). Rate limited per user, bounded in flight per user and per node, one deadline per request.
/// </summary>
public sealed partial class LinkPreviewService : IDisposable
{
    public const int MaxTitle = 256;
    public const int MaxDescription = 1024;
    public const int MaxUrl = 2048;

    /// <summary>At most this much of a page is parsed (the head; see <see cref="HeadOf"/>).</summary>
    public const int MaxParseBytes = 64 * 1024;

    /// <summary>At most this many tags of a page are parsed; the rest is cut off before parsing.</summary>
    public const int MaxParseTags = 2000;

    private readonly GuardedFetcher _fetcher;
    private readonly FileService _files;
    private readonly LinkPreviewOptions _options;
    private readonly TokenBuckets _rate;
    private readonly MemoryCache? _cache;
    private readonly SemaphoreSlim _fetches;
    private readonly Dictionary<long, int> _inFlight = [];
    private readonly TimeProvider _time;
    private readonly ILogger<LinkPreviewService> _logger;

    public LinkPreviewService(GuardedFetcher fetcher, FileService files, IOptions<LinkPreviewOptions> options, TimeProvider time, ILogger<LinkPreviewService> logger)
    {
        _fetcher = fetcher;
        _files = files;
        _options = options.Value;
        _logger = logger;
        _time = time;
        _rate = new TokenBuckets(_options.RequestsPerMinute / 60.0, _options.RequestsPerMinute, time);
        _fetches = new SemaphoreSlim(_options.MaxConcurrentFetches);
        if (_options.CacheBytes > 0 && _options.CacheMinutes > 0)
        {
            _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = _options.CacheBytes, Clock = new CacheClock(time) });
        }
    }

    public async Task<LinkPreviewDto> PreviewAsync(long userId, LinkPreviewRequest request, CancellationToken cancellationToken)
    {
        var url = CheckUrl(request.Url);
        if (!_rate.TryTake(userId, out var left))
        {
            throw new ApiException(429, ErrorCodes.RateLimited, $"At most {_options.RequestsPerMinute} link previews a minute.") { RetryAfterSeconds = _rate.SecondsUntilToken(left) };
        }

        // Per user before per node, so one user's flood of slow pages cannot take the node's fetch slots from everyone.
        if (!TryEnter(userId))
        {
            throw new ApiException(429, ErrorCodes.RateLimited, $"At most {_options.MaxConcurrentPerUser} link previews at once; wait for one to finish.") { RetryAfterSeconds = 1 };
        }

        try
        {
            return await PreviewWithinAsync(userId, url, cancellationToken);
        }
        finally
        {
            Exit(userId);
        }
    }

    private async Task<LinkPreviewDto> PreviewWithinAsync(long userId, Uri url, CancellationToken cancellationToken)
    {
        var key = url.AbsoluteUri;
        if (_cache?.TryGetValue(key, out Preview? cached) != true || cached is null)
        {
            if (!await _fetches.WaitAsync(0, cancellationToken))
            {
                throw new ApiException(503, ErrorCodes.Unavailable, "Too many link previews are being fetched; try again shortly.") { RetryAfterSeconds = 1 };
            }

            try
            {
                cached = await FetchAsync(url, cancellationToken);
            }
            finally
            {
                _fetches.Release();
            }

            if (cached.Complete)
            {
                _cache?.Set(key, cached, new MemoryCacheEntryOptions
                {
                    Size = cached.Size,
                    AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(_options.CacheMinutes),
                });
            }
        }

        string? imageFileId = null;
        if (cached.Image is { } image)
        {
            // Counted against the caller's daily upload quota (and Files:MaxBytes): an image that does not fit is left out.
            imageFileId = (await _files.TryStoreFetchedAsync(image, cached.ImageName, userId, cancellationToken))?.Id;
            if (imageFileId is null)
            {
                LogImageOverQuota(_logger);
            }
        }

        return new LinkPreviewDto(key, cached.Title, cached.Description, imageFileId);
    }

    private static Uri CheckUrl(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw ApiException.Invalid("url", "is required");
        }

        if (text.Length > MaxUrl || !Uri.TryCreate(text.Trim(), UriKind.Absolute, out var url))
        {
            throw ApiException.Invalid("url", $"must be an absolute http or https URL of at most {MaxUrl} characters");
        }

        // Scheme and host here; the length of the URL as it is fetched and answered (punycode host, percent-encoded path
        // and query) below, by GuardedFetcher.CheckUrl: 2,000 characters of text can become 12,000 once encoded.
        if (GuardedFetcher.CheckForm(url) is { } problem)
        {
            throw ApiException.Invalid("url", problem);
        }

        if (url.UserInfo.Length > 0)
        {
            throw ApiException.Invalid("url", "must not carry a user name or password");
        }

        // The fragment never reaches the server: one cache entry for every fragment of a page.
        if (!Uri.TryCreate(url.GetComponents(UriComponents.HttpRequestUrl, UriFormat.UriEscaped), UriKind.Absolute, out var normalised))
        {
            throw ApiException.Invalid("url", "is not a usable URL");
        }

        return GuardedFetcher.CheckUrl(normalised) is { } tooLong ? throw ApiException.Invalid("url", tooLong) : normalised;
    }

    private async Task<Preview> FetchAsync(Uri url, CancellationToken cancellationToken)
    {
        // One deadline for the page, its redirects and its image together.
        using var deadline = new FetchDeadline(TimeSpan.FromMilliseconds(_options.TimeoutMs), _time, cancellationToken);
        Fetched page;
        try
        {
            page = await _fetcher.GetAsync(url, _options.MaxPageBytes, t => t is "text/html" or "application/xhtml+xml", "text/html,application/xhtml+xml;q=0.9", deadline, cancellationToken);
        }
        catch (FetchException e)
        {
            LogRefused(_logger, e.Failure);
            throw e.Failure switch
            {
                FetchFailure.BadUrl => ApiException.Invalid("url", e.Message),
                FetchFailure.ForbiddenAddress => ApiException.Forbidden($"url: {e.Message}; link previews fetch public addresses only."),
                FetchFailure.TooLarge => new ApiException(413, ErrorCodes.TooLarge, $"The page is too large to preview: {e.Message}."),
                FetchFailure.WrongType => new ApiException(415, ErrorCodes.UnsupportedMediaType, $"Only HTML pages are previewed: {e.Message}."),
                FetchFailure.Timeout => new ApiException(503, ErrorCodes.Unavailable, $"The page did not answer in time: {e.Message}.") { RetryAfterSeconds = 5 },
                _ => ApiException.Invalid("url", $"could not be fetched: {e.Message}"),
            };
        }

        var (title, description, imageUrl) = Parse(page);
        byte[]? image = null;
        var imageName = "preview";
        var complete = true;
        if (_options.FetchImages && imageUrl is not null && Uri.TryCreate(page.FinalUrl, imageUrl, out var imageUri) && GuardedFetcher.CheckUrl(imageUri) is null)
        {
            try
            {
                var fetched = await _fetcher.GetAsync(imageUri, _options.MaxImageBytes, t => t?.StartsWith("image/", StringComparison.Ordinal) == true, "image/*", deadline, cancellationToken);
                var head = fetched.Body.AsSpan(0, Math.Min(fetched.Body.Length, ContentSniffer.HeadLength));
                // The bytes decide, as for uploads: a "PNG" that is HTML is no image (and SVG, which can hold script, is none either).
                if (ContentSniffer.IsImage(ContentSniffer.Sniff(head, fetched.Body.Length <= ContentSniffer.HeadLength)))
                {
                    image = fetched.Body;
                    imageName = ImageName(fetched.FinalUrl);
                }
            }
            catch (FetchException e)
            {
                LogImageLeftOut(_logger, e.Failure); // the preview goes without its image
                complete = e.Failure != FetchFailure.Timeout; // out of time (the page took most of it): not cached, so a later preview may get the image
            }
            catch (Exception e) when (e is IOException or InvalidDataException or HttpRequestException)
            {
                LogImageLeftOut(_logger, FetchFailure.Failed);
            }
        }

        return new Preview(title, description, image, imageName, complete);
    }

    internal static (string? Title, string? Description, string? ImageUrl) Parse(Fetched page)
    {
        var parser = new HtmlParser(new HtmlParserOptions { IsScripting = false });
        Encoding? declared = null;
        if (page.Charset is { Length: > 0 } charset)
        {
            try
            {
                declared = Encoding.GetEncoding(charset.Trim('"', ' '));
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                // An unknown charset, or one .NET refuses (utf-7): AngleSharp sniffs the bytes instead.
            }
        }

        var head = HeadOf(page.Body);
        // A charset in the header wins; otherwise AngleSharp sniffs the bytes (BOM, <meta charset>).
        using var document = declared is not null
            ? parser.ParseDocument(declared.GetString(head.Span))
            : parser.ParseDocument(new MemoryStream(page.Body, 0, head.Length, writable: false));
        var title = Clean(Meta(document, "og:title") ?? Meta(document, "twitter:title") ?? document.Title, MaxTitle);
        var description = Clean(Meta(document, "og:description") ?? Meta(document, "description") ?? Meta(document, "twitter:description"), MaxDescription);
        var image = Meta(document, "og:image") ?? Meta(document, "og:image:url") ?? Meta(document, "og:image:secure_url") ?? Meta(document, "twitter:image");
        return (title, description, image?.Trim());
    }

    /// <summary>
    /// The part of the page a preview reads: up to the first <c>&lt;/head</c> or <c>&lt;body</c>, at most
    /// <see cref="MaxParseBytes"/> bytes and at most <see cref="MaxParseTags"/> tags. AngleSharp's tree building is
    /// superlinear on deeply nested (formatting) tags, so a page of them is cut before it is parsed, which bounds the CPU
    /// of one preview; Open Graph tags and &lt;title&gt; live in the head.
    /// </summary>
    internal static ReadOnlyMemory<byte> HeadOf(byte[] body)
    {
        var span = body.AsSpan(0, Math.Min(body.Length, MaxParseBytes));
        var end = span.Length;
        var tags = 0;
        for (var i = 0; i < span.Length; i++)
        {
            if (span[i] != (byte)'<')
            {
                continue;
            }

            if (++tags > MaxParseTags || StartsWithIgnoreCase(span[(i + 1)..], "/head"u8) || StartsWithIgnoreCase(span[(i + 1)..], "body"u8))
            {
                end = i;
                break;
            }
        }

        return body.AsMemory(0, end);
    }

    private static bool StartsWithIgnoreCase(ReadOnlySpan<byte> text, ReadOnlySpan<byte> ascii)
    {
        if (text.Length < ascii.Length)
        {
            return false;
        }

        for (var i = 0; i < ascii.Length; i++)
        {
            if ((text[i] | 0x20) != ascii[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A meta tag's content by <c>property</c> (Open Graph) or <c>name</c>, case-insensitively.</summary>
    private static string? Meta(IDocument document, string name)
    {
        foreach (var meta in document.QuerySelectorAll("meta"))
        {
            if ((string.Equals(meta.GetAttribute("property"), name, StringComparison.OrdinalIgnoreCase)
                 || string.Equals(meta.GetAttribute("name"), name, StringComparison.OrdinalIgnoreCase))
                && meta.GetAttribute("content") is { } content && !string.IsNullOrWhiteSpace(content))
            {
                return content;
            }
        }

        return null;
    }

    /// <summary>Whitespace runs become one space, control characters go, and the text is cut to <paramref name="max"/>.</summary>
    private static string? Clean(string? text, int max)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var builder = new StringBuilder(Math.Min(text.Length, max));
        var space = false;
        foreach (var c in text.Trim())
        {
            if (char.IsWhiteSpace(c))
            {
                space = true;
                continue;
            }

            if (char.IsControl(c))
            {
                continue;
            }

            if (space && builder.Length > 0)
            {
                builder.Append(' ');
            }

            space = false;
            builder.Append(c);
            if (builder.Length >= max)
            {
                break;
            }
        }

        var result = builder.Length > max ? builder.ToString(0, max) : builder.ToString();
        // Never cut a surrogate pair in half.
        return result.Length > 0 && char.IsHighSurrogate(result[^1]) ? result[..^1] : result;
    }

    private static string ImageName(Uri url)
    {
        var last = url.Segments.LastOrDefault()?.Trim('/');
        return string.IsNullOrEmpty(last) ? "preview" : Uri.UnescapeDataString(last);
    }

    /// <summary>Takes one of the user's <see cref="LinkPreviewOptions.MaxConcurrentPerUser"/> slots; <see cref="Exit"/> gives it back.</summary>
    private bool TryEnter(long userId)
    {
        // A plain lock: previews are rare (a rate per user per minute) and the dictionary holds only users with one in flight.
        lock (_inFlight)
        {
            ref var count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_inFlight, userId, out _);
            if (count >= _options.MaxConcurrentPerUser)
            {
                return false;
            }

            count++;
            return true;
        }
    }

    private void Exit(long userId)
    {
        lock (_inFlight)
        {
            ref var count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_inFlight, userId);
            if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref count) && --count <= 0)
            {
                _inFlight.Remove(userId);
            }
        }
    }

    public void Dispose()
    {
        _rate.Dispose();
        _cache?.Dispose();
        _fetches.Dispose();
    }

    private sealed record Preview(string? Title, string? Description, byte[]? Image, string ImageName, bool Complete)
    {
        public long Size => 256 + ((Title?.Length ?? 0) * 2) + ((Description?.Length ?? 0) * 2) + (Image?.Length ?? 0);
    }

    /// <summary>The cache's expiry on the injected clock.</summary>
    private sealed class CacheClock(TimeProvider time) : Microsoft.Extensions.Internal.ISystemClock
    {
        public DateTimeOffset UtcNow => time.GetUtcNow();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Link preview refused: {Failure}")]
    private static partial void LogRefused(ILogger logger, FetchFailure failure);

    [LoggerMessage(Level = LogLevel.Information, Message = "Link preview image left out: over the caller's upload quota or Files:MaxBytes")]
    private static partial void LogImageOverQuota(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Link preview image left out: {Failure}")]
    private static partial void LogImageLeftOut(ILogger logger, FetchFailure failure);
}
