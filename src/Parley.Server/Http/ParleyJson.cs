using System.Text.Json;
using System.Text.Json.Serialization;
using Parley.Server.Accounts;

namespace Parley.Server.Http;

/// <summary>Source-generated serializers for every HTTP shape of the contract.</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(Problem))]
[JsonSerializable(typeof(RegisterRequest))]
[JsonSerializable(typeof(LoginRequest))]
[JsonSerializable(typeof(RefreshRequest))]
[JsonSerializable(typeof(PasswordChangeRequest))]
[JsonSerializable(typeof(ProfilePatch))]
[JsonSerializable(typeof(AuthResponse))]
[JsonSerializable(typeof(RefreshResponse))]
[JsonSerializable(typeof(SelfUser))]
[JsonSerializable(typeof(PublicUser))]
[JsonSerializable(typeof(ListResponse<PublicUser>))]
public sealed partial class ParleyJson : JsonSerializerContext;

/// <summary>The contract's list shape: always an object, never a bare array.</summary>
public sealed record ListResponse<T>(IReadOnlyList<T> Items, string? NextCursor);
