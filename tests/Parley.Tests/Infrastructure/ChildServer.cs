using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Parley.Tests.Infrastructure;

/// <summary>
/// Parley as a separate process (the built Parley.Server.dll), so a test can kill it with SIGKILL mid-write
/// and start it again on the same data.
/// </summary>
public sealed class ChildServer : ApiHost, IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private ChildServer(Process process, Uri baseUri)
        : base(baseUri)
    {
        _process = process;
    }

    /// <summary>The server's process id (for /proc/&lt;pid&gt;/status and maps).</summary>
    public int ProcessId => _process.Id;

    /// <summary>Whether the server's process has ended (crashed, or was killed).</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>What the server has written to stdout and stderr so far, line by line.</summary>
    public IReadOnlyList<string> Output
    {
        get
        {
            lock (_output)
            {
                return [.. _output];
            }
        }
    }

    /// <summary>Starts the server on <paramref name="store"/>; <paramref name="extraArgs"/> come last and win.</summary>
    public static Task<ChildServer> StartAsync(TestStore store, params string[] extraArgs) => StartUntilAsync(store, "/health/ready", extraArgs);

    /// <summary>
    /// Starts the server and returns once <paramref name="readyPath"/> answers 200: <c>/health/live</c> for a server
    /// expected not to be ready (a cluster node whose Redis is not there yet).
    /// </summary>
    public static async Task<ChildServer> StartUntilAsync(TestStore store, string readyPath, params string[] extraArgs)
    {
        var port = FreePort();
        var dll = Path.Combine(AppContext.BaseDirectory, "Parley.Server.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var arg in store.Args)
        {
            start.ArgumentList.Add(arg);
        }

        start.ArgumentList.Add($"--urls=http://127.0.0.1:{port}");
        start.ArgumentList.Add("--Logging:LogLevel:Default=Warning");
        start.ArgumentList.Add("--Messaging:SendBurst=100000");
        start.ArgumentList.Add("--Messaging:SendRatePerSecond=100000");
        foreach (var arg in extraArgs)
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the server");
        var child = new ChildServer(process, new Uri($"http://127.0.0.1:{port}"));
        process.OutputDataReceived += (_, e) => child.Record(e.Data);
        process.ErrorDataReceived += (_, e) => child.Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var http = new HttpClient { BaseAddress = child.BaseUri, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the server exited with {process.ExitCode}");
            }

            try
            {
                using var ready = await http.GetAsync(readyPath);
                if (ready.StatusCode == HttpStatusCode.OK)
                {
                    return child;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }

            await Task.Delay(100); // the next look at /health/ready: a child process announces no readiness event
        }

        await child.DisposeAsync();
        throw new TimeoutException("the server did not become ready");
    }

    /// <summary>SIGTERM: the server's own graceful stop; true when the process exited within <paramref name="within"/>.</summary>
    public async Task<bool> TerminateAsync(TimeSpan within)
    {
        Cluster.Signals.Send(_process.Id, "TERM");
        try
        {
            await _process.WaitForExitAsync().WaitAsync(within);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
        Http.Dispose();
    }

    private void Record(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.Add(line);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
