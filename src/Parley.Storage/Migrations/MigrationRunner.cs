using System.Data.Common;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Dapper;

namespace Parley.Storage.Migrations;

public sealed record Migration(int Version, string Name, string Sql)
{
    // Line endings are normalised first, so a checkout with CRLF endings has the same checksum.
    public string Checksum { get; } = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Sql.ReplaceLineEndings("\n"))));
}

/// <summary>
/// Versioned, forward-only SQL migrations embedded in this assembly as Migrations/NNNN_name.sql (shared by
/// both engines) or NNNN_name.sqlite.sql plus NNNN_name.postgres.sql where the DDL must differ. They run at
/// startup under a lock (a PostgreSQL advisory lock; SQLite's write lock), each new one in its own
/// transaction, and are recorded with a checksum in schema_migrations.
/// </summary>
public static class MigrationRunner
{
    // Any constant works; it only has to be the same for every Parley node sharing a database.
    private const long AdvisoryLockKey = 0x5061726C6579; // "Parley"
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(2);

    public static IReadOnlyList<Migration> Load(StorageProvider provider)
    {
        var assembly = typeof(MigrationRunner).Assembly;
        var suffix = provider == StorageProvider.Sqlite ? ".sqlite.sql" : ".postgres.sql";
        var other = provider == StorageProvider.Sqlite ? ".postgres.sql" : ".sqlite.sql";
        var shared = new Dictionary<int, (string Name, string Resource)>();
        var specific = new Dictionary<int, (string Name, string Resource)>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith("Migrations/", StringComparison.Ordinal) || resource.EndsWith(other, StringComparison.Ordinal))
            {
                continue;
            }

            var file = resource["Migrations/".Length..];
            var isSpecific = file.EndsWith(suffix, StringComparison.Ordinal);
            var stem = isSpecific ? file[..^suffix.Length] : file[..^".sql".Length];
            var underscore = stem.IndexOf('_', StringComparison.Ordinal);
            if (underscore <= 0 || !int.TryParse(stem.AsSpan(0, underscore), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            {
                throw new InvalidOperationException($"Migration resource '{resource}' is not named NNNN_name.sql.");
            }

            if (!(isSpecific ? specific : shared).TryAdd(version, (stem[(underscore + 1)..], resource)))
            {
                throw new InvalidOperationException($"Two migrations share version {version}.");
            }
        }

        // An engine-specific file replaces the shared one of the same version.
        var byVersion = new SortedDictionary<int, Migration>();
        foreach (var (version, entry) in shared.Concat(specific))
        {
            byVersion[version] = new Migration(version, entry.Name, Read(assembly, entry.Resource));
        }

        var list = byVersion.Values.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i].Version != i + 1)
            {
                throw new InvalidOperationException($"Migrations must be numbered 1, 2, 3, ... without gaps; found {list[i].Version} at position {i + 1}.");
            }
        }

        return list;
    }

    /// <summary>Applies what is new and returns the versions applied by this call.</summary>
    public static async Task<IReadOnlyList<int>> ApplyAsync(Database database, CancellationToken cancellationToken = default)
    {
        var migrations = Load(database.Provider);
        await using var connection = await database.OpenAsync(cancellationToken);
        if (database.Provider == StorageProvider.Sqlite)
        {
            // WAL is a property of the file, so it is set once here and outside any transaction.
            await connection.ExecuteAsync("PRAGMA journal_mode=WAL;");
            // One IMMEDIATE transaction holds SQLite's write lock for the whole run: a second process waits.
            await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
            var applied = await ApplyPendingAsync(connection, transaction, migrations, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return applied;
        }

        // Another node may be migrating: wait for it, but not forever.
        var deadline = DateTime.UtcNow + LockTimeout;
        while (!await connection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(@key)", new { key = AdvisoryLockKey }, cancellationToken: cancellationToken)))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"Another process held the migration lock for more than {LockTimeout.TotalSeconds} s.");
            }

            await Task.Delay(250, cancellationToken);
        }

        try
        {
            return await ApplyPendingAsync(connection, null, migrations, cancellationToken);
        }
        finally
        {
            await connection.ExecuteAsync("SELECT pg_advisory_unlock(@key)", new { key = AdvisoryLockKey });
        }
    }

    private static async Task<IReadOnlyList<int>> ApplyPendingAsync(
        DbConnection connection,
        DbTransaction? outer,
        IReadOnlyList<Migration> migrations,
        CancellationToken cancellationToken)
    {
        await connection.ExecuteAsync(new CommandDefinition(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )
            """, transaction: outer, cancellationToken: cancellationToken));

        var existing = (await connection.QueryAsync<AppliedRow>(new CommandDefinition(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version", transaction: outer, cancellationToken: cancellationToken)))
            .ToDictionary(r => r.Version);

        var known = migrations.ToDictionary(m => m.Version);
        foreach (var row in existing.Values)
        {
            if (!known.TryGetValue(row.Version, out var migration))
            {
                throw new InvalidOperationException(
                    $"The database has migration {row.Version} ({row.Name}) which this version of Parley does not know: it was written by a newer version.");
            }

            if (migration.Checksum != row.Checksum)
            {
                throw new InvalidOperationException(
                    $"Migration {row.Version} ({row.Name}) was changed after it was applied. Migrations are forward-only: add a new one instead.");
            }
        }

        var applied = new List<int>();
        foreach (var migration in migrations)
        {
            if (existing.ContainsKey(migration.Version))
            {
                continue;
            }

            // Inside the caller's transaction (SQLite), or one of its own per migration (PostgreSQL).
            var transaction = outer ?? await connection.BeginTransactionAsync(cancellationToken);
            try
            {
                await connection.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: transaction, cancellationToken: cancellationToken));
                await connection.ExecuteAsync(new CommandDefinition(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (@Version, @Name, @Checksum, @AppliedAt)",
                    new { migration.Version, migration.Name, migration.Checksum, AppliedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() },
                    transaction,
                    cancellationToken: cancellationToken));
                if (outer is null)
                {
                    await transaction.CommitAsync(cancellationToken);
                }
            }
            finally
            {
                if (outer is null)
                {
                    await transaction.DisposeAsync();
                }
            }

            applied.Add(migration.Version);
        }

        return applied;
    }

    private static string Read(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Missing resource {resource}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private sealed class AppliedRow
    {
        public int Version { get; init; }

        public string Name { get; init; } = "";

        public string Checksum { get; init; } = "";
    }
}
