using System.Net;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

[Collection(UploadMemoryCollection.Name)]
public sealed class UploadMemoryTestsSqlite(SqliteFixture fixture) : UploadMemoryTests(fixture), IClassFixture<SqliteFixture>;

[Collection(UploadMemoryCollection.Name)]
public sealed class UploadMemoryTestsPostgres(PostgresFixture fixture) : UploadMemoryTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>Run alone: the test measures this process's managed heap, which tests running beside it would grow.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class UploadMemoryCollection
{
    public const string Name = "Upload memory";
}

/// <summary>An upload over the limit is refused as its bytes are counted, never held in memory.</summary>
public abstract class UploadMemoryTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task An_upload_over_100_MiB_is_refused_without_holding_it_in_memory()
    {
        var user = await Server.RegisterAsync();
        const long TooBig = (100L * 1024 * 1024) + 1;
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);

        // With a declared length it is refused up front; streamed (chunked) it is refused as the bytes are counted.
        await Server.Upload(user, new StreamContent(new GeneratedStream(TooBig)), "big.bin").ExpectProblem(HttpStatusCode.RequestEntityTooLarge, "too_large");
        var chunked = new StreamContent(new GeneratedStream(TooBig));
        using (var response = await Server.Upload(user, new ChunkedContent(chunked), "big.bin"))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(after - before < 32L * 1024 * 1024, $"managed memory grew by {(after - before) / (1024 * 1024)} MiB");
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(StoreDir, "uploads")));
    }

    private string StoreDir => Server.Service<Parley.Server.ParleyPaths>().DataDir;
}
