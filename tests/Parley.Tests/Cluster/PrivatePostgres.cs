namespace Parley.Tests.Cluster;

/// <summary>
/// A PostgreSQL server of one test class's own, started by scripts/postgres.sh in a directory and on a port no other
/// run uses, so the test may stop and start it under running nodes. Dispose stops it and deletes its directory.
/// </summary>
public sealed class PrivatePostgres : IAsyncDisposable
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(90);
    private readonly Dictionary<string, string> _environment;

    private PrivatePostgres(Dictionary<string, string> environment, string adminConnectionString)
    {
        _environment = environment;
        AdminConnectionString = adminConnectionString;
    }

    public string AdminConnectionString { get; }

    public static async Task<PrivatePostgres> StartAsync(string name, int preferredPort)
    {
        var environment = new Dictionary<string, string>
        {
            ["PARLEY_PG_DIR"] = Path.Combine("/tmp", $"parley-pg-{name}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}"),
            ["PARLEY_PG_PORT"] = preferredPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        try
        {
            return new PrivatePostgres(environment, await ScriptRunner.RunAsync("postgres.sh", environment, ScriptTimeout, "start"));
        }
        catch
        {
            await ScriptRunner.RunAsync("postgres.sh", environment, ScriptTimeout, "stop");
            throw;
        }
    }

    /// <summary>
    /// Fast shutdown: every session is disconnected and open transactions roll back; or immediate: the server quits at
    /// once, as in a crash, and recovers from its WAL on the next start. The data stays.
    /// </summary>
    public Task StopServerAsync(bool immediate = false) => ScriptRunner.RunAsync("postgres.sh", _environment, ScriptTimeout, "restart-stop", immediate ? "immediate" : "fast");

    /// <summary>The same server again, on the same data and port.</summary>
    public Task StartServerAsync() => ScriptRunner.RunAsync("postgres.sh", _environment, ScriptTimeout, "restart-start");

    public async ValueTask DisposeAsync() => await ScriptRunner.RunAsync("postgres.sh", _environment, ScriptTimeout, "stop");
}
