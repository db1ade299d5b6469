using Parley.Server.Http;
using Parley.Storage;
using Parley.Storage.Accounts;

namespace Parley.Server.Accounts;

/// <summary>Registration, login, token rotation, logout and password changes.</summary>
public sealed partial class AccountService(
    UserStore users,
    SessionStore sessions,
    TokenService tokens,
    PasswordHashing passwords,
    Xmpp.Sasl.ScramKeys scramKeys,
    AuthThrottle throttle,
    SessionGuard guard,
    IdGenerator ids,
    TimeProvider time,
    Moderation.Moderator moderation,
    ILogger<AccountService> logger)
{
    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    public async Task<AuthResponse> RegisterAsync(RegisterRequest request, string clientAddress, CancellationToken cancellationToken)
    {
        if (await throttle.RegistrationRetryAfterAsync(clientAddress) is { } wait)
        {
            throw new ApiException(429, ErrorCodes.RateLimited, "Too many new accounts from this address; try again later.") { RetryAfterSeconds = wait };
        }

        var v = new Validation();
        AccountRules.CheckUsername(v, request.Username);
        AccountRules.CheckPassword(v, "password", request.Password);
        var nickname = request.Nickname is null ? request.Username : AccountRules.CheckNickname(v, request.Nickname);
        var email = AccountRules.CheckEmail(v, request.Email);
        var device = AccountRules.CheckDevice(v, request.Device);
        v.ThrowIfInvalid();
        nickname = moderation.Active ? moderation.Apply("nickname", nickname!) : nickname;

        // Cheap check first so a taken name does not cost a password hash; the unique index decides races.
        if (await users.UsernameExistsAsync(request.Username!, cancellationToken))
        {
            throw UsernameTaken();
        }

        if (!string.Equals(nickname, request.Username, StringComparison.OrdinalIgnoreCase) && await users.FindByUsernameAsync(nickname!, cancellationToken) is not null)
        {
            throw ApiException.Invalid("nickname", NicknameIsAUsername);
        }

        var passwordHash = await passwords.HashAsync(request.Password!, cancellationToken);
        var scram = await scramKeys.MakeAsync(request.Password!, cancellationToken);
        var user = new UserRow
        {
            Id = ids.Next(),
            Username = request.Username!,
            Nickname = nickname!,
            Email = email,
            CreatedAt = Now,
            PasswordHash = passwordHash,
        };
        if (!await users.CreateAsync(user, scram, cancellationToken))
        {
            throw UsernameTaken();
        }

        await throttle.RecordRegistrationAsync(clientAddress);
        throttle.Registered(UserStore.UsernameKey(user.Username), clientAddress);
        LogRegistered(logger, user.Id);
        return await StartSessionAsync(user, user.PasswordHash, device, cancellationToken);
    }

    /// <summary>A nickname may not be another user's username (case-insensitively): that is how one passes for someone else.</summary>
    internal const string NicknameIsAUsername = "is another user's username";

    public async Task<AuthResponse> LoginAsync(LoginRequest request, string clientAddress, CancellationToken cancellationToken)
    {
        var v = new Validation();
        AccountRules.RequireText(v, "username", request.Username, 64);
        AccountRules.RequireText(v, "password", request.Password, 1024);
        var device = AccountRules.CheckDevice(v, request.Device);
        v.ThrowIfInvalid();

        // The attempt is counted before the (slow) check, so concurrent guesses cannot slip past the limit.
        var key = UserStore.UsernameKey(request.Username!);
        if (await throttle.TryBeginLoginAsync(key, clientAddress) is { } retryAfter)
        {
            throw new ApiException(429, ErrorCodes.RateLimited, "Too many failed logins; try again later.") { RetryAfterSeconds = retryAfter };
        }

        var user = await users.FindByUsernameAsync(request.Username!, cancellationToken);
        var check = await CheckAsync(key, clientAddress, () => passwords.VerifyAsync(user?.PasswordHash, request.Password!, cancellationToken));
        if (user is null || !check.Valid)
        {
            throw InvalidCredentials();
        }

        await throttle.LoginSucceededAsync(key, clientAddress);
        // Told only to whoever knows the password, so "disabled" says nothing about an account to a guesser.
        if (user.DisabledAt is not null)
        {
            throw AccountDisabled();
        }

        var hash = user.PasswordHash;
        if (check.Rehashed is { } upgraded)
        {
            if (await users.UpgradePasswordHashAsync(user.Id, hash, upgraded, Now, cancellationToken))
            {
                hash = upgraded;
            }
            else
            {
                // Another login of this user upgraded the same old hash first, or the password was changed: check
                // the password against what is stored now (a changed password wins; a twin upgrade does not fail us).
                user = await users.GetAsync(user.Id, cancellationToken);
                if (user is null || !(await passwords.VerifyAsync(user.PasswordHash, request.Password!, cancellationToken)).Valid)
                {
                    throw InvalidCredentials();
                }

                hash = user.PasswordHash;
            }
        }

        // A user from before SCRAM (or of another Auth:ScramIterations) gets keys now; written only while the hash is still this one.
        await scramKeys.RefreshAfterLoginAsync(user.Username, hash, request.Password!, cancellationToken);
        return await StartSessionAsync(user, hash, device, cancellationToken);
    }

    /// <summary>
    /// A login by a SASL SCRAM-SHA-256 exchange that verified the user's stored keys (<paramref name="verifiedScram"/>,
    /// their stored text): a device session as a password login opens, unless the password changed since the keys were
    /// read (the session is opened only while the password hash is still the one beside those keys).
    /// </summary>
    public async Task<AuthResponse> LoginWithScramAsync(long userId, string verifiedScram, string? deviceName, CancellationToken cancellationToken)
    {
        var v = new Validation();
        var device = AccountRules.CheckDevice(v, deviceName);
        v.ThrowIfInvalid();
        var user = await users.GetAsync(userId, cancellationToken);
        var hash = user is null ? null : await users.PasswordHashWhileScramAsync(userId, verifiedScram, cancellationToken);
        if (user is null || hash is null || hash != user.PasswordHash)
        {
            throw InvalidCredentials();
        }

        if (user.DisabledAt is not null)
        {
            throw AccountDisabled();
        }

        return await StartSessionAsync(user, hash, device, cancellationToken);
    }

    public async Task<RefreshResponse> RefreshAsync(RefreshRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.RefreshToken) || request.RefreshToken.Length > 256)
        {
            throw ApiException.Invalid("refreshToken", "is required");
        }

        var (newToken, newHash) = TokenService.NewRefreshToken();
        var now = time.GetUtcNow();
        var refreshExpires = (now + tokens.RefreshTokenLifetime).ToUnixTimeMilliseconds();
        var result = await sessions.RotateAsync(TokenService.HashRefreshToken(request.RefreshToken), newHash, now.ToUnixTimeMilliseconds(), refreshExpires, cancellationToken);
        switch (result.Outcome)
        {
            case RefreshOutcome.Rotated:
                var (access, accessExpires) = tokens.IssueAccessToken(result.UserId, result.SessionId);
                return new RefreshResponse(new Tokens(access, accessExpires, newToken, refreshExpires));
            case RefreshOutcome.Reused:
                LogTokenReused(logger, result.UserId, result.SessionId);
                guard.MarkRevoked([result.SessionId]);
                throw ApiException.Unauthorized("This refresh token was already used; the session has been revoked.", ErrorCodes.TokenReused);
            case RefreshOutcome.Disabled:
                throw AccountDisabled();
            case RefreshOutcome.Expired:
                throw ApiException.Unauthorized("The refresh token has expired; log in again.", ErrorCodes.TokenExpired);
            default:
                throw ApiException.Unauthorized("The refresh token is not valid.");
        }
    }

    public async Task LogoutAsync(RefreshRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.RefreshToken) || request.RefreshToken.Length > 256)
        {
            throw ApiException.Invalid("refreshToken", "is required");
        }

        // Unknown tokens get the same 204: logout is idempotent and says nothing about what exists.
        var session = await sessions.RevokeByTokenAsync(TokenService.HashRefreshToken(request.RefreshToken), "logout", Now, cancellationToken);
        if (session is not null)
        {
            guard.MarkRevoked([session.Id]);
        }
    }

    public async Task ChangePasswordAsync(Caller caller, PasswordChangeRequest request, string clientAddress, CancellationToken cancellationToken)
    {
        var v = new Validation();
        AccountRules.RequireText(v, "currentPassword", request.CurrentPassword, 1024);
        AccountRules.CheckPassword(v, "newPassword", request.NewPassword);
        v.ThrowIfInvalid();

        var user = await users.GetAsync(caller.UserId, cancellationToken) ?? throw ApiException.Unauthorized("The account no longer exists.");
        var key = UserStore.UsernameKey(user.Username);
        if (await throttle.TryBeginLoginAsync(key, clientAddress) is { } retryAfter)
        {
            throw new ApiException(429, ErrorCodes.RateLimited, "Too many failed attempts; try again later.") { RetryAfterSeconds = retryAfter };
        }

        var newHash = await CheckAsync(key, clientAddress, () => passwords.ChangeAsync(user.PasswordHash, request.CurrentPassword!, request.NewPassword!, cancellationToken))
            ?? throw InvalidCredentials();
        await throttle.LoginSucceededAsync(key, clientAddress);
        // The new keys go in the same UPDATE as the new hash: the old password's keys stop working with it.
        var newScram = await scramKeys.MakeAsync(request.NewPassword!, cancellationToken);
        var revoked = await sessions.ChangePasswordAsync(user.Id, newHash, newScram, caller.SessionId, Now, cancellationToken);
        guard.MarkRevoked(revoked);
        LogPasswordChanged(logger, user.Id, revoked.Count);
    }

    /// <summary>Runs a counted attempt's password check; an attempt that never got its check is not held against anyone.</summary>
    private async Task<T> CheckAsync<T>(string usernameKey, string clientAddress, Func<Task<T>> check)
    {
        try
        {
            return await check();
        }
        catch
        {
            await throttle.LoginNotCheckedAsync(usernameKey, clientAddress);
            throw;
        }
    }

    /// <summary>
    /// A new device session for a user without a password check (the admin token call: single sign-on from the app
    /// server); 403 <c>disabled</c> for a disabled account.
    /// </summary>
    public async Task<AuthResponse> IssueSessionAsync(UserRow user, string? device, CancellationToken cancellationToken)
    {
        if (user.DisabledAt is not null)
        {
            throw AccountDisabled();
        }

        try
        {
            return await StartSessionAsync(user, user.PasswordHash, device, cancellationToken);
        }
        catch (ApiException e) when (e.Code == ErrorCodes.InvalidCredentials)
        {
            // The account was disabled, or its password changed, since it was read: say which.
            if ((await users.GetAsync(user.Id, cancellationToken))?.DisabledAt is not null)
            {
                throw AccountDisabled();
            }

            throw new ApiException(409, ErrorCodes.Conflict, "The account changed meanwhile; try again.");
        }
    }

    internal static ApiException AccountDisabled() => ApiException.Forbidden("This account is disabled.", ErrorCodes.Disabled);

    private async Task<AuthResponse> StartSessionAsync(UserRow user, string verifiedPasswordHash, string? device, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var session = new SessionRow { Id = ids.Next(), UserId = user.Id, DeviceName = device, CreatedAt = now.ToUnixTimeMilliseconds() };
        var (refresh, refreshHash) = TokenService.NewRefreshToken();
        var refreshExpires = (now + tokens.RefreshTokenLifetime).ToUnixTimeMilliseconds();
        if (!await sessions.CreateAsync(session, verifiedPasswordHash, refreshHash, refreshExpires, cancellationToken))
        {
            throw InvalidCredentials(); // the password changed while this login was being checked
        }

        var (access, accessExpires) = tokens.IssueAccessToken(user.Id, session.Id);
        return new AuthResponse(PublicUser.From(user), new Tokens(access, accessExpires, refresh, refreshExpires), Ids.Format(session.Id));
    }

    private static ApiException UsernameTaken() => new(409, ErrorCodes.UsernameTaken, "That username is taken.");

    private static ApiException InvalidCredentials() => ApiException.Unauthorized("Wrong username or password.", ErrorCodes.InvalidCredentials);

    [LoggerMessage(Level = LogLevel.Information, Message = "User {UserId} registered")]
    private static partial void LogRegistered(ILogger logger, long userId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refresh token reuse for user {UserId}: session {SessionId} revoked")]
    private static partial void LogTokenReused(ILogger logger, long userId, long sessionId);

    [LoggerMessage(Level = LogLevel.Information, Message = "User {UserId} changed password; {Count} other sessions revoked")]
    private static partial void LogPasswordChanged(ILogger logger, long userId, int count);
}
