using System.Text.Json;
using System.Text.Json.Serialization;
using Parley.Server.Accounts;
using Parley.Server.Http;

namespace Parley.Server.Email;

public sealed record EmailRequest(string? Email);

public sealed record EmailCodeRequest(string? Code);

public sealed record PasswordResetConfirmRequest(string? Email, string? Code, string? NewPassword);

[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    NumberHandling = JsonNumberHandling.Strict,
    AllowDuplicateProperties = false,
    Converters = [typeof(NulFreeStringConverter)])]
[JsonSerializable(typeof(EmailRequest))]
[JsonSerializable(typeof(EmailCodeRequest))]
[JsonSerializable(typeof(PasswordResetConfirmRequest))]
[JsonSerializable(typeof(SelfUser))]
public sealed partial class EmailJson : JsonSerializerContext;
