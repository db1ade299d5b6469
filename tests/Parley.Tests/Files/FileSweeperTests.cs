using System.Net;
using System.Text.Json.Nodes;
using Parley.Server.Files;
using Parley.Storage.Files;
using Parley.Storage.Migrations;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

public sealed class FileSweeperTestsSqlite() : FileSweeperTests(Backend.Sqlite);

public sealed class FileSweeperTestsPostgres() : FileSweeperTests(Backend.Postgres);

/// <summary>Unused uploads and unreferenced blobs go; everything something references stays.</summary>
public abstract class FileSweeperTests(Backend backend) : OwnServerTests(backend)
{
    // These tests move the clock by days; the access tokens they use must outlive that.
    private const string LongTokens = "--Auth:AccessTokenMinutes=10000000";

    [Fact]
    public async Task Unused_uploads_go_after_their_time_and_referenced_ones_stay()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, LongTokens, "--Files:UnusedFileDays=7");
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();

        var unused = await server.UploadAsync(a, Bytes("nobody uses me"), "unused.txt");
        var sent = await server.UploadAsync(a, Bytes("sent in a message"), "sent.txt");
        var avatar = await server.UploadAsync(a, TestImages.Png(32, 32), "me.png");
        var groupAvatar = await server.UploadAsync(a, TestImages.Png(48, 24), "group.png");
        var shared = Bytes("the same bytes twice");
        var sharedSent = await server.UploadAsync(a, shared, "shared-1.txt");
        var sharedUnused = await server.UploadAsync(b, shared, "shared-2.txt");

        await SendFileAsync(server, a, conversationId, sent);
        await SendFileAsync(server, a, conversationId, sharedSent);
        await server.Patch(a, "/api/users/me", new JsonObject { ["avatarFileId"] = avatar.Id() }).Expect(HttpStatusCode.OK);
        await server.Post(a, "/api/groups", new JsonObject { ["name"] = "with an avatar", ["avatarFileId"] = groupAvatar.Id() }).Expect(HttpStatusCode.Created);
        var blobsBefore = BlobFiles(store);

        var sweeper = server.Service<FileSweeper>();
        time.Advance(TimeSpan.FromDays(6));
        Assert.Equal(new FileSweeper.Result(0, 0, 0), await sweeper.SweepOnceAsync());

        time.Advance(TimeSpan.FromDays(2));
        var result = await sweeper.SweepOnceAsync();
        Assert.Equal(2, result.Files); // unused and sharedUnused
        Assert.Equal(1, result.Blobs); // unused's bytes; the shared bytes are still referenced
        Assert.Equal(0, result.Strays);

        await server.Download(a, $"/api/files/{unused.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Download(b, $"/api/files/{sharedUnused.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        foreach (var kept in new[] { sent, avatar, groupAvatar, sharedSent })
        {
            using var response = await server.Download(b, $"/api/files/{kept.Id()}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(blobsBefore.Count - 1, BlobFiles(store).Count);
        Assert.DoesNotContain(BlobFiles(store), path => Path.GetFileName(path).StartsWith((string)unused["sha256"]!, StringComparison.Ordinal));

        // With nothing left to remove, another pass removes nothing.
        Assert.Equal(new FileSweeper.Result(0, 0, 0), await sweeper.SweepOnceAsync());
    }

    [Fact]
    public async Task A_recalled_or_expired_message_no_longer_shares_its_file()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, LongTokens, "--Files:UnusedFileDays=7", "--Messaging:RetentionDays=30");
        var (a, b, conversationId) = await server.FriendsWithConversationAsync();
        var recalled = await server.UploadAsync(a, Bytes("sent, then recalled"), "r.txt");
        var expired = await server.UploadAsync(a, Bytes("sent, then expired"), "e.txt");
        var seq = (await SendFileAsync(server, a, conversationId, recalled)).Seq();
        await SendFileAsync(server, a, conversationId, expired);
        (await server.Download(b, $"/api/files/{recalled.Id()}")).EnsureSuccessStatusCode();

        await server.Post(a, $"/api/conversations/{conversationId}/messages/{seq}/recall").Expect(HttpStatusCode.OK);
        await server.Download(b, $"/api/files/{recalled.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        (await server.Download(a, $"/api/files/{recalled.Id()}")).EnsureSuccessStatusCode(); // still the uploader's

        time.Advance(TimeSpan.FromDays(8));
        var sweeper = server.Service<FileSweeper>();
        Assert.Equal(1, (await sweeper.SweepOnceAsync()).Files); // the recalled one; the other is still in a message
        (await server.Download(b, $"/api/files/{expired.Id()}")).EnsureSuccessStatusCode();

        time.Advance(TimeSpan.FromDays(23));
        Assert.Equal(2, await server.Service<Parley.Server.Messaging.RetentionSweeper>().SweepOnceAsync());
        await server.Download(b, $"/api/files/{expired.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        Assert.Equal(1, (await sweeper.SweepOnceAsync()).Files);
        Assert.Empty(BlobFiles(store));
    }

    [Fact]
    public async Task With_unused_file_days_zero_uploads_are_kept_and_strays_still_go()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, LongTokens, "--Files:UnusedFileDays=0");
        var a = await server.RegisterAsync();
        var file = await server.UploadAsync(a, Bytes("keep me forever"), "k.txt");

        // Bytes a crash left behind: a blob without a record and a half-written upload, both old; and a fresh stray.
        var oldStray = Path.Combine(store.DataDir, "blobs", "ab", "cd", "abcd" + new string('0', 60) + "-5-1");
        var freshStray = Path.Combine(store.DataDir, "blobs", "ef", "01", "ef01" + new string('0', 60) + "-5-2");
        var oldUpload = Path.Combine(store.DataDir, "uploads", "0123456789abcdef.part");
        foreach (var path in new[] { oldStray, freshStray, oldUpload })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllTextAsync(path, "stray", TestContext.Current.CancellationToken);
        }

        time.Advance(TimeSpan.FromDays(3650));
        var past = time.GetUtcNow().UtcDateTime - TimeSpan.FromHours(2);
        File.SetLastWriteTimeUtc(oldStray, past);
        File.SetLastWriteTimeUtc(oldUpload, past);
        File.SetLastWriteTimeUtc(freshStray, time.GetUtcNow().UtcDateTime);

        var result = await server.Service<FileSweeper>().SweepOnceAsync();
        Assert.Equal(new FileSweeper.Result(0, 0, 2), result);
        Assert.False(File.Exists(oldStray));
        Assert.False(File.Exists(oldUpload));
        Assert.True(File.Exists(freshStray));
        (await server.Download(a, $"/api/files/{file.Id()}")).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task A_blob_an_upload_has_just_touched_is_not_swept()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var database = store.OpenDatabase();
        await MigrationRunner.ApplyAsync(database);
        var files = new FileStore(database);
        var ct = TestContext.Current.CancellationToken;
        await files.AddBlobAsync("touched-key-1", "aa", 1, now: 1_000, ct);
        await files.AddBlobAsync("untouched-key-2", "bb", 1, now: 1_000, ct);

        // An upload sharing the first blob touches it before the sweeper's delete runs.
        Assert.True(await files.TouchBlobAsync("touched-key-1", now: 5_000, ct));
        Assert.Equal(["untouched-key-2"], await files.DeleteUnreferencedBlobsAsync(cutoff: 2_000, batch: 100, ct));

        // Once the sweeper has removed a blob, a touch says so and the upload stores its own bytes.
        Assert.False(await files.TouchBlobAsync("untouched-key-2", now: 6_000, ct));
        Assert.Equal(new HashSet<string> { "touched-key-1" }, await files.KnownBlobsAsync(["touched-key-1", "untouched-key-2"], ct));
    }

    private static byte[] Bytes(string text) => System.Text.Encoding.UTF8.GetBytes(text + " " + Guid.NewGuid());

    private static List<string> BlobFiles(TestStore store) =>
        Directory.EnumerateFiles(Path.Combine(store.DataDir, "blobs"), "*", SearchOption.AllDirectories).ToList();

    private static async Task<JsonNode> SendFileAsync(ApiHost server, TestUser user, string conversationId, JsonNode file) =>
        (await server.Post(user, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["type"] = "file",
            ["content"] = new JsonObject { ["fileId"] = file.Id(), ["name"] = (string?)file["name"], ["size"] = (long)file["size"]! },
        }).Expect(HttpStatusCode.Created))!;
}
