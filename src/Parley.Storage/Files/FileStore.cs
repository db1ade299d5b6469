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
            "INSERT INTO blobs (blob_key, sha256, size, created_at) VALUES (@blobKey, @sha256, @size, @now) ON CONFLICT DO NOTHING",
            new { blobKey, sha256, size, now },
            cancellationToken: cancellationToken));
    }

    public async Task CreateAsync(FileRow file, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO files ({Columns}) VALUES (@Id, @OwnerId, @Name, @Size, @ContentType, @Sha256, @BlobKey, @Width, @Height, @ThumbnailKey, @CreatedAt)",
            file,
            cancellationToken: cancellationToken));
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
