using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Http;

public sealed class ClientInputTestsSqlite(SqliteFixture fixture) : ClientInputTests(fixture), IClassFixture<SqliteFixture>;

public sealed class ClientInputTestsPostgres(PostgresFixture fixture) : ClientInputTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>
/// Bodies a clumsy or hostile client sends: strings that are not Unicode text in every JSON field, JSON in
/// another charset, broken multipart uploads. Each is the client's mistake: 400 <c>invalid</c> (415 for the
/// charset) naming what is wrong, nothing stored, and nothing logged above Information.
/// </summary>
public abstract class ClientInputTests(ServerFixture fixture) : BackendTests(fixture)
{
    /// <summary>What goes between the quotes of a JSON string: raw bytes that are not UTF-8, or escapes of a lone surrogate.</summary>
    public static TheoryData<string> NotText => new()
    {
        "ff",           // never a UTF-8 byte
        "c3",           // a lead byte without its continuation
        "eda080",       // U+D800 encoded as if it were a character
        "c0af",         // an overlong encoding of '/'
        "f4908080",     // above U+10FFFF
        @"\ud800",      // an escaped lone high surrogate
        @"\udc00x",     // an escaped lone low surrogate
    };

    [Theory]
    [MemberData(nameof(NotText))]
    public async Task Strings_that_are_not_Unicode_text_are_400_naming_the_field_in_every_json_body(string bad)
    {
        var (owner, member, conversation) = await Server.FriendsWithConversationAsync();
        var group = await Server.CreateGroupAsync(owner, null, member);
        var groupId = group.Id();
        var s = Text("a", bad, "b");
        var clientMsgId = Guid.NewGuid().ToString("N");

        (HttpMethod Method, string Path, byte[] Body, string Field)[] cases =
        [
            (HttpMethod.Patch, "/api/users/me", Json("""{"nickname":""", s, "}"), "nickname"),
            (HttpMethod.Patch, "/api/users/me", Json("""{"bio":""", s, "}"), "bio"),
            (HttpMethod.Patch, "/api/users/me", Json("""{"tags":["ok",""", s, "]}"), "tags"),
            (HttpMethod.Patch, "/api/users/me", Json("""{"avatarFileId":""", s, "}"), "avatarFileId"),
            (HttpMethod.Post, "/api/groups", Json("""{"name":""", s, "}"), "name"),
            (HttpMethod.Post, "/api/groups", Json("""{"name":"g","tags":[""", s, "]}"), "tags"),
            (HttpMethod.Patch, $"/api/groups/{groupId}", Json("""{"name":""", s, "}"), "name"),
            (HttpMethod.Patch, $"/api/groups/{groupId}", Json("""{"announcement":""", s, "}"), "announcement"),
            (HttpMethod.Patch, $"/api/groups/{groupId}", Json("""{"description":""", s, "}"), "description"),
            (HttpMethod.Patch, $"/api/groups/{groupId}", Json("""{"tags":[""", s, "]}"), "tags"),
            (HttpMethod.Patch, $"/api/groups/{groupId}/members/{member.Id}", Json("""{"role":""", s, "}"), "role"),
            (HttpMethod.Post, $"/api/conversations/{conversation}/messages", Json($$"""{"clientMsgId":"{{clientMsgId}}","type":"text","content":{"text":""", s, "}}"), "content"),
            (HttpMethod.Post, $"/api/conversations/{conversation}/messages", Json($$"""{"clientMsgId":"{{clientMsgId}}","type":"link","content":{"url":""", s, "}}"), "content"),
            (HttpMethod.Post, $"/api/conversations/{conversation}/messages", Json($$"""{"clientMsgId":"{{clientMsgId}}","type":"custom","content":{"a":{"b":[""", s, "]}}}"), "content"),
            (HttpMethod.Post, $"/api/conversations/{conversation}/messages", Json($$"""{"clientMsgId":"{{clientMsgId}}","type":"custom","content":{""", s, ":1}}"), "content"),
            (HttpMethod.Post, $"/api/conversations/{conversation}/messages", Json("""{"clientMsgId":""", s, ""","type":"text","content":{"text":"hi"}}"""), "clientMsgId"),
            (HttpMethod.Patch, $"/api/friends/{member.Id}", Json("""{"remark":""", s, "}"), "remark"),
        ];

        foreach (var (method, path, body, field) in cases)
        {
            var problem = await Send(method, path, owner.AccessToken, body, "application/json").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
            Assert.True(problem["errors"]?.AsObject().ContainsKey(field), $"{method} {path} {field}: {problem.ToJsonString()}");
        }

        var register = Json("""{"username":""", s, ""","password":"long enough password"}""");
        await Send(HttpMethod.Post, "/api/auth/register", null, register, "application/json").ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        // Nothing was stored: the profile, the group and the conversation are as they were.
        var me = await Server.Me(owner.AccessToken).Expect(HttpStatusCode.OK);
        Assert.Equal(owner.Username, (string?)me["nickname"]);
        Assert.Equal("", (string?)me["bio"]);
        Assert.Empty(me["tags"]!.AsArray());
        var after = await Server.Get(owner, $"/api/groups/{groupId}").Expect(HttpStatusCode.OK);
        Assert.Equal((string?)group["name"], (string?)after["name"]);
        Assert.Equal(0, (long)(await Server.ConversationAsync(owner, conversation))["maxSeq"]!);
        AssertNothingLoggedAboveInformation();
    }

    [Theory]
    [InlineData("application/json; charset=iso-8859-1")]
    [InlineData("application/json; charset=utf-16")]
    [InlineData("application/json; charset=\"latin1\"")]
    public async Task Json_in_a_charset_other_than_utf8_is_415(string contentType)
    {
        var user = await Server.RegisterAsync();
        await Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, Encoding.Latin1.GetBytes("""{"bio":"café"}"""), contentType)
            .ExpectProblem(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        Assert.Equal("", (string?)(await Server.Me(user.AccessToken).Expect(HttpStatusCode.OK))["bio"]);

        // UTF-8 said out loud, in any case, is JSON as usual.
        await Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, Encoding.UTF8.GetBytes("""{"bio":"café"}"""), "application/json; charset=UTF-8").Expect(HttpStatusCode.OK);
        Assert.Equal("café", (string?)(await Server.Me(user.AccessToken).Expect(HttpStatusCode.OK))["bio"]);
        AssertNothingLoggedAboveInformation();
    }

    public static TheoryData<string, string> BrokenMultipart => new()
    {
        { "empty", "" },
        { "only a preamble", "some text before any boundary\r\n" },
        { "cut off in the part's headers", "--B0undary\r\nContent-Disposition: form-da" },
        { "cut off in the file's bytes", "--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello wor" },
        { "no closing boundary", "--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n" },
        { "part headers over 16 KiB", "--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nX-Pad: " + new string('a', 17 * 1024) + "\r\n\r\nhello\r\n--B0undary--\r\n" },
        { "more than 16 part headers", "--B0undary\r\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"X-H{i}: v\r\n")) + "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--B0undary--\r\n" },
        { "a field before the cut", "--B0undary\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nvalue\r\n--B0undary\r\nContent-Disposition: form-data; name=\"fi" },
    };

    [Theory]
    [MemberData(nameof(BrokenMultipart))]
    public async Task A_broken_multipart_upload_is_400_invalid_and_stores_nothing(string shape, string body)
    {
        var user = await Server.RegisterAsync();
        var problem = await Send(HttpMethod.Post, "/api/files", user.AccessToken, Encoding.UTF8.GetBytes(body), "multipart/form-data; boundary=B0undary")
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.True(problem["errors"]?.AsObject().ContainsKey("body"), $"{shape}: {problem.ToJsonString()}");

        // The same server still takes a well-formed upload.
        var good = "--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--B0undary--\r\n";
        var file = await Send(HttpMethod.Post, "/api/files", user.AccessToken, Encoding.UTF8.GetBytes(good), "multipart/form-data; boundary=B0undary").Expect(HttpStatusCode.Created);
        Assert.Equal(5, (long)file["size"]!);
        AssertNothingLoggedAboveInformation();
    }

    [Fact]
    public async Task A_member_given_twice_is_refused_at_any_depth_as_on_the_websocket()
    {
        var (a, _, conversation) = await Server.FriendsWithConversationAsync();
        var bodies = new (HttpMethod Method, string Path, string Body, string Field)[]
        {
            (HttpMethod.Patch, "/api/users/me", """{"bio":"one","bio":"two"}""", "bio"),
            (HttpMethod.Patch, "/api/users/me", """{"tags":["x"],"nickname":"n","nickname":"m"}""", "nickname"),
            (HttpMethod.Post, "/api/groups", """{"name":"one","name":"two"}""", "name"),
            (HttpMethod.Post, $"/api/conversations/{conversation}/messages", """{"clientMsgId":"d1","type":"text","content":{"text":"shown","text":"stored"}}""", "content"),
            (HttpMethod.Post, $"/api/conversations/{conversation}/messages", """{"clientMsgId":"d2","type":"custom","content":{"a":{"x":1,"x":2}}}""", "content"),
            (HttpMethod.Post, $"/api/conversations/{conversation}/messages", """{"clientMsgId":"d3","clientMsgId":"d4","type":"text","content":{"text":"hi"}}""", "clientMsgId"),
        };
        foreach (var (method, path, body, field) in bodies)
        {
            var problem = await Send(method, path, a.AccessToken, Encoding.UTF8.GetBytes(body), "application/json").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
            Assert.True(problem["errors"]?.AsObject().ContainsKey(field), $"{body}: {problem.ToJsonString()}");
        }

        Assert.Equal(0, (long)(await Server.ConversationAsync(a, conversation))["maxSeq"]!);

        // The same name in sibling objects is no repetition.
        var siblings = """{"clientMsgId":"d5","type":"custom","content":{"a":[{"x":1},{"x":2}],"x":{"x":3}}}""";
        var message = await Send(HttpMethod.Post, $"/api/conversations/{conversation}/messages", a.AccessToken, Encoding.UTF8.GetBytes(siblings), "application/json").Expect(HttpStatusCode.Created);
        Assert.Equal(3, (int)message["content"]!["x"]!["x"]!);
    }

    [Fact]
    public async Task Numbers_given_as_strings_are_refused()
    {
        var (a, _, conversation) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, conversation, "one");
        var read = $"/api/conversations/{conversation}/read";
        var problem = await Send(HttpMethod.Post, read, a.AccessToken, Encoding.UTF8.GetBytes("""{"seq":"1"}"""), "application/json").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.True(problem["errors"]?.AsObject().ContainsKey("seq"), problem.ToJsonString());
        var reply = """{"clientMsgId":"n1","type":"text","content":{"text":"re"},"replyTo":"1"}""";
        problem = await Send(HttpMethod.Post, $"/api/conversations/{conversation}/messages", a.AccessToken, Encoding.UTF8.GetBytes(reply), "application/json").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.True(problem["errors"]?.AsObject().ContainsKey("replyTo"), problem.ToJsonString());
        Assert.Equal(1, (long)(await Server.ConversationAsync(a, conversation))["maxSeq"]!);

        // As numbers they are taken.
        await Send(HttpMethod.Post, read, a.AccessToken, Encoding.UTF8.GetBytes("""{"seq":1}"""), "application/json").Expect(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Head_on_a_file_and_its_thumbnail_answers_the_headers_of_get_without_a_body()
    {
        var user = await Server.RegisterAsync();
        var stranger = await Server.RegisterAsync();
        var png = TestImages.Png(64, 32);
        var file = await Server.UploadAsync(user, png, "p.png");
        foreach (var path in new[] { $"/api/files/{file.Id()}", $"/api/files/{file.Id()}/thumbnail" })
        {
            using var get = await Server.Download(user, path);
            using var head = await Server.Download(user, path, r => r.Method = HttpMethod.Head);
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(get.Content.Headers.ContentType, head.Content.Headers.ContentType);
            Assert.Equal(get.Content.Headers.ContentLength, head.Content.Headers.ContentLength);
            Assert.True(head.Content.Headers.ContentLength > 0);
            Assert.Equal(get.Headers.ETag, head.Headers.ETag);
            Assert.Equal("nosniff", head.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Empty(await head.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));

            // The same access rules: a stranger learns nothing, not even that it exists.
            using var strangers = await Server.Download(stranger, path, r => r.Method = HttpMethod.Head);
            Assert.Equal(HttpStatusCode.NotFound, strangers.StatusCode);
        }
    }

    [Fact]
    public async Task Every_problem_has_a_detail()
    {
        var user = await Server.RegisterAsync();
        var answers = new[]
        {
            await Server.Send(HttpMethod.Get, "/api/no/such/route", user.AccessToken),
            await Server.Send(HttpMethod.Delete, "/api/users/me", user.AccessToken),
            await Server.Send(HttpMethod.Get, "/api/users/me"),
            await Server.Send(HttpMethod.Get, "/api/users/me", "not-a-token"),
            // Routing refuses these by the endpoint's declared body type, with a bare 415 that the status-code page fills.
            await Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, Encoding.UTF8.GetBytes("{}"), "text/plain"),
            await Send(HttpMethod.Post, "/api/files", user.AccessToken, Encoding.UTF8.GetBytes("{}"), "application/json"),
            await Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, Encoding.UTF8.GetBytes("{"), "application/json"),
            await Server.Send(HttpMethod.Get, "/api/users/123", user.AccessToken),
            await Server.Send(HttpMethod.Get, "/api/conversations?limit=0", user.AccessToken),
        };
        foreach (var answer in answers)
        {
            using (answer)
            {
                Assert.True((int)answer.StatusCode >= 400, answer.StatusCode.ToString());
                Assert.Equal("application/problem+json", answer.Content.Headers.ContentType?.MediaType);
                var problem = await answer.Json();
                Assert.False(string.IsNullOrWhiteSpace((string?)problem["detail"]), $"{answer.RequestMessage?.Method} {answer.RequestMessage?.RequestUri}: {problem.ToJsonString()}");
            }
        }
    }

    private void AssertNothingLoggedAboveInformation()
    {
        var logged = Logs.All.Where(e => e.Level > LogLevel.Information && e.Category.StartsWith("Parley", StringComparison.Ordinal)).ToList();
        Assert.True(logged.Count == 0, string.Join("\n", logged.Select(e => $"{e.Level} {e.Category}: {e.Message}")));
    }

    /// <summary>A JSON string literal whose content is <paramref name="bad"/>: hex for raw bytes, else the escape as written.</summary>
    private static byte[] Text(string before, string bad, string after)
    {
        var middle = bad.StartsWith('\\') ? Encoding.ASCII.GetBytes(bad) : Convert.FromHexString(bad);
        return [(byte)'"', .. Encoding.ASCII.GetBytes(before), .. middle, .. Encoding.ASCII.GetBytes(after), (byte)'"'];
    }

    private static byte[] Json(string before, byte[] value, string after) =>
        [.. Encoding.UTF8.GetBytes(before), .. value, .. Encoding.UTF8.GetBytes(after)];

    private Task<HttpResponseMessage> Send(HttpMethod method, string path, string? accessToken, byte[] body, string contentType)
    {
        var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (accessToken is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        }

        return Server.Http.SendAsync(request, TestContext.Current.CancellationToken);
    }
}
