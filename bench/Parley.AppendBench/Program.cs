using System.Diagnostics;
using Dapper;
using Npgsql;
using Parley.Storage;
using Parley.Storage.Messaging;
using Parley.Bench;
using Parley.Storage.Migrations;

// The message append path alone (MessageStore.AppendAsync, as the group-commit writer calls it), no server:
// messages/s, CPU and bytes allocated per message for a batch size over a number of direct conversations.
//   dotnet run -c Release --project bench/Parley.AppendBench -- --provider sqlite --batch 8 --conversations 500 --seconds 5
//   dotnet run -c Release --project bench/Parley.AppendBench -- --provider postgres --connection "Host=...;..." --batch 128 [--pg-data DIR]
// (--pg-data: the cluster's data directory, to add its processes' CPU per message; same machine only;
//  --page-size: SQLite page size of the new database;
//  --then-rate R [--then-seconds S]: after the closed-loop run, S seconds (default 15) open loop at R single-message
//  commits a second, whose commit latency is reported on its own: what a steady load sees behind a burst's WAL;
//  --search-index off: without the search index (SQLite: the FTS5 table and its triggers, which the writer then does not
//  write; PostgreSQL: the GIN index), for paired runs;
//  --search-sql FILE: SQL run after the migrations (a variant of the index to measure, e.g. other FTS5 options);
//  --count N: exactly N messages, no warm-up, instead of --seconds (the same work for every leg of a pair);
//  --search-fill N [--search-queries Q]: instead of the append run, store N messages and time Q searches of each kind)
var options = Options.Parse(args);
var dataDir = Path.Combine(Path.GetTempPath(), "parley-appendbench", Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(dataDir);
string? pgDatabase = null;
string? connection = null;
if (options.Provider == StorageProvider.Postgres)
{
    pgDatabase = "parley_ab_" + Guid.NewGuid().ToString("N")[..12];
    await using (var admin = new NpgsqlConnection(options.Connection))
    {
        await admin.OpenAsync();
        // --pg-ctype C.UTF-8: a database whose LC_CTYPE classifies CJK characters as letters (pg_trgm indexes them then).
        await admin.ExecuteAsync(options.PostgresCtype is { } ctype
            ? $"CREATE DATABASE {pgDatabase} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE '{ctype.Replace("'", "", StringComparison.Ordinal)}'"
            : $"CREATE DATABASE {pgDatabase}");
    }

    connection = new NpgsqlConnectionStringBuilder(options.Connection) { Database = pgDatabase }.ConnectionString;
}

try
{
#if BEFORE_ISSUE_13
    await using var database = Database.Create(options.Provider, connection, dataDir);
#else
    await using var database = Database.Create(options.Provider, connection, dataDir, logger: new ConsoleLogger());
#endif
    if (options.PageSize is { } pageSize)
    {
        // Only takes on a database without content: before the migrations (and WAL mode) write the first page.
        await using var empty = await database.OpenAsync();
        await empty.ExecuteAsync($"PRAGMA page_size={pageSize}");
    }

    await MigrationRunner.ApplyAsync(database);
    if (!options.SearchIndex)
    {
        await SearchBench.DropIndexAsync(database);
    }

    if (options.SearchSql is { } searchSql)
    {
        await using var variant = await database.OpenAsync();
        await variant.ExecuteAsync(File.ReadAllText(searchSql));
    }

    using var store = new MessageStore(database);
    var conversations = await SetUpAsync(database, store, options.Conversations);
    if (options.SearchFill is { } fill)
    {
        await SearchBench.RunAsync(database, store, conversations, fill, options.SearchQueries);
        return;
    }

    var random = new Random(42);
    var serial = 0L;

    NewMessage Next()
    {
        var (conversationId, low, high) = conversations[random.Next(conversations.Count)];
        var sender = (serial & 1) == 0 ? low : high;
        var n = serial++;
        return new NewMessage(conversationId, sender, "m" + n, "text", "{\"text\":\"hello there, message " + n + "\"}", null, null, [], false, 1_700_000_000_000 + n, []);
    }

    var latencies = new List<double>();
    async Task<long> RunAsync(TimeSpan duration)
    {
        var batch = new NewMessage[options.Batch];
        var count = 0L;
        var watch = Stopwatch.StartNew();
        while (options.Count is { } total ? count < total : watch.Elapsed < duration)
        {
            for (var i = 0; i < batch.Length; i++)
            {
                batch[i] = Next();
            }

            var started = Stopwatch.GetTimestamp();
            var results = await store.AppendAsync(batch, CancellationToken.None);
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (results.Any(r => !r.Created))
            {
                throw new InvalidOperationException("an append did not create its message");
            }

            count += batch.Length;
        }

        return count;
    }

    if (options.Count is null)
    {
        await RunAsync(TimeSpan.FromSeconds(options.Warmup));
    }

    latencies.Clear();
    GC.Collect();
    var process = Process.GetCurrentProcess();
    var cpu0 = process.TotalProcessorTime;
    var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
    var server0 = ServerCpu(options.PostgresData);
#if !BEFORE_ISSUE_13
    var pages0 = database.Checkpointer?.PagesWritten ?? 0;
#endif
    var wall = Stopwatch.StartNew();
    var messages = await RunAsync(TimeSpan.FromSeconds(options.Seconds));
    var elapsed = wall.Elapsed;
    process.Refresh();
    var cpu = process.TotalProcessorTime - cpu0;
    var alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
    var server = ServerCpu(options.PostgresData) - server0;
#if BEFORE_ISSUE_13
    var walFigures = "";
#else
    var pages = (database.Checkpointer?.PagesWritten ?? 0) - pages0;
    var walFigures = database.Checkpointer is null ? "" : $" wal_pages/msg={pages / (double)messages:F2} checkpoints={database.Checkpointer.Checkpoints} wal_file_MB={new FileInfo(database.SqlitePath + "-wal").Length / 1e6:F1}";
#endif
    latencies.Sort();
    var p50 = latencies[latencies.Count / 2];
    var p99 = latencies[Math.Min(latencies.Count - 1, latencies.Count * 99 / 100)];
    Console.WriteLine(
        $"provider={options.Provider}{(options.PageSize is { } ps ? $" page_size={ps}" : "")} batch={options.Batch} conversations={options.Conversations} messages={messages} " +
        $"msg/s={messages / elapsed.TotalSeconds:F0} cpu_us/msg={cpu.TotalMicroseconds / messages:F1} alloc_B/msg={alloc / (double)messages:F0}" +
        (options.PostgresData is null ? "" : $" pg_cpu_us/msg={server.TotalMicroseconds / messages:F1}") +
        $" commit_ms_p50={p50:F2} p99={p99:F2} max={latencies[^1]:F2}" + walFigures);

    if (options.ThenRate is { } rate)
    {
        // Open loop: each commit is due at its slot; its latency counts from the slot, so a stalled writer's
        // queue shows in the figures (no coordinated omission).
        var steady = new List<double>();
        var interval = Stopwatch.Frequency / (double)rate;
        var start = Stopwatch.GetTimestamp();
        var total = (long)(rate * options.ThenSeconds);
        var one = new NewMessage[1];
        for (var k = 0L; k < total; k++)
        {
            var due = start + (long)(k * interval);
            while (Stopwatch.GetTimestamp() < due)
            {
                OpenLoopClock.WaitUntil(due);
            }

            one[0] = Next();
            await store.AppendAsync(one, CancellationToken.None);
            steady.Add((Stopwatch.GetTimestamp() - due) * 1000.0 / Stopwatch.Frequency);
        }

        steady.Sort();
        Console.WriteLine(
            $"then open loop {rate}/s for {options.ThenSeconds}s: commit_ms_p50={steady[steady.Count / 2]:F2} p90={steady[steady.Count * 9 / 10]:F2} " +
            $"p99={steady[steady.Count * 99 / 100]:F2} p999={steady[Math.Min(steady.Count - 1, steady.Count * 999 / 1000)]:F2} max={steady[^1]:F2}" +
            (database.Checkpointer is null ? "" : $" wal_file_MB={new FileInfo(database.SqlitePath + "-wal").Length / 1e6:F1}"));
    }
}
finally
{
    if (pgDatabase is not null && Environment.GetEnvironmentVariable("PARLEY_AB_KEEP") != "1")
    {
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(options.Connection);
        await admin.OpenAsync();
        await admin.ExecuteAsync($"DROP DATABASE IF EXISTS {pgDatabase} WITH (FORCE)");
    }

    Directory.Delete(dataDir, recursive: true);
}

// CPU time of a PostgreSQL cluster (its postmaster and every child: the backends serving this program), from
// /proc; the cluster is given by its data directory (postmaster.pid). Zero when none is given.
static TimeSpan ServerCpu(string? dataDir)
{
    if (dataDir is null)
    {
        return TimeSpan.Zero;
    }

    var postmaster = File.ReadLines(Path.Combine(dataDir, "postmaster.pid")).First().Trim();
    var ticks = 0L;
    foreach (var dir in Directory.EnumerateDirectories("/proc"))
    {
        var pid = Path.GetFileName(dir);
        if (!pid.All(char.IsAsciiDigit))
        {
            continue;
        }

        string stat;
        try
        {
            stat = File.ReadAllText(Path.Combine(dir, "stat"));
        }
        catch (IOException)
        {
            continue; // gone
        }

        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        if (pid == postmaster || fields[1] == postmaster) // fields[1]: the parent's pid
        {
            ticks += long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ
}

static async Task<List<(long Id, long Low, long High)>> SetUpAsync(Database database, MessageStore store, int count)
{
    var users = new List<long>();
    await using (var connection = await database.OpenAsync())
    {
        for (var i = 0; i < count * 2; i++)
        {
            var id = 1_000_000 + i;
            await connection.ExecuteAsync(
                "INSERT INTO users (id, username, username_key, nickname, nickname_key, password_hash, created_at, updated_at) VALUES (@id, @name, @name, @name, @name, 'x', 0, 0)",
                new { id, name = "u" + id });
            users.Add(id);
        }
    }

    var conversations = new List<(long, long, long)>();
    for (var i = 0; i < count; i++)
    {
        var row = await store.GetOrCreateDirectAsync(users[2 * i], users[2 * i + 1], 5_000_000 + i, 0, CancellationToken.None);
        conversations.Add((row.Id, row.UserLow!.Value, row.UserHigh!.Value));
    }

    return conversations;
}

internal sealed record Options(StorageProvider Provider, string? Connection, int Batch, int Conversations, double Seconds, double Warmup, string? PostgresData, int? PageSize, int? ThenRate = null, double ThenSeconds = 15, bool SearchIndex = true, int? SearchFill = null, int SearchQueries = 200, string? PostgresCtype = null, string? SearchSql = null, long? Count = null)
{
    public static Options Parse(string[] args)
    {
        var provider = StorageProvider.Sqlite;
        string? connection = null, postgresData = null;
        int batch = 8, conversations = 500;
        int? pageSize = null;
        double seconds = 5, warmup = 2, thenSeconds = 15;
        int? thenRate = null;
        var searchIndex = true;
        int? searchFill = null;
        var searchQueries = 200;
        string? postgresCtype = null, searchSql = null;
        long? count = null;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i++])
            {
                case "--provider": provider = Database.ParseProvider(value); break;
                case "--connection": connection = value; break;
                case "--pg-data": postgresData = value; break;
                case "--page-size": pageSize = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--batch": batch = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--conversations": conversations = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--then-rate": thenRate = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--then-seconds": thenSeconds = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--search-index": searchIndex = value != "off"; break;
                case "--search-fill": searchFill = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--pg-ctype": postgresCtype = value; break;
                case "--search-sql": searchSql = value; break;
                case "--count": count = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--search-queries": searchQueries = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option {args[i - 1]}");
            }
        }

        if (provider == StorageProvider.Postgres && string.IsNullOrEmpty(connection))
        {
            throw new ArgumentException("--provider postgres needs --connection");
        }

        return new Options(provider, connection, batch, conversations, seconds, warmup, postgresData, pageSize, thenRate, thenSeconds, searchIndex, searchFill, searchQueries, postgresCtype, searchSql, count);
    }
}

// Built with -p:DefineConstants=BEFORE_ISSUE_13 against the storage of before issue 13 for paired runs.

/// <summary>The checkpointer's log lines, on standard error.</summary>
internal sealed class ConsoleLogger : Microsoft.Extensions.Logging.ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Console.Error.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.Message)}");
}
