using Parley.Storage;

namespace Parley.Server.Http;

/// <summary>Keyset paging: fetch one row more than the page, and the last row of the page is the cursor.</summary>
public static class Paging
{
    /// <summary>The id a cursor names, or <paramref name="none"/> without one; 400 for a cursor this server did not issue.</summary>
    public static long Id(string? cursor, long none = 0)
    {
        if (cursor is null)
        {
            return none;
        }

        return Ids.TryParse(cursor, out var id) ? id : throw InvalidCursor();
    }

    /// <summary>A two-part cursor "first.second" (a sort key and an id); 400 for anything else.</summary>
    public static (long First, long Second) Pair(string cursor)
    {
        var dot = cursor.IndexOf('.', StringComparison.Ordinal);
        return dot > 0
            && long.TryParse(cursor.AsSpan(0, dot), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var first)
            && long.TryParse(cursor.AsSpan(dot + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var second)
                ? (first, second)
                : throw InvalidCursor();
    }

    /// <summary>The cursor naming a (sort key, id) position.</summary>
    public static string Pair(long first, long second) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{first}.{second}");

    public static ApiException InvalidCursor() => ApiException.Invalid("cursor", "is not a cursor this server issued");

    /// <summary>
    /// The page of <paramref name="rows"/> (fetched with limit + 1) mapped to items; rows that map to null
    /// (their user was deleted meanwhile) are left out without disturbing the cursor.
    /// </summary>
    public static ListResponse<TItem> Page<TRow, TItem>(IReadOnlyList<TRow> rows, int limit, Func<TRow, TItem?> map, Func<TRow, string> cursorOf)
        where TItem : class
    {
        var items = new List<TItem>(Math.Min(rows.Count, limit));
        for (var i = 0; i < rows.Count && i < limit; i++)
        {
            if (map(rows[i]) is { } item)
            {
                items.Add(item);
            }
        }

        return new ListResponse<TItem>(items, rows.Count > limit ? cursorOf(rows[limit - 1]) : null);
    }
}
