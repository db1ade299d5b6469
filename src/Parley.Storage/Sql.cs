using Dapper;

namespace Parley.Storage;

/// <summary>Small SQL-building helpers that both engines accept.</summary>
internal static class Sql
{
    /// <summary>"@p0, @p1, ..." and the matching parameters, for an IN list.</summary>
    public static (string List, DynamicParameters Parameters) InList<T>(string prefix, IReadOnlyList<T> values)
    {
        var parameters = new DynamicParameters();
        var names = new string[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            names[i] = "@" + prefix + i;
            parameters.Add(prefix + i, values[i]);
        }

        return (string.Join(", ", names), parameters);
    }

    /// <summary>
    /// Appends the search filters that users and groups share: <paramref name="text"/> as a case-insensitive
    /// substring of any of <paramref name="textColumns"/> (which hold lower-cased text), and every one of
    /// <paramref name="tags"/> present in <paramref name="tagTable"/> for the row <paramref name="ownerId"/>.
    /// </summary>
    public static void AppendSearchFilters(
        System.Text.StringBuilder sql,
        DynamicParameters parameters,
        string? text,
        IReadOnlyList<string> textColumns,
        IReadOnlyList<string> tags,
        string tagTable,
        string ownerColumn,
        string ownerId)
    {
        if (!string.IsNullOrEmpty(text))
        {
            parameters.Add("pattern", "%" + EscapeLike(text.ToLowerInvariant()) + "%");
            sql.Append(" AND (")
               .AppendJoin(" OR ", textColumns.Select(c => c + @" LIKE @pattern ESCAPE '\'"))
               .Append(')');
        }

        if (tags.Count > 0)
        {
            var (list, tagParameters) = InList("tag", tags);
            parameters.AddDynamicParams(tagParameters);
            parameters.Add("tagCount", tags.Count);
            sql.Append($" AND (SELECT COUNT(*) FROM {tagTable} WHERE {ownerColumn} = {ownerId} AND tag IN ({list})) = @tagCount");
        }
    }

    /// <summary>"a.x, a.y" for the columns "x, y" and the alias "a".</summary>
    public static string Prefixed(string columns, string alias) =>
        string.Join(", ", columns.Split(", ").Select(c => alias + "." + c));

    /// <summary>Escapes LIKE wildcards so user text matches literally (use with ESCAPE '\').</summary>
    public static string EscapeLike(string value) =>
        value.Replace(@"\", @"\\", StringComparison.Ordinal)
             .Replace("%", @"\%", StringComparison.Ordinal)
             .Replace("_", @"\_", StringComparison.Ordinal);
}
