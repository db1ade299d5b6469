using System.Diagnostics;
using System.Net;
using System.Text;
using Parley.Client;

namespace Parley.Bench;

/// <summary>
/// login: registers <c>users</c> new users (at the server's own password-hash settings), then <c>clients</c> clients
/// log in as them over and over (a closed loop; a 503 is waited out for its Retry-After, as a client should).
/// Reports logins per second, 503s, login latency and the server's peak RSS over the run (VmHWM, reset before it
/// where the kernel allows).
/// </summary>
public static class LoginPhase
{
    public static async Task<PhaseResult> RunAsync(BenchContext context, int users, int clients, TimeSpan warmup, TimeSpan measured, CancellationToken cancellationToken)
    {
        var server = context.Server;
        var prefix = "l" + Guid.NewGuid().ToString("N")[..6];
        var password = "bench password " + prefix;
        // Every client has a connection of its own, so the tool does not queue logins that the server should see at once.
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = clients + 16, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        using var http = new HttpClient(handler) { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(60) };

        context.Log.WriteLine($"login: registering {users} users");
        await Parallel.ForEachAsync(Enumerable.Range(0, users), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            using var client = new ParleyClient(server.BaseUri, handler);
            while (true)
            {
                try
                {
                    await client.RegisterAsync($"{prefix}_{i}", password, device: "bench", cancellationToken: ct);
                    return;
                }
                catch (ParleyApiException e) when (e.Status == HttpStatusCode.ServiceUnavailable)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                }
            }
        });

        var rssBefore = server.Rss();
        var peakReset = server.ResetPeakRss();
        var window = new Window(warmup, measured);
        var latencies = new Latencies();
        long ok = 0, unavailable = 0, errors = 0;
        string? firstError = null;
        var stopping = false;
        Task[] loops = [];
        var cpu = await window.RunAsync(server, () =>
        {
            loops = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
            {
                for (var n = 0; !Volatile.Read(ref stopping); n++)
                {
                    var user = ((n * clients) + c) % users;
                    using var body = new StringContent($$"""{"username":"{{prefix}}_{{user}}","password":"{{password}}","device":"bench login"}""", Encoding.UTF8, "application/json");
                    var started = Stopwatch.GetTimestamp();
                    TimeSpan? retryAfter = null;
                    try
                    {
                        using var response = await http.PostAsync("/api/auth/login", body, cancellationToken);
                        var ended = Stopwatch.GetTimestamp();
                        if (!window.Contains(ended))
                        {
                            retryAfter = response.StatusCode == HttpStatusCode.ServiceUnavailable ? response.Headers.RetryAfter?.Delta : null;
                        }
                        else if (response.StatusCode == HttpStatusCode.OK)
                        {
                            Interlocked.Increment(ref ok);
                            latencies.Add(ended - started);
                        }
                        else if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                        {
                            Interlocked.Increment(ref unavailable);
                            retryAfter = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
                        }
                        else
                        {
                            Interlocked.Increment(ref errors);
                            Interlocked.CompareExchange(ref firstError, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}", null);
                        }
                    }
                    catch (HttpRequestException e)
                    {
                        Interlocked.Increment(ref errors);
                        Interlocked.CompareExchange(ref firstError, e.Message, null);
                    }

                    if (retryAfter is { } wait && !Volatile.Read(ref stopping))
                    {
                        await Task.Delay(wait, cancellationToken);
                    }
                }
            }, cancellationToken)).ToArray();
        }, () => Volatile.Write(ref stopping, true), cancellationToken);
        await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(120), cancellationToken);

        var percentiles = latencies.Percentiles();
        var seconds = window.Measured.TotalSeconds;
        var notes = new List<string> { $"{clients} clients, closed loop" };
        if (!peakReset)
        {
            notes.Add("peak RSS since server start (could not reset VmHWM)");
        }

        if (firstError is not null)
        {
            notes.Add("first error: " + firstError[..Math.Min(200, firstError.Length)]);
        }

        return new PhaseResult
        {
            Phase = "login",
            Provider = context.Provider,
            Users = users,
            InFlight = clients,
            Seconds = seconds,
            Logins = ok,
            LoginsPerSecond = ok / seconds,
            Unavailable = unavailable,
            LatencyP50Ms = percentiles?.P50,
            LatencyP90Ms = percentiles?.P90,
            LatencyP99Ms = percentiles?.P99,
            LatencyMaxMs = percentiles?.Max,
            Errors = errors,
            ServerCpuSeconds = cpu.Server,
            ToolCpuSeconds = cpu.Tool,
            ServerRssBeforeBytes = rssBefore,
            ServerRssAfterBytes = server.Rss(),
            ServerPeakRssBytes = server.PeakRss(),
            Note = string.Join("; ", notes),
        };
    }
}
