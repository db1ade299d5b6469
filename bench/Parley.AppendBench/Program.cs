using System.Diagnostics;
using Dapper;
using Npgsql;
using Parley.Storage;
using Parley.Storage.Messaging;
using Parley.Storage.Migrations;

// The message append path alone (MessageStore.AppendAsync, as the group-commit writer calls it), no server:
// messages/s, CPU and bytes allocated per message for a batch size over a number of direct conversations.
//   dotnet run -c Release --project bench/Parley.AppendBench -- --provider sqlite --batch 8 --conversations 500 --seconds 5
//   dotnet run -c Release --project bench/Parley.AppendBench -- --provider postgres --connection "Host=...;..." --batch 128
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
        await admin.ExecuteAsync($"CREATE DATABASE {pgDatabase}");
    }

    connection = new NpgsqlConnectionStringBuilder(options.Connection) { Database = pgDatabase }.ConnectionString;
}

try
{
    await using var database = Database.Create(options.Provider, connection, dataDir);
    await MigrationRunner.ApplyAsync(database);
    using var store = new MessageStore(database);
    var conversations = await SetUpAsync(database, store, options.Conversations);
    var random = new Random(42);
    var serial = 0L;

    NewMessage Next()
    {
        var (conversationId, low, high) = conversations[random.Next(conversations.Count)];
        var sender = (serial & 1) == 0 ? low : high;
        var n = serial++;
        return new NewMessage(conversationId, sender, "m" + n, "text", "{\"text\":\"hello there, message " + n + "\"}", null, null, [], false, 1_700_000_000_000 + n, []);
    }

    async Task<long> RunAsync(TimeSpan duration)
    {
        var batch = new NewMessage[options.Batch];
        var count = 0L;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < duration)
        {
            for (var i = 0; i < batch.Length; i++)
            {
                batch[i] = Next();
            }

            var results = await store.AppendAsync(batch, CancellationToken.None);
            if (results.Any(r => !r.Created))
            {
                throw new InvalidOperationException("an append did not create its message");
            }

            count += batch.Length;
        }

        return count;
    }

    await RunAsync(TimeSpan.FromSeconds(options.Warmup));
    GC.Collect();
    var process = Process.GetCurrentProcess();
    var cpu0 = process.TotalProcessorTime;
    var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
    var wall = Stopwatch.StartNew();
    var messages = await RunAsync(TimeSpan.FromSeconds(options.Seconds));
    var elapsed = wall.Elapsed;
    process.Refresh();
    var cpu = process.TotalProcessorTime - cpu0;
    var alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
    Console.WriteLine(
        $"provider={options.Provider} batch={options.Batch} conversations={options.Conversations} messages={messages} " +
        $"msg/s={messages / elapsed.TotalSeconds:F0} cpu_us/msg={cpu.TotalMicroseconds / messages:F1} alloc_B/msg={alloc / (double)messages:F0}");
}
finally
{
    if (pgDatabase is not null)
    {
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(options.Connection);
        await admin.OpenAsync();
        await admin.ExecuteAsync($"DROP DATABASE IF EXISTS {pgDatabase} WITH (FORCE)");
    }

    Directory.Delete(dataDir, recursive: true);
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

internal sealed record Options(StorageProvider Provider, string? Connection, int Batch, int Conversations, double Seconds, double Warmup)
{
    public static Options Parse(string[] args)
    {
        var provider = StorageProvider.Sqlite;
        string? connection = null;
        int batch = 8, conversations = 500;
        double seconds = 5, warmup = 2;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i++])
            {
                case "--provider": provider = Database.ParseProvider(value); break;
                case "--connection": connection = value; break;
                case "--batch": batch = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--conversations": conversations = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option {args[i - 1]}");
            }
        }

        if (provider == StorageProvider.Postgres && string.IsNullOrEmpty(connection))
        {
            throw new ArgumentException("--provider postgres needs --connection");
        }

        return new Options(provider, connection, batch, conversations, seconds, warmup);
    }
}
