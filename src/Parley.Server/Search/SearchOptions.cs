namespace Parley.Server.Search;

/// <summary>Settings section <c>Search</c> (docs/search.md).</summary>
public sealed class SearchOptions
{
    public const string Section = "Search";

    /// <summary>Most characters (code points) in a query; a longer one is 400 <c>invalid</c>.</summary>
    public int MaxQueryLength { get; set; } = 256;

    /// <summary>
    /// A 2-character query has no trigram to look up in the index: it scans, without the index, the newest this
    /// many messages of each of the caller's conversations (of the one given), so its cost stays bounded.
    /// </summary>
    public int ShortQueryScanDepth { get; set; } = 2000;
}
