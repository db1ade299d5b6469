using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Parley.Bench;

/// <summary>Runs the chosen phases and reports them as a table and as one JSON line per phase.</summary>
public static class BenchRunner
{
    public static async Task<IReadOnlyList<PhaseResult>> RunAsync(BenchOptions options, TextWriter output, CancellationToken cancellationToken = default)
    {
        var dataDir = Path.GetFullPath(Path.Combine(options.DataDir, options.Provider));
        Directory.CreateDirectory(dataDir);
        await using var server = options.Server is { } target
            ? ServerProcess.Target(target, options.ServerPid)
            : await ServerProcess.StartAsync(options.Provider, dataDir, options.Connection, options.ServerArgs, output, cheapPasswordHashes: !options.LoginOnly);
        using var http = new SocketsHttpHandler { MaxConnectionsPerServer = 64, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        using var connector = new Connector(options.Addresses);

        output.WriteLine($"server: {server.BaseUri} pid {server.Pid?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}, {options.Provider}");
        if (server.Settings.Count > 0)
        {
            output.WriteLine("server settings: " + string.Join(' ', server.Settings));
        }

        output.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
        Population? population = null;
        if (!options.LoginOnly)
        {
            population = await Population.LoadOrCreateAsync(Path.Combine(dataDir, "bench-users.json"), server.BaseUri, http, output);
            await population.EnsureAsync(server.BaseUri, http, options.UsersNeeded(), options.Phases.Contains("fanout") ? options.FanoutSizes : [], output);
        }

        var context = new BenchContext(server, population ?? new Population(), connector, http, options.Provider, output);

        var results = new List<PhaseResult>();
        async Task Run(Func<Task<PhaseResult>> phase)
        {
            var result = await phase();
            results.Add(result);
            var line = JsonSerializer.Serialize(result, BenchJson.Default.PhaseResult);
            output.WriteLine(line);
            if (options.JsonOut is { } file)
            {
                await File.AppendAllTextAsync(file, line + "\n", cancellationToken);
            }

            if (population is not null)
            {
                await population.SaveAsync(); // refreshed tokens
            }
        }

        if (options.Phases.Contains("login"))
        {
            await Run(() => LoginPhase.RunAsync(context, options.LoginUsers, options.LoginClients, options.Warmup, options.Measured, cancellationToken));
        }

        if (options.Phases.Contains("connect"))
        {
            await Run(() => Phases.ConnectAsync(context, options.ConnectUsers, TimeSpan.FromSeconds(5), cancellationToken));
        }

        if (options.Phases.Contains("thru"))
        {
            foreach (var users in options.ThruUsers)
            {
                await Run(() => Phases.ThroughputAsync(context, users, options.InFlight, options.Warmup, options.Measured, cancellationToken));
            }
        }

        if (options.Phases.Contains("lat"))
        {
            await Run(() => Phases.LatencyAsync(context, options.LatUsers, options.LatRate, options.Warmup, options.Measured, cancellationToken));
        }

        if (options.Phases.Contains("fanout"))
        {
            foreach (var size in options.FanoutSizes)
            {
                await Run(() => Phases.FanoutAsync(context, size, Math.Min(options.FanoutSenders, size), options.FanoutInFlight, options.Warmup, options.Measured, cancellationToken));
            }
        }

        output.WriteLine();
        output.WriteLine(Table(results));
        return results;
    }

    public static string Table(IEnumerable<PhaseResult> results)
    {
        static string F(double? value, string format = "0.0") => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
        static string MiB(long? bytes) => bytes is { } b ? (b / 1048576.0).ToString("0", CultureInfo.InvariantCulture) : "-";
        var text = new StringBuilder();
        var logins = results.Where(r => r.Phase == "login").ToList();
        if (logins.Count > 0)
        {
            text.AppendLine("| phase | store | users | clients | logins/s | 503s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU s | logins/server CPU s | RSS before MiB | peak RSS MiB |");
            text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in logins)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Phase} | {r.Provider} | {r.Users} | {r.InFlight} | {F(r.LoginsPerSecond, "0")} | {r.Unavailable} | {F(r.LatencyP50Ms, "0")} | {F(r.LatencyP90Ms, "0")} | {F(r.LatencyP99Ms, "0")} | {F(r.LatencyMaxMs, "0")} | {r.Errors} | {F(r.ServerCpuSeconds, "0.00")} | {F(r.ServerCpuSeconds is > 0 ? r.Logins / r.ServerCpuSeconds : null, "0")} | {MiB(r.ServerRssBeforeBytes)} | {MiB(r.ServerPeakRssBytes)} |");
            }

            results = results.Except(logins).ToList();
            if (!results.Any())
            {
                return text.ToString();
            }

            text.AppendLine();
        }

        text.AppendLine("| phase | store | users | delivered/s | p50 ms | p90 ms | p99 ms | max ms | lost | dup | errors | server CPU s | tool CPU s | msgs/server CPU s | alloc B/msg | GCs | KiB/conn |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Phase} | {r.Provider} | {r.Users} | {F(r.DeliveredPerSecond, "0")} | {F(r.LatencyP50Ms, "0.00")} | {F(r.LatencyP90Ms, "0.00")} | {F(r.LatencyP99Ms, "0.00")} | {F(r.LatencyMaxMs, "0.0")} | {r.Lost} | {r.Duplicated} | {r.Errors} | {F(r.ServerCpuSeconds, "0.00")} | {F(r.ToolCpuSeconds, "0.00")} | {F(r.MessagesPerServerCpuSecond, "0")} | {F(r.ServerAllocatedBytesPerMessage, "0")} | {F(r.ServerGcCollections, "0")} | {F(r.RssPerConnectionKiB, "0.00")} |");
        }

        return text.ToString();
    }
}
