namespace Parley.Server;

/// <summary>Settings section <c>Storage</c>.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary><c>sqlite</c> (default: a file under DataDir) or <c>postgres</c>.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>For SQLite, optional (defaults to DataDir/parley.db); for PostgreSQL, an Npgsql connection string.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>SQLite: pages the message writer adds to the WAL before a checkpoint copies them into the database file (on its own connection).</summary>
    public int CheckpointPages { get; set; } = 250;

    /// <summary>SQLite: WAL pages left after a checkpoint at which writers wait for a full (RESTART) one, so the WAL cannot grow without limit.</summary>
    public int CheckpointMaxPages { get; set; } = 16_000;
}

/// <summary>Where Parley keeps its files: the embedded database, stored files, generated keys.</summary>
public sealed record ParleyPaths(string DataDir);
