using Parley.Bench;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Bench;

[Collection(BenchCollection.Name)]
public sealed class BenchTestsSqlite() : BenchTests(Backend.Sqlite);

[Collection(BenchCollection.Name)]
public sealed class BenchTestsPostgres() : BenchTests(Backend.Postgres);

/// <summary>The bench saturates the machine on purpose: it runs alone, not beside tests that wait with timeouts.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BenchCollection
{
    public const string Name = "bench (runs alone)";
}

/// <summary>
/// A short run of every benchmark phase against a real server process, as a correctness check: every
/// acknowledged message reaches every intended device exactly once. No timing is asserted.
/// </summary>
public abstract class BenchTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task A_quick_run_of_every_phase_delivers_every_message_exactly_once()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var options = BenchOptions.Parse(["--quick", "--data", store.DataDir, "--provider", Backend == Backend.Sqlite ? "sqlite" : "postgres"]);
        options.Connection = store.ConnectionString;
        var output = new StringWriter();

        var results = await BenchRunner.RunAsync(options, output, TestContext.Current.CancellationToken);

        Assert.Equal(["connect", "thru", "lat", "fanout20"], results.Select(r => r.Phase));
        var connect = results[0];
        Assert.Equal(200, connect.Users);
        Assert.Equal(0, connect.Errors);
        foreach (var phase in results.Skip(1))
        {
            Assert.True(phase.Sent > 0, $"{phase.Phase}: nothing was sent\n{output}");
            Assert.True(phase.Delivered > 0, $"{phase.Phase}: nothing was delivered\n{output}");
            Assert.Equal(0, phase.Lost);
            Assert.Equal(0, phase.Duplicated);
            Assert.Equal(0, phase.Errors);
            Assert.True(phase.ServerAllocatedBytesPerMessage > 0, $"{phase.Phase}: no allocation figure read from /metrics\n{output}");
        }

        // fanout: every message reached all 19 other members
        Assert.Equal(results[3].Sent * 19, results[3].Delivered);
        Assert.Contains("| thru |", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_quick_xmpp_run_of_thru_and_lat_delivers_every_message_exactly_once()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var options = BenchOptions.Parse(["--quick", "--transport", "xmpp", "--phases", "thru,lat", "--data", store.DataDir, "--provider", Backend == Backend.Sqlite ? "sqlite" : "postgres"]);
        options.Connection = store.ConnectionString;
        var output = new StringWriter();

        var results = await BenchRunner.RunAsync(options, output, TestContext.Current.CancellationToken);

        Assert.Equal(["thru", "lat"], results.Select(r => r.Phase));
        Assert.Contains("transport: xmpp", output.ToString(), StringComparison.Ordinal);
        foreach (var phase in results)
        {
            Assert.True(phase.Sent > 0, $"{phase.Phase}: nothing was sent\n{output}");
            Assert.Equal(phase.Sent, phase.Delivered);
            Assert.Equal(0, phase.Lost);
            Assert.Equal(0, phase.Duplicated);
            Assert.Equal(0, phase.Errors);
        }
    }

    [Fact]
    public async Task A_quick_login_run_logs_in_at_the_servers_default_password_hashing()
    {
        Assert.Throws<ArgumentException>(() => BenchOptions.Parse(["--phases", "login,thru"]));
        await using var store = await TestStore.CreateAsync(Backend);
        var options = BenchOptions.Parse(["--phases", "login", "--login-users", "10", "--login-clients", "10", "--warmup", "0.2", "--seconds", "5", "--data", store.DataDir, "--provider", Backend == Backend.Sqlite ? "sqlite" : "postgres"]);
        options.Connection = store.ConnectionString;
        var output = new StringWriter();

        var results = await BenchRunner.RunAsync(options, output, TestContext.Current.CancellationToken);

        var login = Assert.Single(results);
        Assert.Equal("login", login.Phase);
        Assert.True(login.Logins > 0, output.ToString());
        Assert.Equal(0, login.Errors);
        Assert.True(login.ServerPeakRssBytes > 0);
        Assert.DoesNotContain("AllowWeakPasswordHashes", output.ToString(), StringComparison.Ordinal); // measured at the defaults
        Assert.Contains("| login |", output.ToString(), StringComparison.Ordinal);
    }
}

/// <summary>How the load tool reads the server's /metrics.</summary>
public sealed class MetricsParsingTests
{
    [Theory]
    [InlineData("dotnet_gc_collections_total 7", 7.0)]
    [InlineData("dotnet_gc_collections_total{} 7", 7.0)]
    [InlineData("dotnet_gc_collections_total{gc_heap_generation=\"gen0\"} 7.5", 7.5)]
    [InlineData("dotnet_gc_collections_total{gc_heap_generation=\"gen0\"} 7 1733050000000", 7.0)]
    [InlineData("dotnet_gc_collections_total_other 7", null)]
    [InlineData("# TYPE dotnet_gc_collections_total counter", null)]
    public void A_sample_value_is_read_with_or_without_labels_and_timestamp(string line, double? expected) =>
        Assert.Equal(expected, ServerProcess.SampleValue(line, "dotnet_gc_collections_total"));
}
