using System.Net;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Storage;

public sealed class FilePermissionsTestsSqlite() : FilePermissionsTests(Backend.Sqlite);

public sealed class FilePermissionsTestsPostgres() : FilePermissionsTests(Backend.Postgres);

/// <summary>Everything a server creates under DataDir is its own account's alone: files 0600, directories 0700.</summary>
public abstract class FilePermissionsTests(Backend backend) : OwnServerTests(backend)
{
    private const UnixFileMode OthersOrGroup =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    [Fact]
    public async Task The_database_its_wal_keys_uploads_and_blobs_are_created_0600_and_0700()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "Unix file modes only");
        await using var store = await TestStore.CreateAsync(Backend);

        // A DataDir two levels below one that exists: the server makes both.
        var dataDir = Path.Combine(store.DataDir, "outer", "data");
        await using (var server = await ParleyServer.StartAsync(store, null, $"--DataDir={dataDir}", "--Files:ProcessingWaitSeconds=600"))
        {
            var (user, _, conversation) = await server.FriendsWithConversationAsync();
            var image = await server.UploadAsync(user, TestImages.Png(200, 100), "p.png");
            Assert.True((bool)image["hasThumbnail"]!);
            await server.UploadAsync(user, "some text"u8.ToArray(), "a.txt");
            await server.SendTextAsync(user, conversation, "hello");

            var files = Directory.EnumerateFiles(dataDir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dataDir, f)).ToList();
            var expected = new List<string> { Path.Combine("keys", "jwt-signing.key") };
            if (Backend == Backend.Sqlite)
            {
                expected.AddRange(["parley.db", "parley.db-wal", "parley.db-shm"]);
            }

            Assert.All(expected, f => Assert.Contains(f, files));
            Assert.Contains(files, f => f.StartsWith("blobs" + Path.DirectorySeparatorChar, StringComparison.Ordinal));
            Assert.Equal(3, files.Count(f => f.StartsWith("blobs" + Path.DirectorySeparatorChar, StringComparison.Ordinal))); // two uploads and a thumbnail
            Assert.Contains(files, f => f.StartsWith(Path.Combine("keys", "data-protection"), StringComparison.Ordinal));

            var open = files.Select(f => (Path: f, Mode: ModeOf(Path.Combine(dataDir, f)))).Where(f => (f.Mode & OthersOrGroup) != 0).ToList();
            Assert.True(open.Count == 0, "readable by others: " + string.Join(", ", open.Select(f => $"{f.Path} {Octal(f.Mode)}")));

            var directories = Directory.EnumerateDirectories(dataDir, "*", SearchOption.AllDirectories).Append(dataDir).Append(Path.GetDirectoryName(dataDir)!).ToList();
            Assert.Contains(Path.Combine(dataDir, "uploads"), directories);
            var wide = directories.Select(d => (Path: d, Mode: ModeOf(d))).Where(d => d.Mode != PrivateDirectory).ToList();
            Assert.True(wide.Count == 0, "directories not 0700: " + string.Join(", ", wide.Select(d => $"{d.Path} {Octal(d.Mode)}")));
        }
    }

    private const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private static UnixFileMode ModeOf(string path) => OperatingSystem.IsWindows() ? throw new PlatformNotSupportedException() : File.GetUnixFileMode(path);

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8);
}
