using System.Text.Json;
using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Storage;

namespace Parley.Server.Groups;

/// <summary>Field rules for groups; pure functions.</summary>
public static class GroupRules
{
    public const int MaxName = 64;
    public const int MaxDescription = 500;
    public const int MaxAnnouncement = 2000;
    public const long MinIdleTtlSeconds = 60;
    public const long MaxIdleTtlSeconds = 31_536_000;

    public static string? CheckName(Validation v, string? name)
    {
        var value = name is null ? null : AccountRules.WithoutFormatCharacters(name).Trim();
        if (string.IsNullOrEmpty(value) || value.Length > MaxName || value.Any(char.IsControl))
        {
            v.Add("name", $"must be 1-{MaxName} characters without control characters");
            return null;
        }

        return value;
    }

    public static string CheckText(Validation v, string field, string? text, int max)
    {
        text = text is null ? null : AccountRules.WithoutFormatCharacters(text);
        if (text is not null && (text.Length > max || AccountRules.HasControl(text, allowLineBreaks: true)))
        {
            v.Add(field, $"must be at most {max} characters without control characters other than line breaks and tabs");
        }

        return text ?? "";
    }

    public static string? CheckJoinPolicy(Validation v, string? value)
    {
        if (value is "open" or "approval" or "invite")
        {
            return value;
        }

        v.Add("joinPolicy", "must be open, approval or invite");
        return null;
    }

    public static string? CheckVisibility(Validation v, string? value)
    {
        if (value is "public" or "private")
        {
            return value;
        }

        v.Add("visibility", "must be public or private");
        return null;
    }

    public static long? CheckIdleTtl(Validation v, long? seconds)
    {
        if (seconds is < MinIdleTtlSeconds or > MaxIdleTtlSeconds)
        {
            v.Add("idleTtlSeconds", $"must be from {MinIdleTtlSeconds} to {MaxIdleTtlSeconds}");
            return null;
        }

        return seconds;
    }

    /// <summary>Parses a list of user ids (1..max, distinct), adding a field error when malformed.</summary>
    public static IReadOnlyList<long> CheckUserIds(Validation v, string field, IReadOnlyList<string>? values, int max, bool allowEmpty)
    {
        if (values is null || values.Count == 0)
        {
            if (!allowEmpty)
            {
                v.Add(field, "must list at least one user id");
            }

            return [];
        }

        if (values.Count > max)
        {
            v.Add(field, $"at most {max} user ids per call");
            return [];
        }

        var result = new List<long>(values.Count);
        foreach (var text in values)
        {
            if (!Ids.TryParse(text, out var id))
            {
                v.Add(field, "must contain only user ids");
                return [];
            }

            if (!result.Contains(id))
            {
                result.Add(id);
            }
        }

        return result;
    }

    /// <summary>Reads an optional string member of a PATCH body: (present, value).</summary>
    public static (bool Present, string? Value) OptionalString(Validation v, string field, JsonElement element, bool nullable)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Undefined:
                return (false, null);
            case JsonValueKind.String:
                return (true, element.GetString());
            case JsonValueKind.Null when nullable:
                return (true, null);
            default:
                v.Add(field, nullable ? "must be a string or null" : "must be a string");
                return (false, null);
        }
    }

    public static IReadOnlyList<string>? CheckTags(Validation v, JsonElement tags) =>
        tags.ValueKind == JsonValueKind.Undefined ? null : AccountRules.CheckTags(v, tags);
}
