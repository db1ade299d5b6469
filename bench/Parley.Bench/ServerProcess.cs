using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Parley.Bench;

/// <summary>
/// The server under test: one the tool started (a child process it can measure and stop), or the running nodes it
/// targets by URL and PID (one, or several of one cluster: CPU and RSS are then the nodes' sums, and per node).
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process? _child;

    private ServerProcess(IReadOnlyList<Uri> nodes, IReadOnlyList<int?> pids, Process? child, IReadOnlyList<string> settings)
    {
        Nodes = nodes;
        Pids = pids;
        _child = child;
        Settings = settings;
    }

    /// <summary>The first node: HTTP calls (preparing users, refreshing tokens) go there.</summary>
    public Uri BaseUri => Nodes[0];

    /// <summary>The first node's process id when known (RSS and CPU are read from /proc).</summary>
    public int? Pid => Pids[0];

    /// <summary>Every node's URL (one when the tool started the server).</summary>
    public IReadOnlyList<Uri> Nodes { get; }

    /// <summary>Every node's process id, in the order of <see cref="Nodes"/>; null where unknown.</summary>
    public IReadOnlyList<int?> Pids { get; }

    /// <summary>The node user <paramref name="index"/> connects to: <c>cross</c> i mod N (a pair's users on different nodes), <c>local</c> pair mod N.</summary>
    public int NodeOf(int index, string placement) => placement == "local" ? index / 2 % Nodes.Count : index % Nodes.Count;

    /// <summary>The command-line settings the tool started the server with.</summary>
    public IReadOnlyList<string> Settings { get; }

    /// <summary>The guards a benchmark raises (defaults stay safe for everyone else), and long-lived tokens so prepared users are reused.</summary>
    public static readonly string[] BenchSettings =
    [
        "--Messaging:SendRatePerSecond=1000000",
        "--Messaging:SendBurst=1000000",
        "--Realtime:FramesPerSecond=1000000",
        "--Realtime:FrameBurst=1000000",
        "--Auth:RegistrationsPerAddress=1000000",
        "--Auth:LoginFailuresPerAddress=1000000",
        "--Auth:AccessTokenMinutes=1440",
        "--Logging:LogLevel:Default=Warning",
    ];

    /// <summary>
    /// Cheap password hashes, so that preparing thousands of users does not take minutes; every phase but login runs
    /// with them (none of those hashes a password). The login phase keeps the server's defaults: it measures them.
    /// </summary>
    public static readonly string[] CheapPasswordHashes =
    [
        "--Auth:Argon2MemoryKiB=64",
        "--Auth:Argon2Iterations=1",
        "--Auth:AllowWeakPasswordHashes=true",
    ];

    public static ServerProcess Target(Uri baseUri, int? pid) => new([baseUri], [pid], null, []);

    /// <summary>Running nodes of one cluster; <paramref name="pids"/> empty or one per node.</summary>
    public static ServerProcess Target(IReadOnlyList<Uri> nodes, IReadOnlyList<int> pids) =>
        new(nodes, pids.Count == nodes.Count ? pids.Select(p => (int?)p).ToList() : nodes.Select(_ => (int?)null).ToList(), null, []);

    /// <summary>Starts Parley.Server.dll (next to this tool) on a free port with the bench settings.</summary>
    public static async Task<ServerProcess> StartAsync(string provider, string dataDir, string? connectionString, IEnumerable<string> extra, TextWriter log, bool cheapPasswordHashes = true)
    {
        var port = FreePort();
        var settings = new List<string>(BenchSettings);
        if (cheapPasswordHashes)
        {
            settings.AddRange(CheapPasswordHashes);
        }

        settings.AddRange(new[]
        {
            $"--urls=http://127.0.0.1:{port}",
            $"--DataDir={dataDir}",
            $"--Storage:Provider={provider}",
        });
        if (connectionString is not null)
        {
            settings.Add($"--Storage:ConnectionString={connectionString}");
        }

        settings.AddRange(extra);
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Parley.Server.dll"));
        foreach (var setting in settings)
        {
            start.ArgumentList.Add(setting);
        }

        var child = Process.Start(start) ?? throw new InvalidOperationException("could not start the server");
        child.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 }) { log.WriteLine("server: " + e.Data); } };
        child.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 }) { log.WriteLine("server: " + e.Data); } };
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();

        var server = new ServerProcess([new Uri($"http://127.0.0.1:{port}")], [child.Id], child, settings.Where(s => !s.StartsWith("--Storage:ConnectionString", StringComparison.Ordinal)).ToList());
        using var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            if (child.HasExited)
            {
                throw new InvalidOperationException($"the server exited with {child.ExitCode}");
            }

            try
            {
                using var ready = await http.GetAsync("/health/ready");
                if (ready.StatusCode == HttpStatusCode.OK)
                {
                    return server;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not yet
            }

            await Task.Delay(200);
        }

        await server.DisposeAsync();
        throw new TimeoutException("the server did not become ready in 120 s");
    }

    /// <summary>The server's managed allocations and garbage collections so far, from its <c>/metrics</c> (System.Runtime meter); null when unavailable.</summary>
    public async Task<(double AllocatedBytes, double Collections)?> GcAsync()
    {
        double allocated = 0, collections = 0;
        foreach (var node in Nodes)
        {
            if (await GcAsync(node) is not { } one)
            {
                return null;
            }

            allocated += one.AllocatedBytes;
            collections += one.Collections;
        }

        return (allocated, collections);
    }

    private static async Task<(double AllocatedBytes, double Collections)?> GcAsync(Uri node)
    {
        try
        {
            using var http = new HttpClient { BaseAddress = node, Timeout = TimeSpan.FromSeconds(10) };
            var text = await http.GetStringAsync("/metrics");
            double allocated = 0, collections = 0;
            foreach (var line in text.Split('\n'))
            {
                if (SampleValue(line, "dotnet_gc_heap_total_allocated_bytes_total") is { } bytes)
                {
                    allocated += bytes;
                }
                else if (SampleValue(line, "dotnet_gc_collections_total") is { } count)
                {
                    collections += count; // one series per generation
                }
            }

            return allocated > 0 ? (allocated, collections) : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// The value of a Prometheus text sample of <paramref name="metric"/> (<c>name 1</c>, <c>name{} 1</c>,
    /// <c>name{a="b"} 1</c>, optionally followed by a timestamp); null for other lines.
    /// </summary>
    public static double? SampleValue(string line, string metric)
    {
        if (!line.StartsWith(metric, StringComparison.Ordinal) || line.Length == metric.Length || line[metric.Length] is not (' ' or '{'))
        {
            return null;
        }

        var rest = line.AsSpan(metric.Length);
        if (rest[0] == '{')
        {
            var close = rest.LastIndexOf('}');
            if (close < 0)
            {
                return null;
            }

            rest = rest[(close + 1)..];
        }

        rest = rest.Trim();
        var space = rest.IndexOf(' ');
        return double.Parse(space < 0 ? rest : rest[..space], CultureInfo.InvariantCulture);
    }

    /// <summary>Resident set size in bytes (VmRSS; the nodes' sum), or null without every PID.</summary>
    public long? Rss() => Sum(pid => ProcStat.RssBytes(pid));

    /// <summary>Peak resident set size in bytes (VmHWM) since start or the last <see cref="ResetPeakRss"/>, or null without a PID.</summary>
    public long? PeakRss() => Sum(pid => ProcStat.PeakRssBytes(pid));

    /// <summary>Starts a new peak RSS measurement (Linux: writing 5 to /proc/PID/clear_refs); false when not possible.</summary>
    public bool ResetPeakRss() => Pids.All(p => p is { } pid && ProcStat.ResetPeakRss(pid));

    /// <summary>CPU seconds used so far (user + system; the nodes' sum), or null without every PID.</summary>
    public double? CpuSeconds() => NodeCpuSeconds() is { } each ? each.Sum() : null;

    /// <summary>Each node's CPU seconds so far, or null without every PID.</summary>
    public double[]? NodeCpuSeconds()
    {
        var each = new double[Pids.Count];
        for (var i = 0; i < each.Length; i++)
        {
            if (Pids[i] is not { } pid || ProcStat.CpuSeconds(pid) is not { } cpu)
            {
                return null;
            }

            each[i] = cpu;
        }

        return each;
    }

    /// <summary>Each node's RSS in bytes, or null without every PID.</summary>
    public long[]? NodeRss()
    {
        var each = new long[Pids.Count];
        for (var i = 0; i < each.Length; i++)
        {
            if (Pids[i] is not { } pid || ProcStat.RssBytes(pid) is not { } rss)
            {
                return null;
            }

            each[i] = rss;
        }

        return each;
    }

    private long? Sum(Func<int, long?> read)
    {
        long total = 0;
        foreach (var p in Pids)
        {
            if (p is not { } pid || read(pid) is not { } value)
            {
                return null;
            }

            total += value;
        }

        return total;
    }

    public async ValueTask DisposeAsync()
    {
        if (_child is { HasExited: false })
        {
            _child.Kill(entireProcessTree: true);
            await _child.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }

        _child?.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Reads a process's memory and CPU from /proc (Linux).</summary>
public static class ProcStat
{
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux

    public static long? RssBytes(int pid) => StatusBytes(pid, "VmRSS:");

    public static long? PeakRssBytes(int pid) => StatusBytes(pid, "VmHWM:");

    public static bool ResetPeakRss(int pid)
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long? StatusBytes(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    var kb = long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                    return kb * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    public static double? CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // after "pid (comm) ": state is field 0, utime field 11, stime field 12
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public static double SelfCpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
}
