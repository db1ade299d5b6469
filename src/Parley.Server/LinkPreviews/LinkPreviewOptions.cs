namespace Parley.Server.LinkPreviews;

/// <summary>Settings section <c>LinkPreviews</c> (docs/link-previews.md); off by default.</summary>
public sealed class LinkPreviewOptions
{
    public const string Section = "LinkPreviews";

    public bool Enabled { get; set; }

    /// <summary>One deadline for a preview's fetches together (DNS, every redirect, the page, the og:image); a page not in by then is 503, an image not in by then is left out.</summary>
    public int TimeoutMs { get; set; } = 5000;

    /// <summary>The largest HTML page read; a larger one is refused (413).</summary>
    public int MaxPageBytes { get; set; } = 1024 * 1024;

    /// <summary>The largest og:image fetched; a larger one is left out of the preview.</summary>
    public int MaxImageBytes { get; set; } = 5 * 1024 * 1024;

    /// <summary>Redirects followed (each one checked like the first URL).</summary>
    public int MaxRedirects { get; set; } = 3;

    /// <summary>Whether og:image is fetched and stored as a file of the caller's.</summary>
    public bool FetchImages { get; set; } = true;

    /// <summary>Preview requests per user per minute (a burst of as many).</summary>
    public int RequestsPerMinute { get; set; } = 20;

    /// <summary>Fetches in flight at once on this node; beyond it 503.</summary>
    public int MaxConcurrentFetches { get; set; } = 16;

    /// <summary>Previews of one user in flight at once (fetching, or storing the image); beyond it 429 <c>rate_limited</c>.</summary>
    public int MaxConcurrentPerUser { get; set; } = 2;

    /// <summary>How long a fetched preview is answered from memory.</summary>
    public int CacheMinutes { get; set; } = 60;

    /// <summary>The cache's bound, in bytes of titles, descriptions and image bytes kept.</summary>
    public long CacheBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>TESTS ONLY: a port on which the fetcher may connect to loopback (127.0.0.0/8, ::1; not IPv4-mapped), so
    /// a test's local server can serve the happy path. 0 (the default): none. Every other port and every other private
    /// or reserved range stays refused.</summary>
    public int TestLoopbackPort { get; set; }

    public void Validate()
    {
        if (TimeoutMs < 1 || MaxPageBytes < 1 || MaxImageBytes < 1 || MaxRedirects < 0 || RequestsPerMinute < 1 || MaxConcurrentFetches < 1 || MaxConcurrentPerUser < 1 || CacheMinutes < 0 || CacheBytes < 0)
        {
            throw new InvalidOperationException("LinkPreviews: TimeoutMs, MaxPageBytes, MaxImageBytes, RequestsPerMinute, MaxConcurrentFetches and MaxConcurrentPerUser must be at least 1; MaxRedirects, CacheMinutes and CacheBytes at least 0.");
        }
    }
}
