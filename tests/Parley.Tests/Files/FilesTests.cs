using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Files;

public sealed class FilesTestsSqlite(SqliteFixture fixture) : FilesTests(fixture), IClassFixture<SqliteFixture>;

public sealed class FilesTestsPostgres(PostgresFixture fixture) : FilesTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>The contract's "Files" section over real HTTP.</summary>
public abstract class FilesTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task A_png_is_sniffed_measured_thumbnailed_and_served_back()
    {
        var user = await Server.RegisterAsync();
        var png = TestImages.Png(1000, 400);
        var file = await Server.UploadAsync(user, png, "picture.bin", "text/html");
        Assert.Equal("image/png", (string?)file["contentType"]);
        Assert.Equal(png.Length, (long)file["size"]!);
        Assert.Equal("picture.bin", (string?)file["name"]);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(png)), (string?)file["sha256"]);

        using var response = await Server.Download(user, $"/api/files/{file.Id()}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(png, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.NotEqual("attachment", response.Content.Headers.ContentDisposition?.DispositionType);

        Assert.Equal(1000, (int)file["width"]!);
        Assert.Equal(400, (int)file["height"]!);
        Assert.True((bool)file["hasThumbnail"]!);
        using var thumbnail = await Server.Download(user, $"/api/files/{file.Id()}/thumbnail");
        Assert.Equal(HttpStatusCode.OK, thumbnail.StatusCode);
        Assert.Equal("image/jpeg", thumbnail.Content.Headers.ContentType?.MediaType);
        Assert.Equal((320, 128), DecodedImage.Size(await thumbnail.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task A_damaged_image_is_stored_and_served_as_a_file()
    {
        var user = await Server.RegisterAsync();
        var png = TestImages.Png(1000, 400);
        var random = new byte[2000];
        new Random(7).NextBytes(random);
        var cases = new (byte[] Bytes, string Type, int? Width)[]
        {
            (png[..(png.Length / 2)], "image/png", 1000), // truncated: the header's size (a thumbnail of the rows there may be)
            ([.. png[..8], .. random], "image/png", null),  // a signature and garbage
            ([0xFF, 0xD8, 0xFF, .. random], "image/jpeg", null),
            ("GIF89a"u8.ToArray(), "image/gif", null),
        };
        foreach (var (bytes, type, width) in cases)
        {
            var file = await Server.UploadAsync(user, bytes, "broken");
            Assert.Equal(type, (string?)file["contentType"]);
            Assert.Equal(width, (int?)file["width"]);
            using (var download = await Server.Download(user, $"/api/files/{file.Id()}"))
            {
                Assert.Equal(HttpStatusCode.OK, download.StatusCode);
                Assert.Equal(bytes, await download.Content.ReadAsByteArrayAsync());
            }

            using var thumbnail = await Server.Download(user, $"/api/files/{file.Id()}/thumbnail");
            Assert.Equal((bool)file["hasThumbnail"]! ? HttpStatusCode.OK : HttpStatusCode.NotFound, thumbnail.StatusCode);
            Assert.True(width is not null || !(bool)file["hasThumbnail"]!, "a thumbnail of something that is no image");
        }
    }

    [Fact]
    public async Task Types_come_from_the_bytes_not_the_name_or_the_claim()
    {
        var user = await Server.RegisterAsync();
        var cases = new (byte[] Bytes, string Expected)[]
        {
            ("%PDF-1.7\n..."u8.ToArray(), "application/pdf"),
            ("PK\x03\x04rest"u8.ToArray(), "application/zip"),
            ("GIF89a...."u8.ToArray(), "image/gif"),
            ("OggS\0\0\0"u8.ToArray(), "audio/ogg"),
            ("ID3\x03\0\0"u8.ToArray(), "audio/mpeg"),
            ([0x1A, 0x45, 0xDF, 0xA3, 0x01], "video/webm"),
            ([0, 0, 0, 0x18, (byte)'f', (byte)'t', (byte)'y', (byte)'p', (byte)'i', (byte)'s', (byte)'o', (byte)'m'], "video/mp4"),
            ("just some words\nand lines"u8.ToArray(), "text/plain"),
            ([0, 1, 2, 3, 250, 251], "application/octet-stream"),
        };
        foreach (var (bytes, expected) in cases)
        {
            var file = await Server.UploadAsync(user, bytes, "x.png", "image/png");
            Assert.Equal(expected, (string?)file["contentType"]);
        }
    }

    [Fact]
    public async Task Identical_bytes_get_two_ids_and_are_stored_once()
    {
        var user = await Server.RegisterAsync();
        var bytes = Encoding.UTF8.GetBytes("same bytes " + Guid.NewGuid());
        var first = await Server.UploadAsync(user, bytes, "a.txt");
        var second = await Server.UploadAsync(user, bytes, "b.txt");
        Assert.NotEqual(first.Id(), second.Id());
        Assert.Equal((string?)first["sha256"], (string?)second["sha256"]);
        var blobs = Directory.EnumerateFiles(Path.Combine(StoreDir, "blobs"), $"{(string)first["sha256"]!}-*", SearchOption.AllDirectories).ToList();
        Assert.Single(blobs);
        Assert.Equal("b.txt", (string?)second["name"]);
    }

    [Fact]
    public async Task Only_the_uploader_and_members_of_a_conversation_that_references_it_can_read_a_file()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var stranger = await Server.RegisterAsync();
        var file = await Server.UploadAsync(a, TestImages.Png(40, 30), "p.png");
        var path = $"/api/files/{file.Id()}";
        await Server.Download(stranger, path).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Download(b, path).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Download(stranger, "/api/files/12345").ExpectProblem(HttpStatusCode.NotFound, "not_found");

        await Server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = "img-1", ["type"] = "image", ["content"] = new JsonObject { ["fileId"] = file.Id(), ["width"] = 40, ["height"] = 30 },
        }).Expect(HttpStatusCode.Created);

        (await Server.Download(b, path)).EnsureSuccessStatusCode();
        await Server.Download(stranger, path).ExpectProblem(HttpStatusCode.NotFound, "not_found");

        // b may now forward it; the stranger may not use it at all
        var c = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(b, c);
        var other = await Server.DirectAsync(b, c);
        await Server.Post(b, $"/api/conversations/{other}/messages", new JsonObject
        {
            ["clientMsgId"] = "fwd-1", ["type"] = "file", ["content"] = new JsonObject { ["fileId"] = file.Id(), ["name"] = "p.png", ["size"] = 1 },
        }).Expect(HttpStatusCode.Created);
        (await Server.Download(c, path)).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task A_message_referencing_another_users_private_file_is_refused()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var stranger = await Server.RegisterAsync();
        var secret = await Server.UploadAsync(stranger, Encoding.UTF8.GetBytes("private"), "secret.txt");
        await Server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = "steal", ["type"] = "file", ["content"] = new JsonObject { ["fileId"] = secret.Id(), ["name"] = "s.txt", ["size"] = 7 },
        }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Download(b, $"/api/files/{secret.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Ranges_and_etags_work()
    {
        var user = await Server.RegisterAsync();
        var bytes = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();
        var file = await Server.UploadAsync(user, bytes, "data.bin");
        var path = $"/api/files/{file.Id()}";

        using var partial = await Server.Download(user, path, r => r.Headers.Range = new RangeHeaderValue(10, 19));
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(bytes[10..20], await partial.Content.ReadAsByteArrayAsync());
        Assert.Equal("bytes 10-19/1000", partial.Content.Headers.ContentRange?.ToString());

        using var outside = await Server.Download(user, path, r => r.Headers.Range = new RangeHeaderValue(5000, 6000));
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, outside.StatusCode);

        using var full = await Server.Download(user, path);
        var etag = full.Headers.ETag;
        Assert.NotNull(etag);
        using var notModified = await Server.Download(user, path, r => r.Headers.IfNoneMatch.Add(etag!));
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }

    [Fact]
    public async Task An_html_upload_is_served_as_a_text_attachment_that_cannot_run_script()
    {
        var user = await Server.RegisterAsync();
        var html = "<html><body><script>alert(document.cookie)</script></body></html>"u8.ToArray();
        var file = await Server.UploadAsync(user, html, "page.html", "text/html");
        Assert.Equal("text/plain", (string?)file["contentType"]);
        using var response = await Server.Download(user, $"/api/files/{file.Id()}");
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Contains("sandbox", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task Upload_errors_are_clear()
    {
        var user = await Server.RegisterAsync();
        await Server.Send(HttpMethod.Post, "/api/files", user.AccessToken, new JsonObject { ["file"] = "nope" })
            .ExpectProblem(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        var form = new MultipartFormDataContent { { new StringContent("x"), "other" } };
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/files") { Content = form };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", user.AccessToken);
        await Server.Http.SendAsync(request).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Post, "/api/files").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Avatars_must_be_images_and_every_signed_in_user_can_read_them()
    {
        var user = await Server.RegisterAsync();
        var other = await Server.RegisterAsync();
        var text = await Server.UploadAsync(user, "not an image"u8.ToArray(), "a.txt");
        await Server.Patch(user, "/api/users/me", new JsonObject { ["avatarFileId"] = text.Id() }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var someoneElses = await Server.UploadAsync(other, TestImages.Png(10, 10), "o.png");
        await Server.Patch(user, "/api/users/me", new JsonObject { ["avatarFileId"] = someoneElses.Id() }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        var image = await Server.UploadAsync(user, TestImages.Png(64, 64), "me.png");
        var me = await Server.Patch(user, "/api/users/me", new JsonObject { ["avatarFileId"] = image.Id() }).Expect(HttpStatusCode.OK);
        Assert.Equal(image.Id(), (string?)me["avatarFileId"]);
        (await Server.Download(other, $"/api/files/{image.Id()}")).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task An_image_received_in_a_chat_cannot_become_an_avatar_and_so_public()
    {
        var (a, b, direct) = await Server.FriendsWithConversationAsync();
        var stranger = await Server.RegisterAsync();
        var secret = await Server.UploadAsync(a, TestImages.Png(32, 32), "private.png");
        await Server.Post(a, $"/api/conversations/{direct}/messages", new JsonObject
        {
            ["clientMsgId"] = "img", ["type"] = "image", ["content"] = new JsonObject { ["fileId"] = secret.Id() },
        }).Expect(HttpStatusCode.Created);
        (await Server.Download(b, $"/api/files/{secret.Id()}")).EnsureSuccessStatusCode(); // b may read it in the chat...

        // ...but not make it an avatar (which every signed-in user may read), for themselves or for a group.
        await Server.Patch(b, "/api/users/me", new JsonObject { ["avatarFileId"] = secret.Id() }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(b, "/api/groups", new JsonObject { ["name"] = "g", ["avatarFileId"] = secret.Id() }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.Equal(HttpStatusCode.NotFound, (await Server.Download(stranger, $"/api/files/{secret.Id()}")).StatusCode);
    }

    [Fact]
    public async Task Group_avatars_must_be_images_the_admin_may_use_and_every_signed_in_user_can_read_them()
    {
        var owner = await Server.RegisterAsync();
        var member = await Server.RegisterAsync();
        var stranger = await Server.RegisterAsync();
        var text = await Server.UploadAsync(owner, "not an image"u8.ToArray(), "a.txt");
        var someoneElses = await Server.UploadAsync(stranger, TestImages.Png(10, 10), "s.png");
        var image = await Server.UploadAsync(owner, TestImages.Png(64, 64), "group.png");

        await Server.Post(owner, "/api/groups", new JsonObject { ["name"] = "g", ["avatarFileId"] = text.Id() }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(owner, "/api/groups", new JsonObject { ["name"] = "g", ["avatarFileId"] = someoneElses.Id() }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(owner, "/api/groups", new JsonObject { ["name"] = "g", ["avatarFileId"] = 12 }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        var group = await Server.Post(owner, "/api/groups", new JsonObject { ["name"] = "g", ["memberIds"] = new JsonArray(member.Id) }).Expect(HttpStatusCode.Created);
        Assert.Null(group["avatarFileId"]);
        var path = $"/api/groups/{group.Id()}";
        await Server.Patch(member, path, new JsonObject { ["avatarFileId"] = image.Id() }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Patch(owner, path, new JsonObject { ["avatarFileId"] = text.Id() }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var updated = await Server.Patch(owner, path, new JsonObject { ["avatarFileId"] = image.Id() }).Expect(HttpStatusCode.OK);
        Assert.Equal(image.Id(), (string?)updated["avatarFileId"]);
        Assert.Equal(image.Id(), (string?)(await Server.Get(member, path).Expect(HttpStatusCode.OK))["avatarFileId"]);
        (await Server.Download(stranger, $"/api/files/{image.Id()}")).EnsureSuccessStatusCode();

        var cleared = await Server.Patch(owner, path, new JsonObject { ["avatarFileId"] = null }).Expect(HttpStatusCode.OK);
        Assert.Null(cleared["avatarFileId"]);
        await Server.Download(stranger, $"/api/files/{image.Id()}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    private string StoreDir => Server.Service<Parley.Server.ParleyPaths>().DataDir;

    [Fact]
    public async Task File_names_lose_format_characters()
    {
        var user = await Server.RegisterAsync();
        var file = await Server.UploadAsync(user, "hello"u8.ToArray(), "invoice\u202Efdp.exe");
        Assert.Equal("invoicefdp.exe", (string?)file["name"]);
        var blank = await Server.UploadAsync(user, "hello"u8.ToArray(), "\u200B\u2066");
        Assert.Equal("file", (string?)blank["name"]);
    }
}
