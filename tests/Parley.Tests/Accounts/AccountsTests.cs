using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Accounts;

public sealed class AccountsTestsSqlite(SqliteFixture fixture) : AccountsTests(fixture), IClassFixture<SqliteFixture>;

public sealed class AccountsTestsPostgres(PostgresFixture fixture) : AccountsTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>Every call of the contract's "Accounts and sessions" section, over real HTTP.</summary>
public abstract class AccountsTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task Register_returns_user_tokens_and_device()
    {
        var username = Api.NewUsername("Reg");
        var body = new JsonObject
        {
            ["username"] = username,
            ["password"] = "a long password",
            ["nickname"] = "Reggie",
            ["email"] = "reg@example.com",
            ["device"] = "test phone",
        };
        var json = await Server.Send(HttpMethod.Post, "/api/auth/register", body: body).Expect(HttpStatusCode.Created);

        var user = json["user"]!;
        Assert.Equal(username, (string?)user["username"]);
        Assert.Equal("Reggie", (string?)user["nickname"]);
        Assert.False(user.AsObject().ContainsKey("email")); // the contract shows email on /me only
        Assert.Equal("", (string?)user["bio"]);
        Assert.Null(user["avatarFileId"]);
        Assert.Empty(user["tags"]!.AsArray());
        Assert.IsType<string>((string?)user["id"]);
        Assert.True((long)user["createdAt"]! > 1_700_000_000_000);
        Assert.False(string.IsNullOrEmpty((string?)json["deviceId"]));

        var tokens = json["tokens"]!;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var accessExpires = (long)tokens["accessTokenExpiresAt"]!;
        var refreshExpires = (long)tokens["refreshTokenExpiresAt"]!;
        Assert.InRange(accessExpires - now, TimeSpan.FromMinutes(9).TotalMilliseconds, TimeSpan.FromMinutes(10).TotalMilliseconds + 1000);
        Assert.InRange(refreshExpires - now, TimeSpan.FromDays(29.9).TotalMilliseconds, TimeSpan.FromDays(30).TotalMilliseconds + 1000);

        var me = await Server.Me((string)tokens["accessToken"]!).Expect(HttpStatusCode.OK);
        Assert.Equal((string?)user["id"], (string?)me["id"]);
        Assert.Equal("reg@example.com", (string?)me["email"]);
    }

    [Fact]
    public async Task Register_validates_every_field_and_names_them()
    {
        var body = new JsonObject { ["username"] = "a b", ["password"] = "short", ["email"] = "not-an-email", ["nickname"] = "" };
        var problem = await Server.Send(HttpMethod.Post, "/api/auth/register", body: body).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var errors = problem["errors"]!.AsObject();
        Assert.Contains("username", errors.Select(e => e.Key));
        Assert.Contains("password", errors.Select(e => e.Key));
        Assert.Contains("email", errors.Select(e => e.Key));
        Assert.Contains("nickname", errors.Select(e => e.Key));

        await Server.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject { ["username"] = "ab", ["password"] = "long enough" })
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject { ["username"] = new string('x', 33), ["password"] = "long enough" })
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject { ["username"] = Api.NewUsername(), ["password"] = new string('p', 129) })
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject { ["password"] = "long enough" })
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Malformed_bodies_get_400_invalid_or_415_never_500()
    {
        await Server.PostRaw("/api/auth/register", "{not json").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.PostRaw("/api/auth/register", "[1,2,3]").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.PostRaw("/api/auth/register", "null").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.PostRaw("/api/auth/register", "").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var typed = await Server.PostRaw("/api/auth/login", """{"username": 5, "password": "x"}""").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.Contains("username", typed["errors"]!.AsObject().Select(e => e.Key));
        await Server.PostRaw("/api/auth/login", "username=a&password=b", "application/x-www-form-urlencoded")
            .ExpectProblem(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await Server.PostRaw("/api/auth/refresh", """{"refreshToken": {"a": 1}}""").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.PostRaw("/api/auth/logout", "{}").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.PostRaw("/api/auth/register", "{\"username\":\"" + new string('a', 2 * 1024 * 1024) + "\"}")
            .ExpectProblem(HttpStatusCode.RequestEntityTooLarge, "too_large");
        await Server.Send(HttpMethod.Get, "/api/no/such/thing").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Send(HttpMethod.Delete, "/api/auth/login").ExpectProblem(HttpStatusCode.MethodNotAllowed, "invalid");
    }

    [Fact]
    public async Task Strings_with_NUL_are_400_on_every_engine()
    {
        var user = await Server.RegisterAsync();
        await Server.PostRaw("/api/auth/login", """{"username":"\u0000carol","password":"whatever1"}""").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["bio"] = "a\u0000b" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["nickname"] = "a\u0000b" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Get, "/api/users/search?q=a%00b", user.AccessToken).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        // line breaks in a bio are fine
        var ok = await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["bio"] = "line one\nline two" }).Expect(HttpStatusCode.OK);
        Assert.Equal("line one\nline two", (string?)ok["bio"]);
    }

    [Fact]
    public async Task Strings_with_an_escaped_lone_surrogate_are_400_not_500()
    {
        var user = await Server.RegisterAsync();
        foreach (var body in new[] { """{"nickname":"a\ud800b"}""", """{"bio":"a\udc00"}""", """{"tags":["\ud800"]}""" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Patch, "/api/users/me") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
            request.Headers.Authorization = new("Bearer", user.AccessToken);
            using var response = await Server.Http.SendAsync(request, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("\"invalid\"", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }

        await Server.PostRaw("/api/auth/register", """{"username":"sur\ud800","password":"whatever1"}""").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Nicknames_lose_format_characters_and_may_not_be_another_users_username()
    {
        var victim = await Server.RegisterAsync();
        var user = await Server.RegisterAsync();
        var me = await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["nickname"] = "\u202Eevil\u200B" }).Expect(HttpStatusCode.OK);
        Assert.Equal("evil", (string?)me["nickname"]);
        await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["nickname"] = "\u2066\u200B" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["nickname"] = victim.Username.ToUpperInvariant() }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["nickname"] = "\u200B" + victim.Username }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        // one's own username is fine
        await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["nickname"] = user.Username.ToUpperInvariant() }).Expect(HttpStatusCode.OK);

        var body = new JsonObject { ["username"] = "imp" + Guid.NewGuid().ToString("N")[..12], ["password"] = "long enough password", ["nickname"] = victim.Username };
        await Server.Send(HttpMethod.Post, "/api/auth/register", body: body).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task A_huge_tag_list_is_refused()
    {
        var user = await Server.RegisterAsync();
        var tags = new JsonArray(Enumerable.Range(0, 50_000).Select(i => (JsonNode)JsonValue.Create("t" + i)!).ToArray());
        await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["tags"] = tags }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var many = string.Join(",", Enumerable.Range(0, 500).Select(i => "t" + i));
        await Server.Send(HttpMethod.Get, "/api/users/search?tags=" + many, user.AccessToken).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Api_answers_are_not_cacheable()
    {
        var user = await Server.RegisterAsync();
        using var me = await Server.Me(user.AccessToken);
        Assert.True(me.Headers.CacheControl?.NoStore);
        using var refreshed = await Server.Refresh(user.RefreshToken);
        Assert.True(refreshed.Headers.CacheControl?.NoStore);
    }

    [Fact]
    public async Task Duplicate_username_in_another_letter_case_is_409_username_taken()
    {
        var username = Api.NewUsername("Case");
        await Server.RegisterAsync(username);
        await Server.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject { ["username"] = username.ToUpperInvariant(), ["password"] = "long enough" })
            .ExpectProblem(HttpStatusCode.Conflict, "username_taken");
        await Server.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject { ["username"] = username.ToLowerInvariant(), ["password"] = "long enough" })
            .ExpectProblem(HttpStatusCode.Conflict, "username_taken");
    }

    [Fact]
    public async Task Concurrent_registrations_of_one_name_create_one_user()
    {
        var username = Api.NewUsername("Race");
        var attempts = Enumerable.Range(0, 6).Select(i => Server.Send(HttpMethod.Post, "/api/auth/register",
            body: new JsonObject { ["username"] = i % 2 == 0 ? username : username.ToUpperInvariant(), ["password"] = "long enough" }));
        var responses = await Task.WhenAll(attempts);
        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(5, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
    }

    [Fact]
    public async Task Login_is_case_insensitive_on_username_and_opens_a_new_device_session()
    {
        var user = await Server.RegisterAsync();
        var second = await Server.LoginAsync(user.Username.ToUpperInvariant(), user.Password, "laptop");
        Assert.Equal(user.Id, second.Id);
        Assert.NotEqual(user.DeviceId, second.DeviceId);
        await Server.Me(second.AccessToken).Expect(HttpStatusCode.OK);
        await Server.Me(user.AccessToken).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Wrong_password_and_unknown_user_give_identical_401_invalid_credentials()
    {
        var user = await Server.RegisterAsync();
        using var wrong = await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = "wrong password" });
        using var unknown = await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = Api.NewUsername("nobody"), ["password"] = "wrong password" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        var wrongBody = await wrong.Content.ReadAsStringAsync();
        Assert.Equal(wrongBody, await unknown.Content.ReadAsStringAsync());
        Assert.Equal("invalid_credentials", (string?)JsonNode.Parse(wrongBody)!["code"]);
    }

    [Fact]
    public async Task Refresh_rotates_the_pair_and_retires_the_old_token()
    {
        var user = await Server.RegisterAsync();
        var json = await Server.Refresh(user.RefreshToken).Expect(HttpStatusCode.OK);
        var tokens = json["tokens"]!;
        var newRefresh = (string)tokens["refreshToken"]!;
        var newAccess = (string)tokens["accessToken"]!;
        Assert.NotEqual(user.RefreshToken, newRefresh);
        await Server.Me(newAccess).Expect(HttpStatusCode.OK);

        // and the new one rotates again
        var third = await Server.Refresh(newRefresh).Expect(HttpStatusCode.OK);
        Assert.NotEqual(newRefresh, (string)third["tokens"]!["refreshToken"]!);
    }

    [Fact]
    public async Task A_retired_refresh_token_is_token_reused_and_kills_the_newer_token_too()
    {
        var user = await Server.RegisterAsync();
        var other = await Server.LoginAsync(user.Username, user.Password);
        var rotated = await Server.Refresh(user.RefreshToken).Expect(HttpStatusCode.OK);
        var newRefresh = (string)rotated["tokens"]!["refreshToken"]!;
        var newAccess = (string)rotated["tokens"]!["accessToken"]!;
        await Server.Me(newAccess).Expect(HttpStatusCode.OK); // the session is now cached as alive

        await Server.Refresh(user.RefreshToken).ExpectProblem(HttpStatusCode.Unauthorized, "token_reused");

        await Server.Refresh(newRefresh).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Me(newAccess).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Me(user.AccessToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        // other devices of the same user are not affected
        await Server.Me(other.AccessToken).Expect(HttpStatusCode.OK);
        await Server.Refresh(other.RefreshToken).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Concurrent_refreshes_of_one_token_leave_at_most_one_winner()
    {
        var user = await Server.RegisterAsync();
        var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Server.Refresh(user.RefreshToken)));
        // The database lets exactly one rotation through; every other presentation is a reuse...
        var winners = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
        Assert.Single(winners);
        Assert.Equal(3, responses.Count(r => r.StatusCode == HttpStatusCode.Unauthorized));
        // ...which revoked the session, so the winner's new token is dead as well.
        var token = (string)(await winners[0].Json())["tokens"]!["refreshToken"]!;
        await Server.Refresh(token).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Unknown_refresh_token_is_401()
    {
        await Server.Refresh("not-a-token-this-server-issued").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Refresh("").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Logout_revokes_the_device_session()
    {
        var user = await Server.RegisterAsync();
        var other = await Server.LoginAsync(user.Username, user.Password);
        await Server.Me(user.AccessToken).Expect(HttpStatusCode.OK); // the session is now cached as alive
        await Server.Send(HttpMethod.Post, "/api/auth/logout", body: new JsonObject { ["refreshToken"] = user.RefreshToken }).Expect(HttpStatusCode.NoContent);

        await Server.Refresh(user.RefreshToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Me(user.AccessToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Me(other.AccessToken).Expect(HttpStatusCode.OK);

        // idempotent, and silent about tokens it does not know
        await Server.Send(HttpMethod.Post, "/api/auth/logout", body: new JsonObject { ["refreshToken"] = user.RefreshToken }).Expect(HttpStatusCode.NoContent);
        await Server.Send(HttpMethod.Post, "/api/auth/logout", body: new JsonObject { ["refreshToken"] = "unknown" }).Expect(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Password_change_revokes_the_other_sessions_and_keeps_this_one()
    {
        var user = await Server.RegisterAsync();
        var phone = await Server.LoginAsync(user.Username, user.Password, "phone");
        var tablet = await Server.LoginAsync(user.Username, user.Password, "tablet");

        await Server.Send(HttpMethod.Put, "/api/users/me/password", user.AccessToken, new JsonObject { ["currentPassword"] = "wrong password", ["newPassword"] = "brand new password" })
            .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        await Server.Send(HttpMethod.Put, "/api/users/me/password", user.AccessToken, new JsonObject { ["currentPassword"] = user.Password, ["newPassword"] = "short" })
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Me(phone.AccessToken).Expect(HttpStatusCode.OK);

        await Server.Send(HttpMethod.Put, "/api/users/me/password", user.AccessToken, new JsonObject { ["currentPassword"] = user.Password, ["newPassword"] = "brand new password" })
            .Expect(HttpStatusCode.NoContent);

        await Server.Me(user.AccessToken).Expect(HttpStatusCode.OK);
        await Server.Refresh(user.RefreshToken).Expect(HttpStatusCode.OK);
        foreach (var other in new[] { phone, tablet })
        {
            await Server.Me(other.AccessToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
            await Server.Refresh(other.RefreshToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        }

        await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = user.Password })
            .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        await Server.LoginAsync(user.Username, "brand new password");
    }

    [Fact]
    public async Task Profile_can_be_read_and_patched()
    {
        var user = await Server.RegisterAsync(nickname: "Before");
        var patched = await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken,
            new JsonObject { ["nickname"] = "  After  ", ["bio"] = "hello", ["tags"] = new JsonArray("Go", "chess", "go") }).Expect(HttpStatusCode.OK);
        Assert.Equal("After", (string?)patched["nickname"]);
        Assert.Equal("hello", (string?)patched["bio"]);
        Assert.Equal(["chess", "go"], patched["tags"]!.AsArray().Select(t => (string)t!).Order());

        // absent fields stay; null clears
        var cleared = await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken, new JsonObject { ["bio"] = null, ["tags"] = null }).Expect(HttpStatusCode.OK);
        Assert.Equal("After", (string?)cleared["nickname"]);
        Assert.Equal("", (string?)cleared["bio"]);
        Assert.Empty(cleared["tags"]!.AsArray());

        var problem = await Server.Send(HttpMethod.Patch, "/api/users/me", user.AccessToken,
            new JsonObject { ["nickname"] = null, ["bio"] = new string('b', 501), ["tags"] = new JsonArray("has space"), ["avatarFileId"] = 12 })
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.Equal(["avatarFileId", "bio", "nickname", "tags"], problem["errors"]!.AsObject().Select(e => e.Key).Order());

        var publicView = await Server.Send(HttpMethod.Get, $"/api/users/{user.Id}", user.AccessToken).Expect(HttpStatusCode.OK);
        Assert.Equal("After", (string?)publicView["nickname"]);
        Assert.Null(publicView["email"]);
        Assert.False(publicView.AsObject().ContainsKey("email"));
    }

    [Fact]
    public async Task Unknown_or_garbage_user_ids_are_404()
    {
        var user = await Server.RegisterAsync();
        await Server.Send(HttpMethod.Get, "/api/users/123456789", user.AccessToken).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Send(HttpMethod.Get, "/api/users/not-an-id", user.AccessToken).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Send(HttpMethod.Get, "/api/users/-5", user.AccessToken).ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Search_matches_username_or_nickname_case_insensitively()
    {
        var marker = Guid.NewGuid().ToString("N")[..8];
        var byName = await Server.RegisterAsync("Srch" + marker + "a");
        var byNick = await Server.RegisterAsync(Api.NewUsername(), nickname: "Mr " + marker.ToUpperInvariant() + " Nick");
        await Server.RegisterAsync(); // not a match

        var found = await Server.Send(HttpMethod.Get, $"/api/users/search?q={marker.ToUpperInvariant()}", byName.AccessToken).Expect(HttpStatusCode.OK);
        var ids = found["items"]!.AsArray().Select(u => (string)u!["id"]!).ToList();
        Assert.Equal([byName.Id, byNick.Id], ids.Order());
        Assert.Null(found["nextCursor"]);
        Assert.False(found["items"]![0]!.AsObject().ContainsKey("email"));

        // LIKE wildcards in the query are literal characters
        var wildcard = await Server.Send(HttpMethod.Get, "/api/users/search?q=%25_", byName.AccessToken).Expect(HttpStatusCode.OK);
        Assert.Empty(wildcard["items"]!.AsArray());
    }

    [Fact]
    public async Task Search_by_tags_requires_all_of_them_and_pages()
    {
        var t1 = "t" + Guid.NewGuid().ToString("N")[..8];
        var t2 = "t" + Guid.NewGuid().ToString("N")[..8];
        var both = new List<TestUser>();
        for (var i = 0; i < 3; i++)
        {
            var u = await Server.RegisterAsync();
            await Server.Send(HttpMethod.Patch, "/api/users/me", u.AccessToken, new JsonObject { ["tags"] = new JsonArray(t1, t2, "extra") }).Expect(HttpStatusCode.OK);
            both.Add(u);
        }

        var onlyOne = await Server.RegisterAsync();
        await Server.Send(HttpMethod.Patch, "/api/users/me", onlyOne.AccessToken, new JsonObject { ["tags"] = new JsonArray(t1) }).Expect(HttpStatusCode.OK);

        var all = await Server.Send(HttpMethod.Get, $"/api/users/search?tags={t1},{t2.ToUpperInvariant()}", onlyOne.AccessToken).Expect(HttpStatusCode.OK);
        Assert.Equal(both.Select(u => u.Id).Order(), all["items"]!.AsArray().Select(u => (string)u!["id"]!).Order());

        var single = await Server.Send(HttpMethod.Get, $"/api/users/search?tags={t1}", onlyOne.AccessToken).Expect(HttpStatusCode.OK);
        Assert.Equal(4, single["items"]!.AsArray().Count);

        // paging: 2 + 2 with a cursor, no overlap
        var page1 = await Server.Send(HttpMethod.Get, $"/api/users/search?tags={t1}&limit=2", onlyOne.AccessToken).Expect(HttpStatusCode.OK);
        var cursor = (string?)page1["nextCursor"];
        Assert.NotNull(cursor);
        var page2 = await Server.Send(HttpMethod.Get, $"/api/users/search?tags={t1}&limit=2&cursor={cursor}", onlyOne.AccessToken).Expect(HttpStatusCode.OK);
        Assert.Null(page2["nextCursor"]);
        var paged = page1["items"]!.AsArray().Concat(page2["items"]!.AsArray()).Select(u => (string)u!["id"]!).ToList();
        Assert.Equal(4, paged.Distinct().Count());

        // combined with text
        var combined = await Server.Send(HttpMethod.Get, $"/api/users/search?q={onlyOne.Username}&tags={t1}", onlyOne.AccessToken).Expect(HttpStatusCode.OK);
        Assert.Equal([onlyOne.Id], combined["items"]!.AsArray().Select(u => (string)u!["id"]!));

        await Server.Send(HttpMethod.Get, "/api/users/search?q=x&limit=0", onlyOne.AccessToken).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Get, "/api/users/search?q=x&cursor=zzz", onlyOne.AccessToken).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Missing_malformed_and_wrongly_signed_access_tokens_are_401()
    {
        var user = await Server.RegisterAsync();
        await Server.Send(HttpMethod.Get, "/api/users/me").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Me("garbage").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Me("a.b.c").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        // the same claims signed with another key
        var parts = user.AccessToken.Split('.');
        var forged = Tokens.SignHs256(parts[0], parts[1], System.Security.Cryptography.RandomNumberGenerator.GetBytes(64));
        await Server.Me(forged).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        // an alg=none token with the same payload
        var none = Tokens.Base64Url("""{"alg":"none","typ":"at+jwt"}"""u8.ToArray()) + "." + parts[1] + ".";
        await Server.Me(none).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        // a refresh token is not an access token
        await Server.Me(user.RefreshToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/users/me");
        request.Headers.TryAddWithoutValidation("Authorization", "Basic dXNlcjpwYXNz");
        using var basic = await Server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, basic.StatusCode);

        await Server.Me(user.AccessToken).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Logins_racing_a_password_change_never_leave_a_live_session()
    {
        var user = await Server.RegisterAsync();
        using var stop = new CancellationTokenSource();
        var tokens = new System.Collections.Concurrent.ConcurrentBag<string>();
        var loggedIn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var loginLoops = Enumerable.Range(0, 3).Select(async _ =>
        {
            for (var i = 0; i < 50 && !stop.IsCancellationRequested; i++)
            {
                using var response = await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = user.Password });
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    return; // the password has changed
                }

                tokens.Add((string)(await response.Json())["tokens"]!["accessToken"]!);
                loggedIn.TrySetResult();
            }
        }).ToList();

        await loggedIn.Task.WaitAsync(TimeSpan.FromSeconds(30)); // the race is on: logins are going through
        await Server.Send(HttpMethod.Put, "/api/users/me/password", user.AccessToken, new JsonObject { ["currentPassword"] = user.Password, ["newPassword"] = "a different password" })
            .Expect(HttpStatusCode.NoContent);
        await stop.CancelAsync();
        await Task.WhenAll(loginLoops);

        Assert.NotEmpty(tokens);
        foreach (var token in tokens)
        {
            await Server.Me(token).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        }

        await Server.Me(user.AccessToken).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Repeated_failed_logins_are_rate_limited_per_username_but_successes_are_not()
    {
        var user = await Server.RegisterAsync();
        for (var i = 0; i < 3; i++)
        {
            await Server.LoginAsync(user.Username, user.Password);
        }

        for (var i = 0; i < 10; i++)
        {
            await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = "wrong password" })
                .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        }

        using var limited = await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = user.Password });
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("rate_limited", (string?)(await limited.Json())["code"]);
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero);

        // concurrent guesses cannot slip past the limit either
        var second = await Server.RegisterAsync();
        var guesses = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ =>
            Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = second.Username, ["password"] = "wrong password" })));
        Assert.Equal(10, guesses.Count(r => r.StatusCode == HttpStatusCode.Unauthorized));
        Assert.Equal(20, guesses.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests));

        // another user from the same address is still fine
        var other = await Server.RegisterAsync();
        await Server.LoginAsync(other.Username, other.Password);
        // and refreshing is never limited
        await Server.Refresh(user.RefreshToken).Expect(HttpStatusCode.OK);
    }
}
