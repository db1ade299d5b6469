using System.Diagnostics;
using System.Net.Sockets;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// A Redis of one test's own (scripts/redis.sh in a private directory, on a port of its own), which the test may stop,
/// start again on the same port and password, or freeze (SIGSTOP) and thaw. Dispose stops it and deletes its directory.
/// </summary>
public sealed class PrivateRedis : IAsyncDisposable
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(60);
    private readonly Dictionary<string, string> _environment;
    private readonly string _dir;

    private PrivateRedis(Dictionary<string, string> environment, string dir, string configuration)
    {
        _environment = environment;
        _dir = dir;
        Configuration = configuration;
        Port = int.Parse(configuration.Split(',')[0].Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The StackExchange.Redis configuration string (host:port,password=...).</summary>
    public string Configuration { get; }

    public int Port { get; }

    public static async Task<PrivateRedis> StartAsync(string name, int preferredPort)
    {
        var dir = Path.Combine("/tmp", $"parley-redis-{name}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        var environment = new Dictionary<string, string> { ["PARLEY_REDIS_DIR"] = dir, ["PARLEY_REDIS_PORT"] = preferredPort.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        try
        {
            return new PrivateRedis(environment, dir, await ScriptRunner.RunAsync("redis.sh", environment, ScriptTimeout, "start"));
        }
        catch
        {
            await ScriptRunner.RunAsync("redis.sh", environment, ScriptTimeout, "stop");
            throw;
        }
    }

    public async Task<int> PidAsync() => int.Parse(await ScriptRunner.RunAsync("redis.sh", _environment, ScriptTimeout, "pid"), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>SIGTERM, and waits until the process is gone (nothing is kept: the bus starts empty again).</summary>
    public async Task StopServerAsync()
    {
        var pid = await PidAsync();
        Signals.Send(pid, "TERM");
        // A daemon that is not our child: its /proc entry going away is the only sign of its end.
        await Poll.UntilAsync(() => !Directory.Exists($"/proc/{pid}"), "redis-server gone", TimeSpan.FromSeconds(30));
    }

    /// <summary>The same server again: the config redis.sh wrote (same port, same password).</summary>
    public async Task StartServerAsync()
    {
        var start = new ProcessStartInfo("redis-server") { UseShellExecute = false, WorkingDirectory = _dir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(_dir, "redis.conf"));
        using (var process = Process.Start(start) ?? throw new InvalidOperationException("could not start redis-server"))
        {
            await process.WaitForExitAsync().WaitAsync(ScriptTimeout); // it daemonizes
        }

        // Listening is the only sign a daemonized redis-server gives.
        await Poll.UntilAsync(
            async () =>
            {
                try
                {
                    using var client = new TcpClient();
                    await client.ConnectAsync("127.0.0.1", Port);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            },
            "redis-server listening again",
            TimeSpan.FromSeconds(30));
    }

    public async Task FreezeAsync() => Signals.Send(await PidAsync(), "STOP");

    public async Task ThawAsync() => Signals.Send(await PidAsync(), "CONT");

    public async ValueTask DisposeAsync() => await ScriptRunner.RunAsync("redis.sh", _environment, ScriptTimeout, "stop"); // thaws a frozen one first
}
