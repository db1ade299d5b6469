using Npgsql;
using Parley.Storage;

namespace Parley.Tests.Infrastructure;

public enum Backend
{
    Sqlite,
    Postgres,
}

/// <summary>
/// A private place for one server's data: a temporary DataDir, and on PostgreSQL a database of its own
/// created on the server that <c>PARLEY_TEST_POSTGRES</c> points at. Several servers can be started on it in
/// turn, which is how restarts are tested.
/// </summary>
public sealed class TestStore : IAsyncDisposable
{
    public const string PostgresVariable = "PARLEY_TEST_POSTGRES";

    private readonly string? _adminConnectionString;
    private readonly string? _databaseName;

    private TestStore(Backend backend, string dataDir, string? connectionString, string? admin, string? databaseName)
    {
        Backend = backend;
        DataDir = dataDir;
        ConnectionString = connectionString;
        _adminConnectionString = admin;
        _databaseName = databaseName;
    }

    public Backend Backend { get; }

    public string DataDir { get; }

    public string? ConnectionString { get; }

    public static string? PostgresAdminConnectionString =>
        Environment.GetEnvironmentVariable(PostgresVariable) is { Length: > 0 } value ? value : null;

    public static string SkipReason => $"PostgreSQL leg skipped: {PostgresVariable} is not set (.ci/run sets it).";

    /// <summary>The settings a server needs to run on this store, as command-line flags.</summary>
    public string[] Args => Backend == Backend.Sqlite
        ? [$"--DataDir={DataDir}", "--Storage:Provider=sqlite"]
        : [$"--DataDir={DataDir}", "--Storage:Provider=postgres", $"--Storage:ConnectionString={ConnectionString}"];

    /// <summary>A fresh store; on PostgreSQL a new database on <paramref name="adminConnectionString"/> (default: PARLEY_TEST_POSTGRES's server).</summary>
    public static async Task<TestStore> CreateAsync(Backend backend, string? adminConnectionString = null)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "parley-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        if (backend == Backend.Sqlite)
        {
            return new TestStore(backend, dataDir, null, null, null);
        }

        var admin = adminConnectionString ?? PostgresAdminConnectionString ?? throw new InvalidOperationException(SkipReason);
        var name = "parley_t_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(admin) { Database = name };
        return new TestStore(backend, dataDir, builder.ConnectionString, admin, name);
    }

    public Database OpenDatabase() =>
        Database.Create(Backend == Backend.Sqlite ? StorageProvider.Sqlite : StorageProvider.Postgres, ConnectionString, DataDir);

    public async ValueTask DisposeAsync()
    {
        if (_adminConnectionString is not null && _databaseName is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(_adminConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_databaseName} WITH (FORCE)", connection);
            await command.ExecuteNonQueryAsync();
        }

        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
            // A file still open by a pool being torn down; the temp dir is cleaned by the OS eventually.
        }
    }
}
