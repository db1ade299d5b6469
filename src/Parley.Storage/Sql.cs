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

    /// <summary>Escapes LIKE wildcards so user text matches literally (use with ESCAPE '\').</summary>
    public static string EscapeLike(string value) =>
        value.Replace(@"\", @"\\", StringComparison.Ordinal)
             .Replace("%", @"\%", StringComparison.Ordinal)
             .Replace("_", @"\_", StringComparison.Ordinal);
}
