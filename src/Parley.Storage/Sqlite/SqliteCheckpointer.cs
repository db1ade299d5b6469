using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SQLitePCL;

namespace Parley.Storage.Sqlite;

/// <summary>When the WAL is copied back into the database file.</summary>
/// <param name="Pages">A PASSIVE checkpoint runs once the message writer has written this many pages to the WAL since the last one (and at least every <paramref name="Interval"/> while anything else writes).</param>
/// <param name="MaxPages">When a checkpoint leaves at least this many pages in the WAL (readers hold old snapshots), a RESTART checkpoint makes writers wait for them, so the WAL restarts from its beginning and cannot grow without limit.</param>
public sealed record SqliteCheckpointOptions(int Pages = 250, int MaxPages = 16_000, TimeSpan Interval = default)
{
    public TimeSpan Interval { get; init; } = Interval == default ? TimeSpan.FromSeconds(1) : Interval;
}

/// <summary>
/// WAL checkpoints on a connection of their own, off the message writer: SQLite's automatic checkpoint runs
/// inside the commit that crosses its threshold, so that commit (and every send waiting on it) also pays for
/// copying the WAL into the database and fsyncing it, which was the commit p99. Every connection turns the
/// automatic checkpoint off (<see cref="Database"/>); this one runs PASSIVE checkpoints, which never block
/// readers or the writer, when the writer reports enough pages written, and a periodic one for the other
/// connections' writes; when the WAL holds a few times that, it pauses the message writer (its gate) for the
/// checkpoint's short tail so the WAL starts over; a RESTART one when readers keep it from doing so. Stopped
/// when the database is disposed.
/// </summary>
public sealed partial class SqliteCheckpointer : IAsyncDisposable
{
    /// <summary>The WAL is restarted (the message writer pausing for the tail of a checkpoint) once it holds this many times <see cref="SqliteCheckpointOptions.Pages"/>.</summary>
    private const int RestartFactor = 4;

    /// <summary>Passes off the writer, at most, before it pauses for a checkpoint's tail (see <see cref="CheckpointAsync"/>).</summary>
    private const int DrainPasses = 8;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writerGate;
    private readonly SqliteCheckpointOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _due = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly object _startLock = new();
    private Task? _loop;
    private int _pagesSince;
    private long _pagesWritten;

    internal SqliteCheckpointer(string connectionString, SemaphoreSlim writerGate, SqliteCheckpointOptions? options, ILogger? logger)
    {
        _connectionString = connectionString;
        _writerGate = writerGate;
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

    /// <summary>Pages the message writer has written to the WAL in all (each commit's dirty pages).</summary>
    public long PagesWritten => Interlocked.Read(ref _pagesWritten);

    /// <summary>Completes after the next checkpoint attempt (tests wait for it instead of sleeping).</summary>
    public Task NextCheckpointAsync() => Volatile.Read(ref _next).Task;

    /// <summary>The writer committed a transaction that wrote <paramref name="pages"/> pages to the WAL.</summary>
    internal void Written(int pages)
    {
        Start();
        Interlocked.Add(ref _pagesWritten, pages);
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
                    await CheckpointAsync(connection);
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

    private async Task CheckpointAsync(SqliteConnection connection)
    {
        // 1. The copy, off the writer: a PASSIVE checkpoint never blocks the writer or readers.
        var (rc, log, done) = Run(connection, raw.SQLITE_CHECKPOINT_PASSIVE);
        if (log < _options.Pages * RestartFactor && log < _options.MaxPages)
        {
            return;
        }

        // 2. The WAL starts over from its beginning only when the writer begins a transaction while every frame is
        // copied, which under constant writes never happens by chance: the message writer has to pause for the
        // tail, what it committed during the last pass. After a burst that tail is long (a pass that copied a
        // backlog of tens of thousands of pages took seconds, and the writer went on meanwhile), so more passes
        // run off the writer first, each copying what was written during the one before, until one is short: then
        // the pause is a few pages and an fsync. A writer faster than the copy never lets them get short; after
        // DrainPasses the writer pauses anyway (it is overloaded: that is the backpressure that keeps the WAL
        // bounded). A WAL past MaxPages drains the same way first: a burst that ended there left a backlog that a
        // pause would have copied with every send waiting (300 ms seen at the start of a steady load).
        for (var pass = 0; pass < DrainPasses; pass++)
        {
            var before = done;
            var logBefore = log;
            (rc, log, done) = Run(connection, raw.SQLITE_CHECKPOINT_PASSIVE);
            if (log < logBefore)
            {
                return; // the writer started the WAL over by itself
            }

            if (done - before <= _options.Pages)
            {
                break; // that pass was short, so the tail is too
            }
        }

        await _writerGate.WaitAsync(_stop.Token);
        try
        {
            (rc, log, done) = Run(connection, raw.SQLITE_CHECKPOINT_PASSIVE);
            if (done == log || log < _options.MaxPages)
            {
                return; // caught up (the next commit restarts the WAL unless a reader still holds it), or next time
            }

            // 3. Readers hold old snapshots and the WAL is at its limit: wait for them (busy_timeout), other
            // writers waiting too, so the next writer starts the WAL over.
            LogRestart(_logger, log, done);
            (rc, log, _) = Run(connection, raw.SQLITE_CHECKPOINT_RESTART);
            if (rc == raw.SQLITE_BUSY)
            {
                LogRestartBusy(_logger, log);
            }
        }
        finally
        {
            _writerGate.Release();
        }
    }

    private (int Rc, int Log, int Done) Run(SqliteConnection connection, int mode)
    {
        var rc = raw.sqlite3_wal_checkpoint_v2(connection.Handle, null, mode, out var log, out var done);
        if (rc != raw.SQLITE_OK && rc != raw.SQLITE_BUSY)
        {
            throw new SqliteException($"WAL checkpoint (mode {mode}) failed: {raw.sqlite3_errmsg(connection.Handle).utf8_to_string()}", rc);
        }

        Checkpoints++;
        Last = (log, done);
        return (rc, log, done);
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
