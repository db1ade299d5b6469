using System.Globalization;
using System.Text.Json;

namespace Parley.Protocol;

/// <summary>
/// A message to send, whatever the transport: the WebSocket parser yields it for a <c>send</c> frame and the HTTP
/// endpoint builds it from its body, both through <see cref="TryCreate"/>, so the rules on its members exist once.
/// Ids are numbers here; the content is checked against its type's rules by the server's sender.
/// </summary>
/// <param name="Content">A JSON object, detached from any buffer (safe to keep).</param>
/// <param name="MentionIds">The users mentioned, in the client's order; empty with <paramref name="MentionsAll"/>.</param>
public sealed record SendCommand(
    long ConversationId,
    string ClientMsgId,
    string MsgType,
    JsonElement Content,
    long? ReplyTo,
    IReadOnlyList<long> MentionIds,
    bool MentionsAll)
{
    /// <summary>The command's members checked (clientMsgId trimmed); on false, <paramref name="problems"/> names each bad member.</summary>
    public static bool TryCreate(
        long conversationId,
        string? clientMsgId,
        string? msgType,
        JsonElement content,
        long? replyTo,
        IReadOnlyList<string>? mentions,
        out SendCommand? command,
        out List<(string Member, string Problem)>? problems)
    {
        command = null;
        problems = null;
        var id = clientMsgId?.Trim();
        if (string.IsNullOrEmpty(id) || id.Length > ProtocolLimits.MaxClientMsgIdLength || HasControl(id))
        {
            (problems ??= []).Add(("clientMsgId", $"must be 1-{ProtocolLimits.MaxClientMsgIdLength} characters without control characters"));
        }

        if (replyTo is < 1)
        {
            (problems ??= []).Add(("replyTo", "must be the seq of a message in this conversation"));
        }

        IReadOnlyList<long> mentionIds = [];
        var all = false;
        if (mentions is { Count: > ProtocolLimits.MaxMentions })
        {
            (problems ??= []).Add(("mentions", $"at most {ProtocolLimits.MaxMentions}"));
        }
        else if (mentions is ["all"])
        {
            all = true;
        }
        else if (mentions is { Count: > 0 })
        {
            var ids = new long[mentions.Count];
            for (var i = 0; i < ids.Length; i++)
            {
                if (!TryParseId(mentions[i], out ids[i]))
                {
                    (problems ??= []).Add(("mentions", "must be user ids, or [\"all\"]"));
                    break;
                }
            }

            mentionIds = ids;
        }

        if (problems is not null)
        {
            return false;
        }

        command = new SendCommand(conversationId, id!, msgType ?? "", content, replyTo, mentionIds, all);
        return true;
    }

    /// <summary>The stored form of the mentions: a JSON array of id strings, <c>["all"]</c>, or null when none.</summary>
    public string? MentionsJson()
    {
        if (MentionsAll)
        {
            return """["all"]""";
        }

        if (MentionIds.Count == 0)
        {
            return null;
        }

        var text = new System.Text.StringBuilder(MentionIds.Count * 22).Append('[');
        for (var i = 0; i < MentionIds.Count; i++)
        {
            text.Append(i == 0 ? "\"" : ",\"").Append(MentionIds[i].ToString(CultureInfo.InvariantCulture)).Append('"');
        }

        return text.Append(']').ToString();
    }

    /// <summary>A server id: a positive 64-bit number in decimal, no sign.</summary>
    public static bool TryParseId(string? text, out long id)
    {
        id = 0;
        return text is { Length: > 0 and <= 19 }
            && text[0] != '-' && text[0] != '+'
            && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id)
            && id > 0;
    }

    private static bool HasControl(string text)
    {
        foreach (var c in text)
        {
            if (char.IsControl(c))
            {
                return true;
            }
        }

        return false;
    }
}
