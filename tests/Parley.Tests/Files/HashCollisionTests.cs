using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Files;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

public sealed class HashCollisionTestsSqlite() : HashCollisionTests(Backend.Sqlite);

public sealed class HashCollisionTestsPostgres() : HashCollisionTests(Backend.Postgres);

public abstract class HashCollisionTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Two_different_files_with_a_forced_equal_hash_are_both_kept()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, services => services.AddSingleton<IContentHasher>(new ConstantHasher()));
        var user = await server.RegisterAsync();
        var first = await server.UploadAsync(user, "first file!"u8.ToArray(), "1.txt");
        var second = await server.UploadAsync(user, "other file!"u8.ToArray(), "2.txt"); // same length, same "hash"
        Assert.Equal((string?)first["sha256"], (string?)second["sha256"]);

        using (var one = await server.Download(user, $"/api/files/{first.Id()}"))
        {
            Assert.Equal("first file!"u8.ToArray(), await one.Content.ReadAsByteArrayAsync());
        }

        using (var two = await server.Download(user, $"/api/files/{second.Id()}"))
        {
            Assert.Equal("other file!"u8.ToArray(), await two.Content.ReadAsByteArrayAsync());
        }

        var blobs = Directory.EnumerateFiles(Path.Combine(store.DataDir, "blobs"), "*", SearchOption.AllDirectories).ToList();
        Assert.Equal(2, blobs.Count);

        // and a third upload equal to the second shares its blob
        var third = await server.UploadAsync(user, "other file!"u8.ToArray(), "3.txt");
        Assert.Equal(2, Directory.EnumerateFiles(Path.Combine(store.DataDir, "blobs"), "*", SearchOption.AllDirectories).Count());
        using var three = await server.Download(user, $"/api/files/{third.Id()}");
        Assert.Equal(HttpStatusCode.OK, three.StatusCode);
        Assert.Equal("other file!"u8.ToArray(), await three.Content.ReadAsByteArrayAsync());
    }

    /// <summary>Every content hashes to the same digest: a forced collision.</summary>
    private sealed class ConstantHasher : IContentHasher
    {
        public IContentHash Begin() => new Hash();

        private sealed class Hash : IContentHash
        {
            public void Append(ReadOnlySpan<byte> data)
            {
            }

            public string Finish() => new('0', 64);

            public void Dispose()
            {
            }
        }
    }
}
