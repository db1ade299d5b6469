using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Parley.Client;

namespace Parley.Bench;

/// <summary>
/// The connect phase beyond one process's open files (20,000 here, for the tool as for each node): worker processes of
/// this tool, each holding the sockets of one slice of one node's users from source addresses of its own, while this
/// process measures the nodes. A worker speaks one line at a time on stdout (<c>connected N seconds</c>, <c>open N</c>,
/// <c>closed</c>) and takes <c>count</c> and <c>close</c> on stdin.
/// </summary>
public static class ConnectWorkers
{
    public const string Flag = "--connect-worker";

    /// <summary>connect spread over nodes and worker processes.</summary>
    public static async Task<PhaseResult> ConnectAsync(BenchContext context, int users, TimeSpan settle, int socketsPerProcess, int addresses, string populationPath, CancellationToken cancellationToken)
    {
        var server = context.Server;
        // Fresh tokens for every user first (refreshed ones are saved), so the workers only read them.
        for (var i = 0; i < users; i++)
        {
            using var client = context.Population.Client(server.BaseUri, context.Http, i);
            await client.AccessTokenAsync(cancellationToken);
        }

        await context.Population.SaveAsync();

        var slices = Enumerable.Range(0, users)
            .GroupBy(i => server.NodeOf(i, context.Placement))
            .OrderBy(g => g.Key)
            .SelectMany(g => g.Chunk(socketsPerProcess).Select(chunk => (Node: g.Key, Indices: chunk)))
            .ToList();
        if ((slices.Count * addresses) + 2 > 252)
        {
            throw new ArgumentException($"{slices.Count} workers x {addresses} source addresses do not fit in 127.0.0.2-127.0.0.253; use fewer --addresses");
        }

        context.Log.WriteLine($"connect: {users} users over {server.Nodes.Count} nodes in {slices.Count} worker processes (at most {socketsPerProcess} sockets each, {addresses} source addresses each)");
        var rssBefore = server.NodeRss();
        var cpu = CpuMeter.Start(server);
        var workers = new List<Worker>();
        try
        {
            for (var w = 0; w < slices.Count; w++)
            {
                workers.Add(Worker.Start(populationPath, slices[w].Indices, server.Nodes[slices[w].Node], addresses, w * addresses, context.Log));
            }

            var started = Stopwatch.GetTimestamp();
            var connected = await Task.WhenAll(workers.Select(w => w.ReadAsync("connected", TimeSpan.FromMinutes(15))));
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            await Task.Delay(settle, cancellationToken);

            var open = new int[workers.Count];
            for (var w = 0; w < workers.Count; w++)
            {
                await workers[w].WriteAsync("count");
                open[w] = int.Parse((await workers[w].ReadAsync("open", TimeSpan.FromMinutes(1)))[0], CultureInfo.InvariantCulture);
            }

            var rssAfter = server.NodeRss();
            var (serverCpu, toolCpu) = cpu.Stop();
            var perNode = new int[server.Nodes.Count];
            for (var w = 0; w < workers.Count; w++)
            {
                perNode[slices[w].Node] += open[w];
            }

            var total = open.Sum();
            return new PhaseResult
            {
                Phase = "connect",
                Provider = context.Provider,
                Users = total,
                Seconds = seconds,
                ConnectPerSecond = users / seconds,
                ServerRssBeforeBytes = rssBefore?.Sum(),
                ServerRssAfterBytes = rssAfter?.Sum(),
                RssPerConnectionKiB = rssBefore is not null && rssAfter is not null && total > 0 ? (rssAfter.Sum() - rssBefore.Sum()) / 1024.0 / total : null,
                ServerCpuSeconds = serverCpu,
                ToolCpuSeconds = toolCpu + connected.Sum(c => double.Parse(c[1], CultureInfo.InvariantCulture)),
                Errors = users - total,
                Nodes = server.Nodes.Count,
                Placement = server.Nodes.Count > 1 ? context.Placement : null,
                NodeCpuSeconds = server.Nodes.Count > 1 ? cpu.PerNode : null,
                NodeConnections = perNode,
                NodeRssPerConnectionKiB = rssBefore is not null && rssAfter is not null
                    ? perNode.Select((n, i) => n > 0 ? (rssAfter[i] - rssBefore[i]) / 1024.0 / n : 0).ToArray()
                    : null,
                Note = $"{workers.Count} worker processes; slowest worker connected its slice in {connected.Max(c => double.Parse(c[0], CultureInfo.InvariantCulture)):0.0} s",
            };
        }
        finally
        {
            await Task.WhenAll(workers.Select(w => w.StopAsync()));
        }
    }

    /// <summary>The worker's side: <c>--connect-worker --population FILE --indices FILE --server URL --addresses A --first-address F</c>.</summary>
    public static async Task<int> RunWorkerAsync(string[] args)
    {
        string Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? throw new ArgumentException($"{Flag} needs {name}");
        var population = JsonSerializer.Deserialize(await File.ReadAllTextAsync(Arg("--population")), BenchJson.Default.Population)!;
        var indices = JsonSerializer.Deserialize<int[]>(await File.ReadAllTextAsync(Arg("--indices")))!;
        var server = new Uri(Arg("--server"));
        using var connector = new Connector(int.Parse(Arg("--addresses"), CultureInfo.InvariantCulture), int.Parse(Arg("--first-address"), CultureInfo.InvariantCulture));
        var tokens = indices.Select(i => (i, population.Users[i].Tokens.AccessToken)).ToList();
        var started = Stopwatch.GetTimestamp();
        ParleySocket[] sockets;
        try
        {
            sockets = await connector.ConnectManyAsync(server, tokens, _ => null, concurrency: 64, CancellationToken.None);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"worker: connecting failed: {e.GetType().Name}: {e.Message}");
            return 1;
        }

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"connected {seconds:0.000} {ProcStat.SelfCpuSeconds():0.000}"));
        while (await Console.In.ReadLineAsync() is { } command)
        {
            if (command == "count")
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"open {sockets.Count(s => s.IsOpen)}"));
            }
            else if (command == "close")
            {
                break;
            }
        }

        await Connector.CloseAllAsync(sockets);
        Console.WriteLine("closed");
        return 0;
    }

    /// <summary>One worker process, as its parent sees it.</summary>
    private sealed class Worker(Process process, string indicesFile)
    {
        public static Worker Start(string populationPath, int[] indices, Uri server, int addresses, int firstAddress, TextWriter log)
        {
            var indicesFile = Path.Combine(Path.GetTempPath(), $"parley-bench-{Environment.ProcessId}-{firstAddress}.json");
            File.WriteAllText(indicesFile, JsonSerializer.Serialize(indices));
            var self = Environment.ProcessPath ?? "dotnet";
            var start = new ProcessStartInfo(self)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                start.ArgumentList.Add(typeof(ConnectWorkers).Assembly.Location);
            }

            foreach (var arg in new[] { Flag, "--population", populationPath, "--indices", indicesFile, "--server", server.ToString(), "--addresses", addresses.ToString(CultureInfo.InvariantCulture), "--first-address", firstAddress.ToString(CultureInfo.InvariantCulture) })
            {
                start.ArgumentList.Add(arg);
            }

            var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a connect worker");
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is { Length: > 0 })
                {
                    log.WriteLine($"worker {firstAddress / Math.Max(1, addresses)}: {e.Data}");
                }
            };
            process.BeginErrorReadLine();
            return new Worker(process, indicesFile);
        }

        /// <summary>The worker's next line, which must start with <paramref name="word"/>; the words after it.</summary>
        public async Task<string[]> ReadAsync(string word, TimeSpan timeout)
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(timeout)
                ?? throw new InvalidOperationException($"a connect worker ended (exit {(process.HasExited ? process.ExitCode : -1)}) before '{word}'");
            var parts = line.Split(' ');
            return parts[0] == word ? parts[1..] : throw new InvalidOperationException($"a connect worker said '{line}', expected '{word}'");
        }

        public async Task WriteAsync(string command)
        {
            await process.StandardInput.WriteLineAsync(command);
            await process.StandardInput.FlushAsync();
        }

        public async Task StopAsync()
        {
            try
            {
                if (!process.HasExited)
                {
                    await WriteAsync("close");
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
                }
            }
            catch (Exception e) when (e is IOException or TimeoutException or InvalidOperationException)
            {
                // it does not answer: killed below
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                process.Dispose();
                File.Delete(indicesFile);
            }
        }
    }
}
