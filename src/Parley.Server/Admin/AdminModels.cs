using System.Text.Json;
using System.Text.Json.Serialization;
using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Storage.Accounts;
using Parley.Storage.Admin;

namespace Parley.Server.Admin;

public sealed record ImportUserRequest(string? Username, string? Nickname, string? Password, string? ExternalId);

public sealed record TokenRequest(string? Device);

public sealed record AdminMessageRequest(
    string? From,
    string? To,
    string? ConversationId,
    string? ClientMsgId,
    string? Type,
    JsonElement Content,
    long? ReplyTo,
    IReadOnlyList<string>? Mentions);

public sealed record ReportBody(string? Reason);

public sealed record ResolveBody(string? Note);

/// <summary>A <c>user</c> as the app server sees it: the public profile plus <c>externalId</c> and <c>disabled</c>.</summary>
public sealed record AdminUser(
    string Id,
    string Username,
    string Nickname,
    string Bio,
    string? AvatarFileId,
    IReadOnlyList<string> Tags,
    long CreatedAt,
    string? ExternalId,
    bool Disabled)
{
    public static AdminUser From(UserRow row) =>
        new(Ids.Format(row.Id), row.Username, row.Nickname, row.Bio, Ids.Format(row.AvatarFileId), row.Tags, row.CreatedAt, row.ExternalId, row.DisabledAt is not null);
}

public sealed record AdminStats(long Users, long OnlineUsers, long Connections, long Groups, long MessagesLast24h);

/// <summary>A report: the message it is about (its content when reported), who reported it and why, and its state.</summary>
public sealed record ReportDto(
    string Id,
    string Status,
    string ConversationId,
    long Seq,
    string ReporterId,
    string SenderId,
    string MessageType,
    RawJson? Content,
    string Reason,
    long CreatedAt,
    long? ResolvedAt,
    string? ResolvedNote)
{
    public static ReportDto From(ReportRow row) =>
        new(
            Ids.Format(row.Id),
            row.ResolvedAt is null ? "open" : "resolved",
            Ids.Format(row.ConversationId),
            row.Seq,
            Ids.Format(row.ReporterId),
            Ids.Format(row.SenderId),
            row.MessageType,
            row.Content is null ? null : new RawJson(row.Content),
            row.Reason,
            row.CreatedAt,
            row.ResolvedAt,
            row.ResolvedNote);
}

/// <summary>Source-generated serializers of the admin API's shapes (the same options as <see cref="ParleyJson"/>).</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    NumberHandling = JsonNumberHandling.Strict,
    AllowDuplicateProperties = false,
    Converters = [typeof(NulFreeStringConverter), typeof(TextCheckedElementConverter)])]
[JsonSerializable(typeof(ImportUserRequest))]
[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(AdminMessageRequest))]
[JsonSerializable(typeof(ReportBody))]
[JsonSerializable(typeof(ResolveBody))]
[JsonSerializable(typeof(AdminUser))]
[JsonSerializable(typeof(ListResponse<AdminUser>))]
[JsonSerializable(typeof(AdminStats))]
[JsonSerializable(typeof(ReportDto))]
[JsonSerializable(typeof(ListResponse<ReportDto>))]
[JsonSerializable(typeof(AuthResponse))]
public sealed partial class AdminJson : JsonSerializerContext;
