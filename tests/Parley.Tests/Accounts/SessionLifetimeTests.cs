using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Accounts;

public sealed class SessionLifetimeTestsSqlite() : SessionLifetimeTests(Backend.Sqlite);

public sealed class SessionLifetimeTestsPostgres() : SessionLifetimeTests(Backend.Postgres);

/// <summary>What depends on time and on the process: token expiry, and surviving a restart.</summary>
public abstract class SessionLifetimeTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task Expired_access_token_is_401_token_expired_and_refresh_still_works()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time);
        var user = await server.RegisterAsync();
        await server.Me(user.AccessToken).Expect(HttpStatusCode.OK);

        time.Advance(TimeSpan.FromMinutes(9));
        await server.Me(user.AccessToken).Expect(HttpStatusCode.OK);

        time.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        using (var expired = await server.Me(user.AccessToken))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, expired.StatusCode);
            Assert.Equal("token_expired", (string?)(await expired.Json())["code"]);
            Assert.Contains("invalid_token", expired.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }

        var refreshed = await server.Refresh(user.RefreshToken).Expect(HttpStatusCode.OK);
        await server.Me((string)refreshed["tokens"]!["accessToken"]!).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Expired_refresh_token_is_401_token_expired()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time);
        var user = await server.RegisterAsync();
        time.Advance(TimeSpan.FromDays(30) + TimeSpan.FromMinutes(1));
        await server.Refresh(user.RefreshToken).ExpectProblem(HttpStatusCode.Unauthorized, "token_expired");
    }

    [Fact]
    public async Task Users_sessions_and_the_signing_key_survive_a_restart()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        TestUser user;
        string keyFile;
        await using (var first = await ParleyServer.StartAsync(store))
        {
            user = await first.RegisterAsync(nickname: "Persistent");
            await first.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["tags"] = new JsonArray("kept") }).Expect(HttpStatusCode.OK);
            keyFile = Path.Combine(store.DataDir, "keys", "jwt-signing.key");
            Assert.True(File.Exists(keyFile));
        }

        var keyBefore = await File.ReadAllTextAsync(keyFile);
        await using var second = await ParleyServer.StartAsync(store);
        Assert.Equal(keyBefore, await File.ReadAllTextAsync(keyFile));

        // The old access token verifies: same key, and the session row is still there.
        var me = await second.Me(user.AccessToken).Expect(HttpStatusCode.OK);
        Assert.Equal("Persistent", (string?)me["nickname"]);
        Assert.Equal(["kept"], me["tags"]!.AsArray().Select(t => (string)t!));
        // The refresh token rotates against the stored hash.
        await second.Refresh(user.RefreshToken).Expect(HttpStatusCode.OK);
        // The password hash survived.
        await second.LoginAsync(user.Username, user.Password);
    }

    [Fact]
    public async Task A_configured_signing_key_is_used_and_tokens_from_another_key_fail()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        TestUser user;
        await using (var first = await ParleyServer.StartAsync(store, null, $"--Auth:SigningKey={key}"))
        {
            user = await first.RegisterAsync();
            Assert.False(File.Exists(Path.Combine(store.DataDir, "keys", "jwt-signing.key")));
        }

        await using (var same = await ParleyServer.StartAsync(store, null, $"--Auth:SigningKey={key}"))
        {
            await same.Me(user.AccessToken).Expect(HttpStatusCode.OK);
        }

        // Without the setting a different (generated) key signs, and the old token no longer verifies.
        await using var other = await ParleyServer.StartAsync(store);
        await other.Me(user.AccessToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task New_accounts_per_address_are_rate_limited_by_setting()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, "--Auth:RegistrationsPerAddress=3");
        for (var i = 0; i < 3; i++)
        {
            await server.RegisterAsync();
        }

        using (var limited = await server.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject { ["username"] = Api.NewUsername(), ["password"] = "long enough" }))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            Assert.Equal("rate_limited", (string?)(await limited.Json())["code"]);
            Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        }

        // a new window opens after the old one ends
        time.Advance(TimeSpan.FromHours(1));
        await server.RegisterAsync();
    }

    [Fact]
    public async Task Tokens_signed_with_the_key_but_of_the_wrong_type_issuer_or_audience_are_401()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var keyBytes = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        await using var server = await ParleyServer.StartAsync(store, null, $"--Auth:SigningKey={Convert.ToBase64String(keyBytes)}");
        var user = await server.RegisterAsync();
        var payload = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(Pad(user.AccessToken.Split('.')[1]))))!.AsObject();

        string Sign(string typ, Action<JsonObject> change)
        {
            var claims = (JsonObject)payload.DeepClone();
            change(claims);
            var header = Tokens.Base64Url(System.Text.Encoding.UTF8.GetBytes($$"""{"alg":"HS256","typ":"{{typ}}"}"""));
            var body = Tokens.Base64Url(System.Text.Encoding.UTF8.GetBytes(claims.ToJsonString()));
            return Tokens.SignHs256(header, body, keyBytes);
        }

        // the control: the same construction with the right values is accepted
        await server.Me(Sign("at+jwt", _ => { })).Expect(HttpStatusCode.OK);
        await server.Me(Sign("JWT", _ => { })).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await server.Me(Sign("at+jwt", c => c["iss"] = "someone-else")).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await server.Me(Sign("at+jwt", c => c["aud"] = "someone-else")).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await server.Me(Sign("at+jwt", c => c.Remove("exp"))).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await server.Me(Sign("at+jwt", c => c["sid"] = "123")).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        var other = await server.RegisterAsync();
        await server.Me(Sign("at+jwt", c => c["sub"] = other.Id)).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
    }

    private static string Pad(string base64Url)
    {
        var s = base64Url.Replace('-', '+').Replace('_', '/');
        return s + new string('=', (4 - (s.Length % 4)) % 4);
    }
}
