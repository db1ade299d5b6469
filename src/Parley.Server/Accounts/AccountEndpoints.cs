using System.Text.Json;
using Parley.Server.Api;
using Parley.Server.Http;
using Parley.Storage;
using Parley.Storage.Accounts;

namespace Parley.Server.Accounts;

public static class AccountEndpoints
{
    public static void MapAccounts(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/api/auth").WithTags("Accounts");
        auth.MapPost("/register", RegisterAsync)
            .WithName("register")
            .WithSummary("Create an account (and its first device session)")
            .Accepts<RegisterRequest>("application/json")
            .Returns<AuthResponse>(201, "The new account, the tokens of its first device session and that session's device id.")
            .ProducesErrors(400, 409, 415, 429, 503)
            .FailsWith(409, ErrorCodes.UsernameTaken);
        auth.MapPost("/login", LoginAsync)
            .WithName("login")
            .WithSummary("Log in: a new device session")
            .Accepts<LoginRequest>("application/json")
            .Returns<AuthResponse>(200, "The account, the new device session's tokens and its device id.")
            .ProducesErrors(400, 401, 403, 415, 429, 503)
            .FailsWith(401, ErrorCodes.InvalidCredentials)
            .FailsWith(403, ErrorCodes.Disabled);
        auth.MapPost("/refresh", RefreshAsync)
            .WithName("refreshTokens")
            .WithSummary("Exchange a refresh token for a new token pair")
            .Accepts<RefreshRequest>("application/json")
            .Returns<RefreshResponse>(200, "A new access and refresh token; the presented refresh token is retired.")
            .ProducesErrors(400, 401, 403, 415)
            .FailsWith(401, ErrorCodes.Unauthorized, ErrorCodes.TokenExpired, ErrorCodes.TokenReused)
            .FailsWith(403, ErrorCodes.Disabled);
        auth.MapPost("/logout", LogoutAsync)
            .WithName("logout")
            .WithSummary("Log out: revoke the refresh token's device session")
            .Accepts<RefreshRequest>("application/json")
            .Returns(204, "The device session is revoked and its WebSockets are closed (4001).")
            .ProducesErrors(400, 415);

        var usersGroup = app.MapGroup("/api/users").WithTags("Users").RequireAuthorization();
        usersGroup.MapGet("/me", GetMeAsync)
            .WithName("getMe")
            .WithSummary("Get the caller's own profile")
            .Returns<SelfUser>(200, "The caller's profile, with its email.")
            .ProducesErrors(401);
        usersGroup.MapPatch("/me", PatchMeAsync)
            .WithName("updateMe")
            .WithSummary("Change the caller's nickname, bio, avatar or tags")
            .Accepts<ProfilePatch>("application/json")
            .Returns<SelfUser>(200, "The profile as changed; friends and co-members get `user.updated`.")
            .ProducesErrors(400, 401, 415, 429);
        usersGroup.MapPut("/me/password", ChangePasswordAsync)
            .WithName("changePassword")
            .WithSummary("Change the password (every other session is revoked)")
            .Accepts<PasswordChangeRequest>("application/json")
            .Returns(204, "The password is changed; every other device session of the user is revoked.")
            .ProducesErrors(400, 401, 415, 429, 503)
            .FailsWith(401, ErrorCodes.Unauthorized, ErrorCodes.TokenExpired, ErrorCodes.InvalidCredentials);
        usersGroup.MapGet("/search", SearchAsync)
            .WithName("searchUsers")
            .WithSummary("Search users by username or nickname and tags")
            .Query("q", "Case-insensitive substring of the username or nickname (at most 64 characters).")
            .Query("tags", "Comma-separated tags that must all be present.")
            .Paged()
            .Returns<ListResponse<PublicUser>>(200, "A page of matching public profiles.")
            .ProducesErrors(400, 401);
        usersGroup.MapGet("/{id}", GetUserAsync)
            .WithName("getUser")
            .WithSummary("Get a user's public profile")
            .Returns<PublicUser>(200, "The user's public profile.")
            .ProducesErrors(401, 404);
    }

    private static async Task<IResult> RegisterAsync(HttpContext context, AccountService accounts)
    {
        var request = await context.Request.ReadJsonAsync(ParleyJson.Default.RegisterRequest);
        var response = await accounts.RegisterAsync(request, ClientAddress(context), context.RequestAborted);
        return Results.Json(response, ParleyJson.Default.AuthResponse, statusCode: 201);
    }

    private static async Task<IResult> LoginAsync(HttpContext context, AccountService accounts)
    {
        var request = await context.Request.ReadJsonAsync(ParleyJson.Default.LoginRequest);
        var response = await accounts.LoginAsync(request, ClientAddress(context), context.RequestAborted);
        return Results.Json(response, ParleyJson.Default.AuthResponse);
    }

    private static async Task<IResult> RefreshAsync(HttpContext context, AccountService accounts)
    {
        var request = await context.Request.ReadJsonAsync(ParleyJson.Default.RefreshRequest);
        return Results.Json(await accounts.RefreshAsync(request, context.RequestAborted), ParleyJson.Default.RefreshResponse);
    }

    private static async Task<IResult> LogoutAsync(HttpContext context, AccountService accounts)
    {
        var request = await context.Request.ReadJsonAsync(ParleyJson.Default.RefreshRequest);
        await accounts.LogoutAsync(request, context.RequestAborted);
        return Results.NoContent();
    }

    private static async Task<IResult> GetMeAsync(HttpContext context, UserStore users)
    {
        var user = await users.GetAsync(context.Caller().UserId, context.RequestAborted) ?? throw ApiException.Unauthorized("The account no longer exists.");
        return Results.Json(SelfUser.From(user), ParleyJson.Default.SelfUser);
    }

    private static async Task<IResult> PatchMeAsync(HttpContext context, UserStore users, Files.FileService files, TimeProvider time, Moderation.Moderator moderation, ProfileUpdates updates, UserQuotas quotas, Microsoft.Extensions.Options.IOptions<Social.SocialOptions> social)
    {
        var patch = await context.Request.ReadJsonAsync(ParleyJson.Default.ProfilePatch);
        var v = new Validation();
        string? nickname = null, bio = null;
        long? avatar = null;
        IReadOnlyList<string>? tags = null;
        if (patch.Nickname.ValueKind != JsonValueKind.Undefined)
        {
            nickname = patch.Nickname.ValueKind == JsonValueKind.String
                ? AccountRules.CheckNickname(v, patch.Nickname.GetString())
                : AccountRules.CheckNickname(v, null);
        }

        if (patch.Bio.ValueKind is JsonValueKind.String or JsonValueKind.Null)
        {
            bio = AccountRules.CheckBio(v, patch.Bio.ValueKind == JsonValueKind.Null ? "" : patch.Bio.GetString());
        }
        else if (patch.Bio.ValueKind != JsonValueKind.Undefined)
        {
            v.Add("bio", "must be a string");
        }

        var setAvatar = patch.AvatarFileId.ValueKind != JsonValueKind.Undefined;
        if (patch.AvatarFileId.ValueKind == JsonValueKind.String && Ids.TryParse(patch.AvatarFileId.GetString(), out var fileId))
        {
            avatar = fileId;
        }
        else if (setAvatar && patch.AvatarFileId.ValueKind != JsonValueKind.Null)
        {
            v.Add("avatarFileId", "must be a file id or null");
        }

        if (patch.Tags.ValueKind != JsonValueKind.Undefined)
        {
            tags = AccountRules.CheckTags(v, patch.Tags);
        }

        v.ThrowIfInvalid();
        nickname = nickname is not null && moderation.Active ? moderation.Apply("nickname", nickname) : nickname;
        if (nickname is not null && await users.FindByUsernameAsync(nickname, context.RequestAborted) is { } named && named.Id != context.Caller().UserId)
        {
            throw ApiException.Invalid("nickname", AccountService.NicknameIsAUsername);
        }

        if (avatar is { } avatarId && !await files.IsUsableImageAsync(context.Caller().UserId, avatarId, context.RequestAborted))
        {
            throw ApiException.Invalid("avatarFileId", "must be an image you uploaded yourself");
        }

        var before = await users.GetAsync(context.Caller().UserId, context.RequestAborted) ?? throw ApiException.NotFound("User");
        // A nickname or avatar change is announced to up to Social:ProfileUpdateMaxRecipients users: counted, so a rename loop is refused.
        if (((nickname is not null && nickname != before.Nickname) || (setAvatar && avatar != before.AvatarFileId))
            && await quotas.ProfileChanges.TryTakeAsync(context.Caller().UserId) is { } wait)
        {
            throw UserQuotas.Limited($"At most {social.Value.ProfileChangesPerHour} nickname or avatar changes per hour; try again later.", wait);
        }

        var user = await users.UpdateProfileAsync(
            context.Caller().UserId,
            new ProfileChange(nickname, bio, setAvatar, avatar, tags),
            time.GetUtcNow().ToUnixTimeMilliseconds(),
            context.RequestAborted) ?? throw ApiException.NotFound("User");
        await updates.PublishAsync(before, user);
        return Results.Json(SelfUser.From(user), ParleyJson.Default.SelfUser);
    }

    private static async Task<IResult> ChangePasswordAsync(HttpContext context, AccountService accounts)
    {
        var request = await context.Request.ReadJsonAsync(ParleyJson.Default.PasswordChangeRequest);
        await accounts.ChangePasswordAsync(context.Caller(), request, ClientAddress(context), context.RequestAborted);
        return Results.NoContent();
    }

    private static async Task<IResult> GetUserAsync(string id, HttpContext context, UserStore users)
    {
        var user = Ids.TryParse(id, out var userId) ? await users.GetAsync(userId, context.RequestAborted) : null;
        return user is null
            ? throw ApiException.NotFound("User")
            : Results.Json(PublicUser.From(user), ParleyJson.Default.PublicUser);
    }

    private static async Task<IResult> SearchAsync(HttpContext context, UserStore users)
    {
        var (limit, cursor) = context.Request.ReadPaging();
        var v = new Validation();
        var q = context.Request.QueryText("q").Trim();
        if (q.Length > AccountRules.MaxSearchText)
        {
            v.Add("q", $"must be at most {AccountRules.MaxSearchText} characters");
        }

        var tags = AccountRules.ParseTagQuery(v, context.Request.QueryText("tags"));
        v.ThrowIfInvalid();
        var found = await users.SearchAsync(q, tags, Paging.Id(cursor), limit + 1, context.RequestAborted);
        return Results.Json(Paging.Page(found, limit, PublicUser.From, u => Ids.Format(u.Id)), ParleyJson.Default.ListResponsePublicUser);
    }

    /// <summary>The peer address; behind a reverse proxy, configure forwarded headers so this is the client's.</summary>
    internal static string ClientAddress(HttpContext context) =>
        context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
}

public static class EndpointMetadataExtensions
{
    /// <summary>Declares the problem+json responses an endpoint can give, for the OpenAPI document.</summary>
    public static RouteHandlerBuilder ProducesErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var status in statuses)
        {
            builder.Produces<Problem>(status, ProblemWriter.ContentType);
        }

        return builder;
    }
}
