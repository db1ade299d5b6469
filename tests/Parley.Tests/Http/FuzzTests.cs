using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using CsCheck;
using Microsoft.Extensions.Logging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Http;

public sealed class FuzzTestsSqlite(SqliteFixture fixture) : FuzzTests(fixture), IClassFixture<SqliteFixture>;

public sealed class FuzzTestsPostgres(PostgresFixture fixture) : FuzzTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>
/// Property: no body gives a 500. JSON-shaped bodies built from the contract's member names and hostile values
/// (bytes that are not UTF-8, escaped lone surrogates and NUL, duplicate members, numbers as strings, huge and
/// deep values, truncations), sent to the JSON endpoints; multipart bodies with damaged boundaries, headers and
/// lengths sent to the upload. A short run here; <c>PARLEY_FUZZ_ITERATIONS</c> sets a longer one (docs/api.md).
/// A failing sample is printed with its seed, so it can be replayed with CsCheck's <c>seed</c> argument.
/// </summary>
public abstract class FuzzTests(ServerFixture fixture) : BackendTests(fixture)
{
    private static readonly long Iterations =
        long.TryParse(Environment.GetEnvironmentVariable("PARLEY_FUZZ_ITERATIONS"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 300;

    private static readonly string[] Members =
    [
        "nickname", "bio", "tags", "avatarFileId", "name", "description", "announcement", "joinPolicy", "visibility",
        "membersCanInvite", "idleTtlSeconds", "role", "mutedUntil", "clientMsgId", "type", "content", "text", "url",
        "title", "fileId", "width", "height", "latitude", "longitude", "size", "durationMs", "replyTo", "mentions",
        "seq", "userId", "userIds", "username", "password", "email", "device", "refreshToken", "message", "remark",
        "expiresInSeconds", "maxUses", "code", "currentPassword", "newPassword", "memberIds",
    ];

    private static readonly string[] Words =
    [
        "text", "link", "custom", "image", "file", "location", "admin", "member", "owner", "open", "approval", "closed",
        "public", "private", "all", "https://example.com/a", "javascript:alert(1)", "", " ", "x", "é", "😀", "1", "-1",
    ];

    private static readonly byte[][] Hostile =
    [
        [0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0xF4, 0x90, 0x80, 0x80], [0x80], [0xE2, 0x82],
        "\\ud800"u8.ToArray(), "\\udc00"u8.ToArray(), "\\u0000"u8.ToArray(), "\\ud83d\\ude00"u8.ToArray(), "\\u202e"u8.ToArray(),
        "\\\""u8.ToArray(), "\\n"u8.ToArray(), "\\x"u8.ToArray(), [0x00], [0x1F], "\\"u8.ToArray(),
    ];

    private static readonly string[] Numbers =
    [
        "0", "1", "-1", "3", "\"3\"", "1.5", "1e309", "-1e309", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "1e2", "0x10", "01", "-", "NaN", "Infinity", "99999999999999999999999999999",
    ];

    [Fact]
    public async Task No_json_body_gives_a_500()
    {
        var (owner, member, conversation) = await Server.FriendsWithConversationAsync();
        var group = await Server.CreateGroupAsync(owner, null, member);
        // Each endpoint with the members it reads, which the bodies mostly use (and otherwise any of the contract's).
        var targets = new (HttpMethod Method, string Path, string[] Fields)[]
        {
            (HttpMethod.Patch, "/api/users/me", ["nickname", "bio", "avatarFileId", "tags"]),
            (HttpMethod.Put, "/api/users/me/password", ["currentPassword", "newPassword"]),
            (HttpMethod.Post, "/api/groups", ["name", "description", "tags", "joinPolicy", "visibility", "avatarFileId", "memberIds", "idleTtlSeconds"]),
            (HttpMethod.Patch, $"/api/groups/{group.Id()}", ["name", "description", "tags", "announcement", "joinPolicy", "visibility", "membersCanInvite", "idleTtlSeconds", "avatarFileId"]),
            (HttpMethod.Post, $"/api/groups/{group.Id()}/join", ["message"]),
            (HttpMethod.Post, $"/api/groups/{group.Id()}/members", ["userIds"]),
            (HttpMethod.Patch, $"/api/groups/{group.Id()}/members/{member.Id}", ["role", "mutedUntil"]),
            (HttpMethod.Post, $"/api/groups/{group.Id()}/owner", ["userId"]),
            (HttpMethod.Post, $"/api/conversations/{conversation}/messages", ["clientMsgId", "type", "content", "replyTo", "mentions", "text", "url"]),
            (HttpMethod.Post, $"/api/conversations/{conversation}/read", ["seq"]),
            (HttpMethod.Post, "/api/conversations/direct", ["userId"]),
            (HttpMethod.Post, "/api/friends/requests", ["userId", "message"]),
            (HttpMethod.Patch, $"/api/friends/{member.Id}", ["remark"]),
            (HttpMethod.Post, "/api/auth/login", ["username", "password", "device"]),
            (HttpMethod.Post, "/api/auth/refresh", ["refreshToken"]),
            (HttpMethod.Post, "/api/auth/logout", ["refreshToken"]),
            (HttpMethod.Post, "/api/auth/register", ["username", "password", "nickname", "email", "device"]),
            (HttpMethod.Post, $"/api/groups/{group.Id()}/invite-codes", ["expiresInSeconds", "maxUses"]),
            (HttpMethod.Post, "/api/groups/join-by-code", ["code"]),
        };

        var contentTypes = new[] { "application/json", "application/json; charset=utf-8", "application/json; charset=iso-8859-1", "text/plain" };
        var gen = Gen.Select(Gen.Int[0, targets.Length - 1], Gen.Int, Gen.Int[0, 9], (target, seed, damage) => (target, seed, damage));
        await gen.SampleAsync(
            async sample =>
            {
                var random = new Random(sample.seed);
                var (method, path, fields) = targets[sample.target];
                var body = Damage(JsonBody(random, fields), random, sample.damage);
                var contentType = sample.damage == 9 ? contentTypes[random.Next(contentTypes.Length)] : "application/json";
                using var response = await Send(method, path, owner.AccessToken, body, contentType);
                Assert.True((int)response.StatusCode < 500, $"{(int)response.StatusCode} for {method} {path}: {Convert.ToHexString(body)}");
            },
            iter: Iterations,
            threads: 1,
            print: sample => $"{targets[sample.target].Method} {targets[sample.target].Path} seed {sample.seed} damage {sample.damage}");

        AssertNoErrorLogged();
    }

    [Fact]
    public async Task No_multipart_upload_gives_a_500()
    {
        var user = await Server.RegisterAsync();
        var gen = Gen.Select(Gen.Int, Gen.Int[0, 9], (seed, damage) => (seed, damage));
        await gen.SampleAsync(
            async sample =>
            {
                var random = new Random(sample.seed);
                var body = Damage(MultipartBody(random, out var boundary), random, sample.damage);
                using var response = await Send(HttpMethod.Post, "/api/files", user.AccessToken, body, $"multipart/form-data; boundary={boundary}");
                Assert.True((int)response.StatusCode < 500, $"{(int)response.StatusCode}: {Convert.ToHexString(body.AsSpan(0, Math.Min(body.Length, 4096)))}");
            },
            iter: Iterations,
            threads: 1,
            print: sample => $"seed {sample.seed} damage {sample.damage}");

        AssertNoErrorLogged();
    }

    /// <summary>A JSON object of the contract's member names (some twice) with values of every kind, some hostile.</summary>
    private static byte[] JsonBody(Random random, string[] fields)
    {
        var output = new List<byte>();
        Value(output, random, fields, depth: 0, top: true);
        return [.. output];
    }

    private static void Value(List<byte> output, Random random, string[] fields, int depth, bool top = false)
    {
        // Containers only while the body is small and shallow; leaves beyond that, so a body stays bounded.
        var kind = top ? 0 : depth > 6 || output.Count > 100_000 ? random.Next(2, 6) : random.Next(9);
        switch (kind)
        {
            case 8:
                // Nested deeper than any reader allows (content 16 levels, the JSON reader 64).
                var levels = random.Next(10, 80);
                Ascii(output, new string('[', levels) + new string(']', levels));
                break;
            case 0 or 6:
                output.Add((byte)'{');
                var count = random.Next(top ? 1 : 0, 6);
                for (var i = 0; i < count; i++)
                {
                    if (i > 0)
                    {
                        output.Add((byte)',');
                    }

                    if (random.Next(5) == 0)
                    {
                        String(output, random);
                    }
                    else
                    {
                        var names = random.Next(5) == 0 ? Members : fields;
                        Ascii(output, $"\"{names[random.Next(names.Length)]}\"");
                    }

                    output.Add((byte)':');
                    Value(output, random, fields, depth + 1);
                }

                output.Add((byte)'}');
                break;
            case 1 or 7:
                output.Add((byte)'[');
                var items = random.Next(0, depth == 1 && random.Next(20) == 0 ? 300 : 5);
                for (var i = 0; i < items; i++)
                {
                    if (i > 0)
                    {
                        output.Add((byte)',');
                    }

                    Value(output, random, fields, depth + 1);
                }

                output.Add((byte)']');
                break;
            case 2 or 3:
                String(output, random);
                break;
            case 4:
                Ascii(output, Numbers[random.Next(Numbers.Length)]);
                break;
            default:
                Ascii(output, random.Next(3) switch { 0 => "true", 1 => "false", _ => "null" });
                break;
        }
    }

    private static void String(List<byte> output, Random random)
    {
        output.Add((byte)'"');
        var parts = random.Next(0, 5);
        for (var i = 0; i < parts; i++)
        {
            switch (random.Next(3))
            {
                case 0:
                    output.AddRange(Hostile[random.Next(Hostile.Length)]);
                    break;
                case 1:
                    output.AddRange(Encoding.UTF8.GetBytes(new string('a', random.Next(20) == 0 ? 70_000 : random.Next(1, 40))));
                    break;
                default:
                    output.AddRange(Encoding.UTF8.GetBytes(Words[random.Next(Words.Length)]));
                    break;
            }
        }

        output.Add((byte)'"');
    }

    private static byte[] MultipartBody(Random random, out string boundary)
    {
        boundary = random.Next(8) == 0 ? new string('b', random.Next(1, 80)) : "Fz" + random.Next().ToString(CultureInfo.InvariantCulture);
        var output = new List<byte>();
        if (random.Next(4) == 0)
        {
            Ascii(output, "preamble\r\n");
        }

        var parts = random.Next(0, 4);
        for (var i = 0; i < parts; i++)
        {
            Ascii(output, $"--{boundary}\r\n");
            var name = random.Next(3) == 0 ? "other" : "file";
            var disposition = random.Next(6) switch
            {
                0 => $"Content-Disposition: form-data; name=\"{name}\"",
                1 => $"Content-Disposition: form-data; name={name}; filename*=UTF-8''%FF%FE.txt",
                2 => "Content-Disposition: attachment",
                3 => $"Content-Disposition: form-data; name=\"{name}\"; filename=\"",
                _ => $"Content-Disposition: form-data; name=\"{name}\"; filename=\"f.bin\"",
            };
            Ascii(output, disposition);
            if (random.Next(4) == 0)
            {
                output.AddRange(Hostile[random.Next(Hostile.Length)]);
            }

            Ascii(output, "\r\n");
            var extra = random.Next(10) == 0 ? random.Next(10, 30) : random.Next(0, 3);
            for (var h = 0; h < extra; h++)
            {
                Ascii(output, $"X-H{h}: {new string('v', random.Next(10) == 0 ? 20_000 : 5)}\r\n");
            }

            Ascii(output, "\r\n");
            var bytes = new byte[random.Next(0, random.Next(10) == 0 ? 100_000 : 200)];
            random.NextBytes(bytes);
            output.AddRange(bytes);
            Ascii(output, "\r\n");
        }

        if (random.Next(3) != 0)
        {
            Ascii(output, $"--{boundary}--\r\n");
        }

        return [.. output];
    }

    /// <summary>Leaves the body whole (damage 0-5), or cuts it short, flips bytes or drops a byte in the middle.</summary>
    private static byte[] Damage(byte[] body, Random random, int damage)
    {
        if (body.Length == 0)
        {
            return body;
        }

        switch (damage)
        {
            case 6:
                return body[..random.Next(body.Length)];
            case 7:
                var flipped = (byte[])body.Clone();
                for (var i = random.Next(1, 4); i > 0; i--)
                {
                    flipped[random.Next(flipped.Length)] = (byte)random.Next(256);
                }

                return flipped;
            case 8:
                var at = random.Next(body.Length);
                return [.. body[..at], .. body[(at + 1)..]];
            default:
                return body;
        }
    }

    private static void Ascii(List<byte> output, string text) => output.AddRange(Encoding.UTF8.GetBytes(text));

    private void AssertNoErrorLogged()
    {
        var errors = Logs.All.Where(e => e.Level >= LogLevel.Error).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => $"{e.Level} {e.Category}: {e.Message}")));
    }

    private Task<HttpResponseMessage> Send(HttpMethod method, string path, string accessToken, byte[] body, string contentType)
    {
        var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return Server.Http.SendAsync(request, TestContext.Current.CancellationToken);
    }
}
