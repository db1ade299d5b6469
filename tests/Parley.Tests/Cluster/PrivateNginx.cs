using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// Debian's nginx in front of a test's nodes, on the configuration scripts/cluster.sh generates (the one the try-out
/// runs), as a child process of the test (daemon off) in a private prefix directory. Dispose stops it (SIGTERM, then
/// SIGKILL of its process tree) and deletes the directory.
/// </summary>
public sealed class PrivateNginx : ApiHost, IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;

    private PrivateNginx(Process process, string dir, Uri baseUri)
        : base(baseUri)
    {
        _process = process;
        _dir = dir;
    }

    public static string? Binary => new[] { "/usr/sbin/nginx", "/usr/bin/nginx" }.FirstOrDefault(File.Exists);

    public const string NotInstalled = "nginx is not installed (Debian package nginx; scripts/deps.sh installs it)";

    public static async Task<PrivateNginx> StartAsync(IEnumerable<ApiHost> upstreams)
    {
        var nginx = Binary ?? throw new InvalidOperationException(NotInstalled);
        var dir = Path.Combine(Path.GetTempPath(), $"parley-nginx-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(dir);
        var port = FreePort();
        string[] args = ["nginx-conf", dir, $"127.0.0.1:{port}", .. upstreams.Select(u => u.BaseUri.Authority)];
        var conf = await ScriptRunner.RunAsync("cluster.sh", new Dictionary<string, string>(), TimeSpan.FromSeconds(30), args);
        var start = new ProcessStartInfo(nginx) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-p", dir, "-c", conf, "-g", "daemon off;" })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start nginx");
        var proxy = new PrivateNginx(process, dir, new Uri($"http://127.0.0.1:{port}"));
        try
        {
            // nginx announces nothing when it listens: its answer through to a node's readiness is the sign.
            await Poll.UntilAsync(
                async () =>
                {
                    Assert.False(process.HasExited, "nginx exited: " + await process.StandardError.ReadToEndAsync());
                    try
                    {
                        using var ready = await proxy.Http.GetAsync("/health/ready");
                        return ready.StatusCode == HttpStatusCode.OK;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                },
                "nginx in front of the nodes",
                TimeSpan.FromSeconds(30));
            return proxy;
        }
        catch
        {
            await proxy.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Signals.Send(_process.Id, "TERM"); // fast shutdown of the master and its workers
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }

        _process.Dispose();
        Http.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // a worker's temp file still open: the OS cleans /tmp
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
