namespace Parley.Server;

/// <summary>Settings section <c>Storage</c>.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary><c>sqlite</c> (default: a file under DataDir) or <c>postgres</c>.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>For SQLite, optional (defaults to DataDir/parley.db); for PostgreSQL, an Npgsql connection string.</summary>
    public string? ConnectionString { get; set; }
}

/// <summary>Where Parley keeps its files: the embedded database, stored files, generated keys.</summary>
public sealed record ParleyPaths(string DataDir);
