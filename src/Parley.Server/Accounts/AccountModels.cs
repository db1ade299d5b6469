using System.Text.Json;
using Parley.Storage;
using Parley.Storage.Accounts;

namespace Parley.Server.Accounts;

public sealed record RegisterRequest(string? Username, string? Password, string? Nickname, string? Email, string? Device);

public sealed record LoginRequest(string? Username, string? Password, string? Device);

public sealed record RefreshRequest(string? RefreshToken);

public sealed record PasswordChangeRequest(string? CurrentPassword, string? NewPassword);

/// <summary>
/// PATCH /api/users/me. JsonElement members tell "absent" (Undefined: leave as is) from "null" (clear).
/// </summary>
public sealed record ProfilePatch(JsonElement Nickname, JsonElement Bio, JsonElement AvatarFileId, JsonElement Tags);

public sealed record Tokens(string AccessToken, long AccessTokenExpiresAt, string RefreshToken, long RefreshTokenExpiresAt);

/// <summary>The caller's own account: the public profile plus private fields (<c>emailVerified</c>: docs/email.md).</summary>
public sealed record SelfUser(string Id, string Username, string Nickname, string Bio, string? AvatarFileId, IReadOnlyList<string> Tags, long CreatedAt, string? Email, bool EmailVerified)
{
    public static SelfUser From(UserRow row) =>
        new(Ids.Format(row.Id), row.Username, row.Nickname, row.Bio, Ids.Format(row.AvatarFileId), row.Tags, row.CreatedAt, row.Email, row.EmailVerifiedAt is not null);
}

public sealed record PublicUser(string Id, string Username, string Nickname, string Bio, string? AvatarFileId, IReadOnlyList<string> Tags, long CreatedAt)
{
    public static PublicUser From(UserRow row) =>
        new(Ids.Format(row.Id), row.Username, row.Nickname, row.Bio, Ids.Format(row.AvatarFileId), row.Tags, row.CreatedAt);
}

/// <summary>The <c>user.updated</c> notification's data: the public profile as it now is.</summary>
public sealed record UserUpdatedData(PublicUser User);

/// <summary>Register and login: the public profile (email only ever on /api/users/me), tokens and the device session id.</summary>
public sealed record AuthResponse(PublicUser User, Tokens Tokens, string DeviceId);

public sealed record RefreshResponse(Tokens Tokens);
