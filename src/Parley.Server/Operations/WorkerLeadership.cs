using Npgsql;

namespace Parley.Server.Operations;

/// <summary>
/// Which node runs the cluster-wide periodic workers (temporary-group expiry, retention, file and session sweeping):
/// the one holding a PostgreSQL session-level advisory lock (<c>pg_try_advisory_lock</c>) on a connection of its own,
/// kept open while it leads. Only one session holds the lock; when the leader dies, PostgreSQL ends its session (a
/// killed process's socket is closed by its kernel at once; a vanished machine's by TCP keepalive, which this
/// connection sets) and the lock is free for the next node that asks. Every worker asks before each run, so another
/// node takes over at its next run. A leader that loses its connection stops leading until it holds the lock again.
/// Cluster mode only; one node runs every worker itself, as ever.
/// </summary>
public sealed partial class WorkerLeadership : IAsyncDisposable
{
    /// <summary>The lock's key: any fixed number no other part of Parley uses ("PRLYWRKR").</summary>
    public const long LockKey = 0x50524C59_57524B52;

    private readonly string _connectionString;
    private readonly ILogger<WorkerLeadership> _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private NpgsqlConnection? _connection;
    private bool _toldFollowing;

    public WorkerLeadership(string connectionString, ILogger<WorkerLeadership> logger)
    {
        // Its own small, unpooled connection: a pooled one could be handed back (lock and all) or reset under us.
        _connectionString = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            KeepAlive = 5,
            TcpKeepAlive = true,
            ApplicationName = "parley-worker-leadership",
        }.ConnectionString;
        _logger = logger;
    }

    /// <summary>Whether this node holds the lock now (taking it when it is free); false while the database is away.</summary>
    public async Task<bool> IsLeaderAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_connection is not null)
            {
                try
                {
                    await using var check = new NpgsqlCommand("SELECT 1", _connection);
                    await check.ExecuteScalarAsync(cancellationToken);
                    return true; // the session is alive, so the lock is still ours
                }
                catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException)
                {
                    LogLost(_logger, e.GetType().Name);
                    await DropAsync();
                }
            }

            var connection = new NpgsqlConnection(_connectionString);
            try
            {
                await connection.OpenAsync(cancellationToken);
                await using var take = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", connection);
                take.Parameters.AddWithValue("key", LockKey);
                if (await take.ExecuteScalarAsync(cancellationToken) is true)
                {
                    _connection = connection;
                    _toldFollowing = false;
                    LogLeading(_logger);
                    return true;
                }
            }
            catch (Exception e) when (e is NpgsqlException or IOException)
            {
                // The database is away: nobody here leads; the next run asks again.
            }

            await connection.DisposeAsync();
            if (!_toldFollowing)
            {
                _toldFollowing = true;
                LogFollowing(_logger);
            }

            return false;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync();
        try
        {
            await DropAsync(); // closing the session frees the lock for the next node
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task DropAsync()
    {
        if (_connection is { } connection)
        {
            _connection = null;
            await connection.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "This node now runs the cluster's periodic workers")]
    private static partial void LogLeading(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Another node runs the cluster's periodic workers (or the database is away); this node asks again at each run")]
    private static partial void LogFollowing(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The periodic workers' lock connection failed ({Error}); this node no longer leads them")]
    private static partial void LogLost(ILogger logger, string error);
}
