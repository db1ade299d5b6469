using Dapper;
using Parley.Storage.Webhooks;

namespace Parley.Storage.Accounts;

public sealed class UserRow
{
    public long Id { get; init; }

    public string Username { get; init; } = "";

    public string Nickname { get; init; } = "";

    public string? Email { get; init; }

    /// <summary>When <see cref="Email"/> was proven by a mailed code; null while it is unverified.</summary>
    public long? EmailVerifiedAt { get; init; }

    public string Bio { get; init; } = "";

    public long? AvatarFileId { get; init; }

    public string PasswordHash { get; init; } = "";

    public long CreatedAt { get; init; }

    /// <summary>The app server's own id for this user (imported through the admin API); null when none.</summary>
    public string? ExternalId { get; init; }

    /// <summary>When an operator disabled the account; null while it is enabled.</summary>
    public long? DisabledAt { get; init; }

    public IReadOnlyList<string> Tags { get; set; } = [];
}

/// <summary>A user as SASL SCRAM-SHA-256 sees it (<see cref="UserStore.FindScramAsync"/>).</summary>
public sealed class ScramRow
{
    public long Id { get; init; }

    public string Username { get; init; } = "";

    /// <summary>The stored credentials text (migration 0017); null until the password is next set or used.</summary>
    public string? ScramSha256 { get; init; }

    public long? DisabledAt { get; init; }
}

/// <summary>Profile fields to change; a null member is left as it is.</summary>
public sealed record ProfileChange(string? Nickname, string? Bio, bool SetAvatar, long? AvatarFileId, IReadOnlyList<string>? Tags);

public sealed class UserStore(Database database)
{
    private const string Columns = "id, username, nickname, email, email_verified_at, bio, avatar_file_id, password_hash, created_at, external_id, disabled_at";

    /// <summary>Inserts the user with its tags and no SCRAM-SHA-256 credentials; false when the username is taken (in any letter case).</summary>
    public Task<bool> CreateAsync(UserRow user, CancellationToken cancellationToken) => CreateAsync(user, null, cancellationToken);

    /// <summary>
    /// Inserts the user with its tags and its SCRAM-SHA-256 credentials (<paramref name="scramSha256"/>, null when
    /// none: no password, or one SASLprep refuses); false when the username is taken (in any letter case).
    /// </summary>
    public async Task<bool> CreateAsync(UserRow user, string? scramSha256, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO users (id, username, username_key, nickname, nickname_key, email, bio, avatar_file_id, password_hash, scram_sha256, created_at, updated_at, external_id)
                VALUES (@Id, @Username, @UsernameKey, @Nickname, @NicknameKey, @Email, @Bio, @AvatarFileId, @PasswordHash, @ScramSha256, @CreatedAt, @CreatedAt, @ExternalId)
                """,
                new
                {
                    user.Id,
                    user.Username,
                    UsernameKey = UsernameKey(user.Username),
                    user.Nickname,
                    NicknameKey = user.Nickname.ToLowerInvariant(),
                    user.Email,
                    user.Bio,
                    user.AvatarFileId,
                    user.PasswordHash,
                    ScramSha256 = scramSha256,
                    user.CreatedAt,
                    user.ExternalId,
                },
                transaction,
                cancellationToken: cancellationToken));
            await ReplaceTagsAsync(connection, transaction, user.Id, user.Tags, cancellationToken);
            await database.Outbox.AddAsync(connection, transaction, WebhookOutbox.UserRegistered, user.Id, user.CreatedAt, w =>
            {
                w.WriteStartObject("user");
                WebhookOutbox.WriteId(w, "id", user.Id);
                w.WriteString("username", user.Username);
                w.WriteString("nickname", user.Nickname);
                w.WriteNumber("createdAt", user.CreatedAt);
                w.WriteEndObject();
            }, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return true;
        }
        catch (Exception e) when (Database.IsUniqueViolation(e))
        {
            return false;
        }
    }

    public async Task<UserRow?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var user = await connection.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
            $"SELECT {Columns} FROM users WHERE id = @id", new { id }, cancellationToken: cancellationToken));
        if (user is not null)
        {
            await LoadTagsAsync(connection, [user], cancellationToken);
        }

        return user;
    }

    /// <summary>The users with these ids that exist, by id.</summary>
    public async Task<IReadOnlyDictionary<long, UserRow>> GetManyAsync(IEnumerable<long> ids, CancellationToken cancellationToken)
    {
        var distinct = ids.Distinct().ToArray();
        if (distinct.Length == 0)
        {
            return new Dictionary<long, UserRow>();
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        var (list, parameters) = Sql.InList("u", distinct);
        var users = (await connection.QueryAsync<UserRow>(new CommandDefinition(
            $"SELECT {Columns} FROM users WHERE id IN ({list})", parameters, cancellationToken: cancellationToken))).AsList();
        await LoadTagsAsync(connection, users, cancellationToken);
        return users.ToDictionary(u => u.Id);
    }

    public async Task<UserRow?> FindByUsernameAsync(string username, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var user = await connection.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
            $"SELECT {Columns} FROM users WHERE username_key = @key", new { key = UsernameKey(username) }, cancellationToken: cancellationToken));
        if (user is not null)
        {
            await LoadTagsAsync(connection, [user], cancellationToken);
        }

        return user;
    }

    public async Task<bool> UsernameExistsAsync(string username, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT id FROM users WHERE username_key = @key", new { key = UsernameKey(username) }, cancellationToken: cancellationToken)) is not null;
    }

    /// <summary>Applies the change and returns the updated user, or null if the user does not exist.</summary>
    public async Task<UserRow?> UpdateProfileAsync(long id, ProfileChange change, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using (var transaction = await Database.BeginWriteAsync(connection, cancellationToken))
        {
            var updated = await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE users SET
                    nickname = COALESCE(@Nickname, nickname),
                    nickname_key = COALESCE(@NicknameKey, nickname_key),
                    bio = COALESCE(@Bio, bio),
                    avatar_file_id = CASE WHEN @SetAvatar = 1 THEN @AvatarFileId ELSE avatar_file_id END,
                    updated_at = @now
                WHERE id = @id
                """,
                new
                {
                    id,
                    now,
                    change.Nickname,
                    NicknameKey = change.Nickname?.ToLowerInvariant(),
                    change.Bio,
                    SetAvatar = change.SetAvatar ? 1 : 0,
                    change.AvatarFileId,
                },
                transaction,
                cancellationToken: cancellationToken));
            if (updated == 0)
            {
                return null;
            }

            if (change.Tags is not null)
            {
                await ReplaceTagsAsync(connection, transaction, id, change.Tags, cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        var user = await connection.QuerySingleAsync<UserRow>(new CommandDefinition(
            $"SELECT {Columns} FROM users WHERE id = @id", new { id }, cancellationToken: cancellationToken));
        await LoadTagsAsync(connection, [user], cancellationToken);
        return user;
    }

    /// <summary>
    /// Replaces a password hash with an upgraded one of the same password, unless it changed meanwhile (then false:
    /// another login upgraded it first, or the password was changed).
    /// </summary>
    public async Task<bool> UpgradePasswordHashAsync(long id, string oldHash, string newHash, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return 1 == await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE users SET password_hash = @newHash, updated_at = @now WHERE id = @id AND password_hash = @oldHash",
            new { id, oldHash, newHash, now },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// What SASL SCRAM-SHA-256 needs of the user <paramref name="username"/> (any letter case): id, username, the
    /// stored credentials (null when none yet) and whether the account is disabled; null when there is no such user.
    /// </summary>
    public async Task<ScramRow?> FindScramAsync(string username, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ScramRow>(new CommandDefinition(
            "SELECT id, username, scram_sha256, disabled_at FROM users WHERE username_key = @key",
            new { key = UsernameKey(username) },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// The user's password hash while <paramref name="scramSha256"/> is still the user's stored SCRAM-SHA-256 text (a
    /// SCRAM exchange verified against it); null when the password was changed or reset since (its UPDATE replaced both).
    /// </summary>
    public async Task<string?> PasswordHashWhileScramAsync(long id, string scramSha256, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT password_hash FROM users WHERE id = @id AND scram_sha256 = @scramSha256",
            new { id, scramSha256 },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Stores SCRAM-SHA-256 credentials computed from a password just verified against <paramref name="verifiedPasswordHash"/>,
    /// unless the hash changed meanwhile (then false: the password was changed or reset, and its own UPDATE wrote the
    /// keys of the new password, which these must not overwrite).
    /// </summary>
    public async Task<bool> SetScramAsync(long id, string verifiedPasswordHash, string scramSha256, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return 1 == await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE users SET scram_sha256 = @scramSha256 WHERE id = @id AND password_hash = @verifiedPasswordHash",
            new { id, verifiedPasswordHash, scramSha256 },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Users whose username or nickname contains <paramref name="text"/> (case-insensitive) and who carry
    /// every tag in <paramref name="tags"/>, in id order after <paramref name="afterId"/>.
    /// </summary>
    public async Task<IReadOnlyList<UserRow>> SearchAsync(string? text, IReadOnlyList<string> tags, long afterId, int limit, CancellationToken cancellationToken)
    {
        var parameters = new DynamicParameters();
        parameters.Add("afterId", afterId);
        parameters.Add("limit", limit);
        var sql = new System.Text.StringBuilder($"SELECT {Columns} FROM users u WHERE u.id > @afterId");
        Sql.AppendSearchFilters(sql, parameters, text, ["u.username_key", "u.nickname_key"], tags, "user_tags", "user_id", "u.id");
        sql.Append(" ORDER BY u.id LIMIT @limit");
        await using var connection = await database.OpenAsync(cancellationToken);
        var users = (await connection.QueryAsync<UserRow>(new CommandDefinition(sql.ToString(), parameters, cancellationToken: cancellationToken))).AsList();
        await LoadTagsAsync(connection, users, cancellationToken);
        return users;
    }

    public async Task<UserRow?> FindByExternalIdAsync(string externalId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var user = await connection.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
            $"SELECT {Columns} FROM users WHERE external_id = @externalId", new { externalId }, cancellationToken: cancellationToken));
        if (user is not null)
        {
            await LoadTagsAsync(connection, [user], cancellationToken);
        }

        return user;
    }

    /// <summary>
    /// The admin search: username or nickname containing <paramref name="text"/> (case-insensitive), and when
    /// <paramref name="externalId"/> is given exactly that external id; disabled users included; in id order.
    /// </summary>
    public async Task<IReadOnlyList<UserRow>> AdminSearchAsync(string? text, string? externalId, long afterId, int limit, CancellationToken cancellationToken)
    {
        var parameters = new DynamicParameters();
        parameters.Add("afterId", afterId);
        parameters.Add("limit", limit);
        var sql = new System.Text.StringBuilder($"SELECT {Columns} FROM users u WHERE u.id > @afterId");
        if (!string.IsNullOrEmpty(externalId))
        {
            parameters.Add("externalId", externalId);
            sql.Append(" AND u.external_id = @externalId");
        }

        Sql.AppendSearchFilters(sql, parameters, text, ["u.username_key", "u.nickname_key"], [], "user_tags", "user_id", "u.id");
        sql.Append(" ORDER BY u.id LIMIT @limit");
        await using var connection = await database.OpenAsync(cancellationToken);
        var users = (await connection.QueryAsync<UserRow>(new CommandDefinition(sql.ToString(), parameters, cancellationToken: cancellationToken))).AsList();
        await LoadTagsAsync(connection, users, cancellationToken);
        return users;
    }

    public static string UsernameKey(string username) => username.ToLowerInvariant();

    private static async Task ReplaceTagsAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, long userId, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM user_tags WHERE user_id = @userId", new { userId }, transaction, cancellationToken: cancellationToken));
        if (tags.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO user_tags (user_id, tag) VALUES (@userId, @tag)",
                tags.Select(tag => new { userId, tag }),
                transaction,
                cancellationToken: cancellationToken));
        }
    }

    private static async Task LoadTagsAsync(System.Data.Common.DbConnection connection, List<UserRow> users, CancellationToken cancellationToken)
    {
        if (users.Count == 0)
        {
            return;
        }

        var (list, parameters) = Sql.InList("u", users.Select(u => u.Id).ToArray());
        var rows = await connection.QueryAsync<(long UserId, string Tag)>(new CommandDefinition(
            $"SELECT user_id, tag FROM user_tags WHERE user_id IN ({list}) ORDER BY user_id, tag",
            parameters,
            cancellationToken: cancellationToken));
        var byUser = rows.ToLookup(r => r.UserId, r => r.Tag);
        foreach (var user in users)
        {
            user.Tags = byUser[user.Id].ToArray();
        }
    }
}
