using Dapper;

namespace Parley.Storage.Files;

public sealed class FileRow
{
    public long Id { get; init; }

    public long OwnerId { get; init; }

    public string Name { get; init; } = "";

    public long Size { get; init; }

    public string ContentType { get; init; } = "";

    public string Sha256 { get; init; } = "";

    public string BlobKey { get; init; } = "";

    public int? Width { get; init; }

    public int? Height { get; init; }

    public string? ThumbnailKey { get; init; }

    public long CreatedAt { get; init; }
}

/// <summary>File records, blob records and who may read a file.</summary>
public sealed class FileStore(Database database)
{
    private const string Columns = "id, owner_id, name, size, content_type, sha256, blob_key, width, height, thumbnail_key, created_at";

    /// <summary>The blob keys already stored for this hash and size (candidates for a byte compare).</summary>
    public async Task<IReadOnlyList<string>> BlobsWithHashAsync(string sha256, long size, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT blob_key FROM blobs WHERE sha256 = @sha256 AND size = @size ORDER BY blob_key",
            new { sha256, size },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>Records a blob (idempotent).</summary>
    public async Task AddBlobAsync(string blobKey, string sha256, long size, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO blobs (blob_key, sha256, size, used_at) VALUES (@blobKey, @sha256, @size, @now) ON CONFLICT DO NOTHING",
            new { blobKey, sha256, size, now },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Marks a blob as used now, before an upload shares it; false when the sweeper has removed it already.
    /// The sweeper only removes blobs unused for its grace period, so a touched blob stays for that long.
    /// </summary>
    public async Task<bool> TouchBlobAsync(string blobKey, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE blobs SET used_at = @now WHERE blob_key = @blobKey",
            new { blobKey, now },
            cancellationToken: cancellationToken)) == 1;
    }

    /// <summary>
    /// Deletes up to <paramref name="batch"/> file records created before <paramref name="cutoff"/> that nothing
    /// references: no message, no user's or group's avatar. Returns how many went.
    /// </summary>
    public async Task<int> DeleteUnusedFilesAsync(long cutoff, int batch, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            $"""
            DELETE FROM files WHERE id IN (
                SELECT f.id FROM files f WHERE f.created_at < @cutoff AND {Unreferenced("f")}
                LIMIT @batch)
            AND {Unreferenced("files")}
            """,
            new { cutoff, batch },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Deletes up to <paramref name="batch"/> blob records unused since <paramref name="cutoff"/> that no file
    /// record references (as its bytes or its thumbnail), returning their keys so the bytes can go too.
    /// </summary>
    public async Task<IReadOnlyList<string>> DeleteUnreferencedBlobsAsync(long cutoff, int batch, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);

        // The time is checked again on the row being deleted: an upload that touched the blob meanwhile keeps it.
        return (await connection.QueryAsync<string>(new CommandDefinition(
            """
            DELETE FROM blobs WHERE used_at < @cutoff AND blob_key IN (
                SELECT b.blob_key FROM blobs b
                WHERE b.used_at < @cutoff
                  AND NOT EXISTS (SELECT 1 FROM files f WHERE f.blob_key = b.blob_key)
                  AND NOT EXISTS (SELECT 1 FROM files f WHERE f.thumbnail_key = b.blob_key)
                LIMIT @batch)
            AND NOT EXISTS (SELECT 1 FROM files f WHERE f.blob_key = blobs.blob_key)
            AND NOT EXISTS (SELECT 1 FROM files f WHERE f.thumbnail_key = blobs.blob_key)
            RETURNING blob_key
            """,
            new { cutoff, batch },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>Which of <paramref name="keys"/> have a blob record.</summary>
    public async Task<IReadOnlySet<string>> KnownBlobsAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        if (keys.Count == 0)
        {
            return new HashSet<string>();
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        var (list, parameters) = Sql.InList("k", keys);
        return (await connection.QueryAsync<string>(new CommandDefinition(
            $"SELECT blob_key FROM blobs WHERE blob_key IN ({list})", parameters, cancellationToken: cancellationToken))).ToHashSet(StringComparer.Ordinal);
    }

    private static string Unreferenced(string file) =>
        $"""
        NOT EXISTS (SELECT 1 FROM message_files mf WHERE mf.file_id = {file}.id)
        AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_file_id = {file}.id)
        AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.avatar_file_id = {file}.id)
        """;

    /// <summary>The bytes <paramref name="ownerId"/> uploaded since <paramref name="since"/>, and when the oldest of them was.</summary>
    public async Task<(long Bytes, long? Oldest)> UploadedSinceAsync(long ownerId, long since, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleAsync<(long Bytes, long? Oldest)>(new CommandDefinition(
            "SELECT COALESCE(SUM(size), 0) AS Bytes, MIN(created_at) AS Oldest FROM files WHERE owner_id = @ownerId AND created_at >= @since",
            new { ownerId, since },
            cancellationToken: cancellationToken));
        return row;
    }

    public async Task CreateAsync(FileRow file, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO files ({Columns}) VALUES (@Id, @OwnerId, @Name, @Size, @ContentType, @Sha256, @BlobKey, @Width, @Height, @ThumbnailKey, @CreatedAt)",
            file,
            cancellationToken: cancellationToken));
    }

    /// <summary>Records an image's or video's size and thumbnail found after the upload answered; false when the file is gone.</summary>
    public async Task<bool> SetMediaAsync(long id, int? width, int? height, string? thumbnailKey, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE files SET width = @width, height = @height, thumbnail_key = @thumbnailKey WHERE id = @id",
            new { id, width, height, thumbnailKey },
            cancellationToken: cancellationToken)) == 1;
    }

    public async Task<FileRow?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<FileRow>(new CommandDefinition(
            $"SELECT {Columns} FROM files WHERE id = @id", new { id }, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Whether the user may read the file: they uploaded it; it is referenced by a message they can see in a
    /// conversation they belong to; or it is a user's or a group's avatar.
    /// </summary>
    public async Task<bool> CanReadAsync(long fileId, long userId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            """
            SELECT 1 WHERE
                EXISTS (SELECT 1 FROM files WHERE id = @fileId AND owner_id = @userId)
             OR EXISTS (SELECT 1 FROM message_files mf JOIN conversation_members cm ON cm.conversation_id = mf.conversation_id
                        WHERE mf.file_id = @fileId AND cm.user_id = @userId AND mf.seq > cm.joined_seq)
             OR EXISTS (SELECT 1 FROM users WHERE avatar_file_id = @fileId)
             OR EXISTS (SELECT 1 FROM groups WHERE avatar_file_id = @fileId)
            """,
            new { fileId, userId },
            cancellationToken: cancellationToken)) is not null;
    }
}
