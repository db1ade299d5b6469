using System.Data.Common;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Npgsql;
using Parley.Storage.Sqlite;

namespace Parley.Storage;

public enum StorageProvider
{
    Sqlite,
    Postgres,
}

/// <summary>
/// The one place that knows which database engine is behind the stores. Stores write SQL that both
/// engines accept (ON CONFLICT, RETURNING, LIMIT) and ask this class only for connections and for the
/// few facts that differ (how a unique violation looks).
/// </summary>
public sealed class Database : IAsyncDisposable
{
    private readonly string _sqliteConnectionString = "";
    private readonly NpgsqlDataSource? _postgres;

    /// <summary>PostgreSQL: a small pool of its own for the message writer, so requests can never starve it of connections.</summary>
    private readonly NpgsqlDataSource? _postgresWriter;

    /// <summary>SQLite handles (kept alive by the connection pool) whose per-connection pragmas are set.</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<SQLitePCL.sqlite3, object> Initialized = new();
    private static readonly object Marker = new();

    static Database()
    {
        // Columns are snake_case; the row classes are PascalCase.
        DefaultTypeMap.MatchNamesWithUnderscores = true;
    }

    private Database(StorageProvider provider, string sqlite, NpgsqlDataSource? postgres, NpgsqlDataSource? postgresWriter = null)
    {
        Provider = provider;
        _sqliteConnectionString = sqlite;
        _postgres = postgres;
        _postgresWriter = postgresWriter;
    }

    public StorageProvider Provider { get; }

    /// <summary>SQLite in a file: WAL checkpoints on their own connection (every connection has the automatic ones off).</summary>
    public SqliteCheckpointer? Checkpointer { get; private init; }

    /// <summary>SQLite: held by the message writer for each batch, and by the checkpointer for the short tail that lets the WAL start over.</summary>
    internal SemaphoreSlim? SqliteWriterGate { get; private init; }

    /// <summary>
    /// Appended to a SELECT inside a write transaction to lock the rows read: PostgreSQL needs FOR UPDATE;
    /// SQLite already holds the database's write lock for the whole IMMEDIATE transaction.
    /// </summary>
    public string ForUpdate => Provider == StorageProvider.Postgres ? " FOR UPDATE" : "";

    /// <summary>
    /// Which webhook events the stores write to the outbox, in their own transactions (<see cref="Webhooks.WebhookOutbox.Off"/>:
    /// none). Set once at startup, before anything is written.
    /// </summary>
    public Webhooks.WebhookOutbox Outbox { get; set; } = Webhooks.WebhookOutbox.Off;

    /// <summary>Where the SQLite file lives; null on PostgreSQL.</summary>
    public string? SqlitePath { get; private init; }

    public static Database Create(StorageProvider provider, string? connectionString, string dataDir, SqliteCheckpointOptions? checkpoints = null, ILogger? logger = null)
    {
        switch (provider)
        {
            case StorageProvider.Sqlite:
            {
                var builder = new SqliteConnectionStringBuilder(string.IsNullOrWhiteSpace(connectionString)
                    ? $"Data Source={Path.Combine(dataDir, "parley.db")}"
                    : connectionString)
                {
                    Pooling = true,
                    ForeignKeys = true,
                    // Seconds a writer waits for the write lock before SQLITE_BUSY surfaces.
                    DefaultTimeout = 30,
                    Mode = SqliteOpenMode.ReadWriteCreate,
                };
                var dir = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
                if (!string.IsNullOrEmpty(dir))
                {
                    PrivateFiles.CreateDirectory(dir);
                }

                // SQLite would create the database 0644 (less the umask), and gives its -wal and -shm files the
                // database file's mode: an empty 0600 file first (a valid empty database) makes all three private.
                var file = builder.DataSource is { Length: > 0 } source && source != ":memory:"
                    && !source.StartsWith("file:", StringComparison.OrdinalIgnoreCase);
                if (file)
                {
                    PrivateFiles.EnsureFile(Path.GetFullPath(builder.DataSource));
                }

                var writerGate = new SemaphoreSlim(1, 1);
                return new Database(provider, builder.ToString(), null)
                {
                    SqlitePath = Path.GetFullPath(builder.DataSource),
                    Checkpointer = file ? new SqliteCheckpointer(builder.ToString(), writerGate, checkpoints, logger) : null,
                    SqliteWriterGate = writerGate,
                };
            }

            case StorageProvider.Postgres:
            {
                if (string.IsNullOrWhiteSpace(connectionString))
                {
                    throw new InvalidOperationException(
                        "Storage:Provider is 'postgres' but Storage:ConnectionString is empty.");
                }

                // Hot statements (the send check, the append) are prepared once per connection, not planned per call.
                var shared = new NpgsqlConnectionStringBuilder(connectionString);
                if (shared.MaxAutoPrepare == 0)
                {
                    shared.MaxAutoPrepare = 64;
                    shared.AutoPrepareMinUsages = 2;
                }

                var writer = new NpgsqlConnectionStringBuilder(shared.ConnectionString) { MaxPoolSize = 2, MinPoolSize = 0 };

                // The writer's pool runs only the append: one big prepared statement over arrays of a batch's rows.
                // Planned once (a generic plan, not re-planned for each batch: 0.4 ms) and with index lookups
                // per row (nested loops), never a hash join over a whole table sized by its statistics: 0.14 ms
                // for one message instead of 0.25-0.3 in EXPLAIN ANALYZE, and the cost grows with the batch, not
                // with the tables.
                const string WriterPlanner = "-c plan_cache_mode=force_generic_plan -c enable_hashjoin=off -c enable_mergejoin=off";
                writer.Options = string.IsNullOrWhiteSpace(writer.Options) ? WriterPlanner : writer.Options + " " + WriterPlanner;
                // Named, so metrics and traces tag the pool by name rather than by its connection string.
                return new Database(
                    provider,
                    "",
                    new NpgsqlDataSourceBuilder(shared.ConnectionString) { Name = "parley" }.Build(),
                    new NpgsqlDataSourceBuilder(writer.ConnectionString) { Name = "parley-writer" }.Build());
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(provider), provider, null);
        }
    }

    public static StorageProvider ParseProvider(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "sqlite" => StorageProvider.Sqlite,
        "postgres" or "postgresql" or "npgsql" => StorageProvider.Postgres,
        _ => throw new InvalidOperationException($"Unknown Storage:Provider '{value}'. Use 'sqlite' or 'postgres'."),
    };

    public async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        if (_postgres is not null)
        {
            return await _postgres.OpenConnectionAsync(cancellationToken);
        }

        var connection = new SqliteConnection(_sqliteConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            if (Initialized.TryGetValue(connection.Handle!, out _))
            {
                return connection; // a pooled connection keeps its settings
            }

            // Durable commits: an acknowledged write survives a crash or power loss.
            await using var pragma = connection.CreateCommand();
            // A writer that finds the write lock taken waits inside SQLite (short sleeps) instead of surfacing
            // SQLITE_BUSY to Microsoft.Data.Sqlite, whose retry loop sleeps 150 ms at a time.
            // Checkpoints run on the checkpointer's own connection, never inside a commit here.
            pragma.CommandText = Checkpointer is null
                ? "PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;"
                : "PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000; PRAGMA wal_autocheckpoint=0;";
            await pragma.ExecuteNonQueryAsync(cancellationToken);
            Checkpointer?.Start();
            Initialized.AddOrUpdate(connection.Handle!, Marker);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>A connection for the message writer (its own pool on PostgreSQL; the shared pool on SQLite, where the write lock orders writers anyway).</summary>
    public async ValueTask<DbConnection> OpenWriterAsync(CancellationToken cancellationToken = default) =>
        _postgresWriter is not null ? await _postgresWriter.OpenConnectionAsync(cancellationToken) : await OpenAsync(cancellationToken);

    /// <summary>Begins a write transaction. On SQLite this is BEGIN IMMEDIATE, so writers queue for the lock
    /// up front instead of failing when a read snapshot tries to upgrade.</summary>
    public static async ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken = default) =>
        connection is SqliteConnection sqlite
            ? sqlite.BeginTransaction(deferred: false)
            : await connection.BeginTransactionAsync(cancellationToken);

    public static bool IsUniqueViolation(Exception exception) => exception switch
    {
        SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 2067 or 1555 } => true,
        PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } => true,
        _ => false,
    };

    /// <summary>
    /// Whether <paramref name="exception"/> (or one inside it) says the database cannot be reached right now (it is
    /// down, restarting, refusing connections, or the connection broke), not that a statement was wrong: a
    /// request that meets it is answered 503 and may be retried; the pool reconnects by itself when it is back.
    /// </summary>
    public static bool IsUnavailable(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                // The server's own word: connection exceptions (08), shutting down or starting (57P01-57P03),
                // too many connections (53300).
                case PostgresException pg:
                    return pg.SqlState.StartsWith("08", StringComparison.Ordinal)
                        || pg.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown
                            or PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.TooManyConnections;
                // Npgsql's own (no server error): a refused or broken connection, a timeout, an exhausted pool.
                case NpgsqlException:
                    return true;
            }
        }

        return false;
    }

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<int>(new CommandDefinition("SELECT 1", cancellationToken: cancellationToken)) == 1;
    }

    public async ValueTask DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
            if (_postgresWriter is not null)
            {
                await _postgresWriter.DisposeAsync();
            }
        }
        else
        {
            if (Checkpointer is not null)
            {
                await Checkpointer.DisposeAsync();
            }

            SqliteConnection.ClearAllPools();
        }
    }
}
