using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SQLitePCL;

namespace Parley.Storage.Sqlite;

/// <summary>When the WAL is copied back into the database file.</summary>
/// <param name="Pages">A PASSIVE checkpoint runs once the message writer has written this many pages to the WAL since the last one (and at least every <paramref name="Interval"/> while anything else writes).</param>
/// <param name="MaxPages">When a checkpoint leaves at least this many pages in the WAL (it cannot catch up with constant writes, or readers hold old snapshots), a RESTART checkpoint makes writers wait for it, so the WAL restarts from its beginning and cannot grow without limit.</param>
public sealed record SqliteCheckpointOptions(int Pages = 1000, int MaxPages = 16_000, TimeSpan Interval = default)
{
    public TimeSpan Interval { get; init; } = Interval == default ? TimeSpan.FromSeconds(1) : Interval;
}

/// <summary>
/// WAL checkpoints on a connection of their own, off the message writer: SQLite's automatic checkpoint runs
/// inside the commit that crosses its threshold, so that commit (and every send waiting on it) also pays for
/// copying the WAL into the database and fsyncing it, which was the commit p99. Every connection turns the
/// automatic checkpoint off (<see cref="Database"/>); this one runs PASSIVE checkpoints, which never block
/// readers or the writer, when the writer reports enough pages written, and a periodic one for the other
/// connections' writes; a RESTART one when the WAL stays too big. Stopped when the database is disposed.
/// </summary>
public sealed partial class SqliteCheckpointer : IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly SqliteCheckpointOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _due = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly object _startLock = new();
    private Task? _loop;
    private int _pagesSince;

    internal SqliteCheckpointer(string connectionString, SqliteCheckpointOptions? options, ILogger? logger)
    {
        _connectionString = connectionString;
        _options = options ?? new SqliteCheckpointOptions();
        if (_options.Pages < 1 || _options.MaxPages < _options.Pages || _options.Interval <= TimeSpan.Zero)
        {
            throw new InvalidOperationException(
                $"SQLite checkpoints need Storage:CheckpointPages >= 1 and Storage:CheckpointMaxPages >= it (got {_options.Pages} and {_options.MaxPages}).");
        }

        _logger = logger ?? NullLogger.Instance;
    }

    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Checkpoints done (PASSIVE and RESTART), for tests and diagnostics.</summary>
    public int Checkpoints { get; private set; }

    /// <summary>Frames in the WAL at the last checkpoint, and how many of them it had copied into the database file.</summary>
    public (int WalPages, int Checkpointed) Last { get; private set; }

    /// <summary>Completes after the next checkpoint attempt (tests wait for it instead of sleeping).</summary>
    public Task NextCheckpointAsync() => Volatile.Read(ref _next).Task;

    /// <summary>The writer committed a transaction that wrote <paramref name="pages"/> pages to the WAL.</summary>
    internal void Written(int pages)
    {
        Start();
        if (Interlocked.Add(ref _pagesSince, pages) >= _options.Pages && _due.CurrentCount == 0)
        {
            try
            {
                _due.Release();
            }
            catch (SemaphoreFullException)
            {
                // already due
            }
        }
    }

    /// <summary>Starts the loop (once; on the first connection opened, so a database never opened costs nothing).</summary>
    internal void Start()
    {
        if (_loop is not null)
        {
            return;
        }

        lock (_startLock)
        {
            if (_loop is null && !_stop.IsCancellationRequested)
            {
                _loop = Task.Run(LoopAsync);
            }
        }
    }

    private async Task LoopAsync()
    {
        SqliteConnection? connection = null;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await _due.WaitAsync(_options.Interval, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                Interlocked.Exchange(ref _pagesSince, 0);
                try
                {
                    connection ??= await OpenAsync();
                    Checkpoint(connection);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogFailed(_logger, e);
                    connection?.Dispose();
                    connection = null;
                }
                finally
                {
                    Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // stopping while opening the connection
        }
        finally
        {
            connection?.Dispose();
        }
    }

    private async Task<SqliteConnection> OpenAsync()
    {
        // Not from the pool: this connection is the checkpointer's alone, and the pool would hand it to others.
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder(_connectionString) { Pooling = false }.ToString());
        await connection.OpenAsync(_stop.Token);
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000; PRAGMA wal_autocheckpoint=0;";
        await pragma.ExecuteNonQueryAsync(_stop.Token);
        return connection;
    }

    private void Checkpoint(SqliteConnection connection)
    {
        var rc = raw.sqlite3_wal_checkpoint_v2(connection.Handle, null, raw.SQLITE_CHECKPOINT_PASSIVE, out var log, out var done);
        if (rc != raw.SQLITE_OK && rc != raw.SQLITE_BUSY)
        {
            throw new SqliteException($"PASSIVE checkpoint failed: {raw.sqlite3_errmsg(connection.Handle).utf8_to_string()}", rc);
        }

        Checkpoints++;
        Last = (log, done);
        if (log < _options.MaxPages)
        {
            return;
        }

        // The WAL keeps growing: writers wait (busy_timeout) while the rest is copied and readers move to the
        // database file, and the next writer starts the WAL over from its beginning.
        LogRestart(_logger, log, done);
        rc = raw.sqlite3_wal_checkpoint_v2(connection.Handle, null, raw.SQLITE_CHECKPOINT_RESTART, out log, out done);
        if (rc != raw.SQLITE_OK && rc != raw.SQLITE_BUSY)
        {
            throw new SqliteException($"RESTART checkpoint failed: {raw.sqlite3_errmsg(connection.Handle).utf8_to_string()}", rc);
        }

        Checkpoints++;
        Last = (log, done);
        if (rc == raw.SQLITE_BUSY)
        {
            LogRestartBusy(_logger, log);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task? loop;
        lock (_startLock)
        {
            _stop.Cancel();
            loop = _loop;
        }

        if (loop is not null)
        {
            await loop;
        }

        _stop.Dispose();
        _due.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A WAL checkpoint failed; the WAL grows until the next one succeeds")]
    private static partial void LogFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "The WAL holds {Pages} pages ({Checkpointed} checkpointed) after a passive checkpoint; writers wait for a RESTART checkpoint")]
    private static partial void LogRestart(ILogger logger, int pages, int checkpointed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A RESTART checkpoint could not finish (busy); the WAL holds {Pages} pages")]
    private static partial void LogRestartBusy(ILogger logger, int pages);
}
