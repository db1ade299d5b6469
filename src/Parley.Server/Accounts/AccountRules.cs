using System.Globalization;
using System.Text;
using System.Text.Json;
using Parley.Server.Http;

namespace Parley.Server.Accounts;

/// <summary>The contract's rules for account fields; pure functions, unit tested.</summary>
public static class AccountRules
{
    public const int MaxNickname = 64;
    public const int MaxBio = 500;
    public const int MaxEmail = 254;
    public const int MaxDeviceName = 64;
    public const int MaxTags = 20;
    public const int MaxTagLength = 32;
    public const int MaxSearchText = 64;

    public static bool IsValidUsername(string? value)
    {
        if (value is null || value.Length is < 3 or > 32)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    public static bool IsValidPassword(string? value) => value is { Length: >= 8 and <= 128 };

    /// <summary>A required string of at most <paramref name="max"/> characters (credentials, ids).</summary>
    public static void RequireText(Validation v, string field, string? value, int max)
    {
        if (string.IsNullOrEmpty(value) || value.Length > max)
        {
            v.Add(field, "is required");
        }
    }

    public static void CheckUsername(Validation v, string? username)
    {
        if (!IsValidUsername(username))
        {
            v.Add("username", "must be 3-32 characters of A-Z, a-z, 0-9, '_', '.', '-'");
        }
    }

    public static void CheckPassword(Validation v, string field, string? password)
    {
        if (!IsValidPassword(password))
        {
            v.Add(field, "must be 8-128 characters");
        }
    }

    /// <summary>Trims and checks a nickname; returns the value to store.</summary>
    public static string? CheckNickname(Validation v, string? nickname)
    {
        var value = nickname is null ? null : WithoutFormatCharacters(nickname).Trim();
        if (string.IsNullOrEmpty(value) || value.Length > MaxNickname || HasControl(value))
        {
            v.Add("nickname", $"must be 1-{MaxNickname} characters without control characters");
            return null;
        }

        return value;
    }

    /// <summary>
    /// <paramref name="text"/> without Unicode format characters (category Cf: bidi overrides and isolates, zero-width
    /// spaces, the BOM, invisible tags): they let a name look like another or reorder what is shown around it. The
    /// zero-width joiner and non-joiner stay where they join two visible characters (emoji sequences, Persian and
    /// Indic scripts need them); anywhere else they go too.
    /// </summary>
    public static string WithoutFormatCharacters(string text)
    {
        if (!text.Any(IsFormat))
        {
            return text;
        }

        var result = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsSurrogate(c) && i + 1 < text.Length && char.IsSurrogatePair(c, text[i + 1]))
            {
                if (CharUnicodeInfo.GetUnicodeCategory(text, i) != UnicodeCategory.Format)
                {
                    result.Append(c).Append(text[i + 1]);
                }

                i++;
                continue;
            }

            if (!IsFormat(c) || (c is '\u200C' or '\u200D' && JoinsVisible(text, i)))
            {
                result.Append(c);
            }
        }

        return result.ToString();
    }

    private static bool IsFormat(char c) => char.IsSurrogate(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format;

    private static bool JoinsVisible(string text, int at) =>
        at > 0 && at + 1 < text.Length && IsVisible(text, at - 1, before: true) && IsVisible(text, at + 1, before: false);

    private static bool IsVisible(string text, int at, bool before)
    {
        // The neighbour may be the low or high half of a surrogate pair (an emoji).
        var start = before && char.IsLowSurrogate(text[at]) && at > 0 ? at - 1 : at;
        var category = CharUnicodeInfo.GetUnicodeCategory(text, start);
        return category is not (UnicodeCategory.Format or UnicodeCategory.Control or UnicodeCategory.SpaceSeparator
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);
    }

    public static string? CheckEmail(Validation v, string? email)
    {
        if (email is null)
        {
            return null;
        }

        var value = email.Trim();
        var at = value.IndexOf('@', StringComparison.Ordinal);
        if (value.Length > MaxEmail || at <= 0 || at != value.LastIndexOf('@') || at == value.Length - 1
            || value.AsSpan().IndexOfAny(" \t\r\n") >= 0 || HasControl(value))
        {
            v.Add("email", "must be an email address");
            return null;
        }

        return value;
    }

    public static string? CheckDevice(Validation v, string? device)
    {
        if (device is null)
        {
            return null;
        }

        var value = device.Trim();
        if (value.Length > MaxDeviceName || HasControl(value))
        {
            v.Add("device", $"must be at most {MaxDeviceName} characters without control characters");
            return null;
        }

        return value.Length == 0 ? null : value;
    }

    public static string? CheckBio(Validation v, string? bio)
    {
        if (bio is { Length: > MaxBio } || (bio is not null && HasControl(bio, allowLineBreaks: true)))
        {
            v.Add("bio", $"must be at most {MaxBio} characters without control characters other than line breaks and tabs");
            return null;
        }

        return bio ?? "";
    }

    /// <summary>Normalises a tag (trimmed, lower case); null when it is not acceptable.</summary>
    public static string? NormalizeTag(string? tag)
    {
        var value = tag?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(value) || value.Length > MaxTagLength)
        {
            return null;
        }

        foreach (var c in value)
        {
            // Commas separate tags in queries; whitespace and control characters make tags ambiguous.
            if (c == ',' || char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return null;
            }
        }

        return value;
    }

    /// <summary>Validates a JSON array of tags (or null, meaning none) and returns them normalised and distinct.</summary>
    public static IReadOnlyList<string>? CheckTags(Validation v, JsonElement tags)
    {
        if (tags.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (tags.ValueKind != JsonValueKind.Array)
        {
            v.Add("tags", "must be an array of strings");
            return null;
        }

        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in tags.EnumerateArray())
        {
            var tag = item.ValueKind == JsonValueKind.String ? NormalizeTag(item.GetString()) : null;
            if (tag is null)
            {
                v.Add("tags", $"each tag must be 1-{MaxTagLength} characters without spaces or commas");
                return null;
            }

            if (!seen.Add(tag))
            {
                continue;
            }

            if (result.Count == MaxTags)
            {
                v.Add("tags", $"at most {MaxTags} tags");
                return null;
            }

            result.Add(tag);
        }

        return result;
    }

    /// <summary>Parses the comma-separated <c>tags</c> query parameter.</summary>
    public static IReadOnlyList<string> ParseTagQuery(Validation v, string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return [];
        }

        if (text.AsSpan().Count(',') > 4 * MaxTags)
        {
            v.Add("tags", $"at most {MaxTags} tags");
            return [];
        }

        var result = new List<string>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var tag = NormalizeTag(part);
            if (tag is null)
            {
                v.Add("tags", $"each tag must be 1-{MaxTagLength} characters");
                return [];
            }

            if (!result.Contains(tag))
            {
                result.Add(tag);
            }
        }

        if (result.Count > MaxTags)
        {
            v.Add("tags", $"at most {MaxTags} tags");
            return [];
        }

        return result;
    }

    /// <summary>True when the text has control characters (other than \n, \r, \t when allowed).</summary>
    public static bool HasControl(string value, bool allowLineBreaks = false)
    {
        foreach (var c in value)
        {
            if (char.IsControl(c) && !(allowLineBreaks && c is '\n' or '\r' or '\t'))
            {
                return true;
            }
        }

        return false;
    }
}
