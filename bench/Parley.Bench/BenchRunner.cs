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
        var serverArgs = options.ServerArgs;
        var xmppPort = options.XmppPort;
        if (options.Transport == "xmpp" && options.Servers.Count == 0)
        {
            xmppPort ??= FreePort();
            serverArgs = [.. serverArgs, $"--Xmpp:Port={xmppPort}", $"--Xmpp:Domain={options.XmppDomain}", "--Xmpp:AllowPlaintext=true", "--Xmpp:BindAddress=127.0.0.1"];
        }

        await using var server = options.Servers.Count > 0
            ? ServerProcess.Target(options.Servers, options.ServerPids)
            : await ServerProcess.StartAsync(options.Provider, dataDir, options.Connection, serverArgs, output, cheapPasswordHashes: !options.LoginOnly);
        using var http = new SocketsHttpHandler { MaxConnectionsPerServer = 64, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        using var connector = new Connector(options.Addresses);

        for (var i = 0; i < server.Nodes.Count; i++)
        {
            output.WriteLine($"server: {server.Nodes[i]} pid {server.Pids[i]?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}, {options.Provider}");
        }

        if (server.Nodes.Count > 1)
        {
            output.WriteLine($"{server.Nodes.Count} nodes, placement {options.Placement}" + (options.Placement == "cross" ? ": the two users of every pair are on different nodes" : ": both users of a pair on one node"));
        }

        if (server.Settings.Count > 0)
        {
            output.WriteLine("server settings: " + string.Join(' ', server.Settings));
        }

        output.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
        Population? population = null;
        if (!options.LoginOnly)
        {
            population = await Population.LoadOrCreateAsync(Path.Combine(dataDir, "bench-users.json"), server.BaseUri, http, output);
            await population.EnsureAsync(server.BaseUri, http, options.UsersNeeded(), options.Phases.Contains("fanout") ? options.FanoutSizes : [], output, options.PairsNeeded());
        }

        var context = new BenchContext(server, population ?? new Population(), connector, http, options.Provider, output, options.Placement)
        {
            Xmpp = options.Transport == "xmpp" ? (xmppPort!.Value, options.XmppDomain, "bench password " + population!.Prefix) : null,
        };
        output.WriteLine($"transport: {options.Transport}" + (options.Transport == "xmpp" ? $" (XMPP c2s on port {xmppPort}, domain {options.XmppDomain})" : ""));

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
            await Run(() => server.Nodes.Count > 1 || options.ConnectUsers > options.SocketsPerProcess
                ? ConnectWorkers.ConnectAsync(context, options.ConnectUsers, TimeSpan.FromSeconds(5), options.SocketsPerProcess, options.Addresses, Path.Combine(dataDir, "bench-users.json"), cancellationToken)
                : Phases.ConnectAsync(context, options.ConnectUsers, TimeSpan.FromSeconds(5), cancellationToken));
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

        if (options.Phases.Contains("failover"))
        {
            var victim = (options.FailoverNode ?? server.Nodes.Count) - 1;
            if (victim < 0 || victim >= server.Nodes.Count)
            {
                throw new ArgumentException($"--failover-node must be 1-{server.Nodes.Count}");
            }

            await Run(() => FailoverPhase.RunAsync(context, options.LatUsers, options.LatRate, victim, options.Warmup, options.Measured, cancellationToken));
        }

        output.WriteLine();
        output.WriteLine(Table(results));
        return results;
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
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

        var split = results.Where(r => r.NodeCpuSeconds is not null || r.NodeConnections is not null || r.FailoverClients is not null).ToList();
        if (split.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("| phase | nodes | placement | server CPU s per node | connections per node | KiB/conn per node | killed node's devices | back s | caught up s (p50) |");
            text.AppendLine("|---|---:|---|---|---|---|---:|---:|---:|");
            foreach (var r in split)
            {
                static string Each<T>(T[]? values, Func<T, string> format) => values is null ? "-" : string.Join(" / ", values.Select(format));
                text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Phase} | {r.Nodes} | {r.Placement ?? "-"} | {Each(r.NodeCpuSeconds, v => F(v, "0.00"))} | {Each(r.NodeConnections, v => v.ToString(CultureInfo.InvariantCulture))} | {Each(r.NodeRssPerConnectionKiB, v => F(v, "0.00"))} | {r.FailoverClients?.ToString(CultureInfo.InvariantCulture) ?? "-"} | {F(r.FailoverBackSeconds, "0.000")} | {(r.FailoverCaughtUpSeconds is null ? "-" : $"{F(r.FailoverCaughtUpSeconds, "0.000")} ({F(r.FailoverCaughtUpP50Seconds, "0.000")})")} |");
            }
        }

        return text.ToString();
    }
}
