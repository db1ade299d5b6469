using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Storage;
using Parley.Storage.Accounts;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Accounts;

public sealed class PasswordHashingTestsSqlite() : PasswordHashingTests(Backend.Sqlite);

public sealed class PasswordHashingTestsPostgres() : PasswordHashingTests(Backend.Postgres);

/// <summary>
/// Argon2id hashes as stored, the move from PBKDF2 at the next login, and the bound on hashes computed at once.
/// Each test starts its own servers: the settings under test differ, and a held hashing slot must not hold up anyone else.
/// </summary>
public abstract class PasswordHashingTests(Backend backend) : OwnServerTests(backend)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task New_passwords_are_stored_as_argon2id_at_the_configured_cost_and_a_change_keeps_them_so()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Auth:Argon2MemoryKiB=12288", "--Auth:Argon2Iterations=3");
        var user = await server.RegisterAsync();

        var stored = await StoredHashAsync(server, user.Username);
        Assert.StartsWith("$argon2id$v=19$m=12288,t=3,p=1$", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(user.Password, stored, StringComparison.Ordinal);

        await server.Send(HttpMethod.Put, "/api/users/me/password", user.AccessToken, new JsonObject { ["currentPassword"] = user.Password, ["newPassword"] = "a new long password" })
            .Expect(HttpStatusCode.NoContent);
        var changed = await StoredHashAsync(server, user.Username);
        Assert.StartsWith("$argon2id$v=19$m=12288,t=3,p=1$", changed, StringComparison.Ordinal);
        Assert.NotEqual(stored, changed);

        await server.LoginAsync(user.Username, "a new long password");
        await WrongLogin(server, user.Username, user.Password);
        Assert.Equal(changed, await StoredHashAsync(server, user.Username)); // a current hash is not re-hashed at login
    }

    [Fact]
    public async Task An_old_pbkdf2_user_logs_in_is_rehashed_to_argon2id_and_logs_in_again()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null);
        var (username, password) = await CreatePbkdf2UserAsync(server);
        var old = await StoredHashAsync(server, username);

        await WrongLogin(server, username, "not the password");
        Assert.Equal(old, await StoredHashAsync(server, username)); // a failed login changes nothing

        var first = await server.LoginAsync(username, password);
        var upgraded = await StoredHashAsync(server, username);
        Assert.StartsWith("$argon2id$v=19$m=19456,t=2,p=1$", upgraded, StringComparison.Ordinal);

        var second = await server.LoginAsync(username, password);
        Assert.Equal(upgraded, await StoredHashAsync(server, username));
        await WrongLogin(server, username, "not the password");
        await server.Me(first.AccessToken).Expect(HttpStatusCode.OK);
        await server.Me(second.AccessToken).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task An_old_pbkdf2_user_can_change_the_password_and_gets_argon2id()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null);
        var (username, password) = await CreatePbkdf2UserAsync(server);
        var old = await StoredHashAsync(server, username);
        var session = await server.LoginAsync(username, password);

        // The login upgraded the hash; a change from a session made before that must still check against the stored one.
        await server.Send(HttpMethod.Put, "/api/users/me/password", session.AccessToken, new JsonObject { ["currentPassword"] = "wrong one", ["newPassword"] = "a new long password" })
            .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        await server.Send(HttpMethod.Put, "/api/users/me/password", session.AccessToken, new JsonObject { ["currentPassword"] = password, ["newPassword"] = "a new long password" })
            .Expect(HttpStatusCode.NoContent);
        var changed = await StoredHashAsync(server, username);
        Assert.NotEqual(old, changed);
        Assert.StartsWith(PasswordHashing.Argon2Prefix, changed, StringComparison.Ordinal);
        await WrongLogin(server, username, password);
        await server.LoginAsync(username, "a new long password");
    }

    [Fact]
    public async Task Argon2id_hashes_weaker_than_the_settings_are_rehashed_at_login_and_stronger_ones_are_kept()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        TestUser user;
        await using (var weak = await ParleyServer.StartAsync(store, null, "--Auth:Argon2MemoryKiB=64", "--Auth:Argon2Iterations=1", "--Auth:AllowWeakPasswordHashes=true"))
        {
            user = await weak.RegisterAsync();
            Assert.StartsWith("$argon2id$v=19$m=64,t=1,p=1$", await StoredHashAsync(weak, user.Username), StringComparison.Ordinal);
        }

        string strong;
        await using (var server = await ParleyServer.StartAsync(store, null))
        {
            await WrongLogin(server, user.Username, "not the password");
            Assert.StartsWith("$argon2id$v=19$m=64,t=1,p=1$", await StoredHashAsync(server, user.Username), StringComparison.Ordinal);
            await server.LoginAsync(user.Username, user.Password);
            strong = await StoredHashAsync(server, user.Username);
            Assert.StartsWith("$argon2id$v=19$m=19456,t=2,p=1$", strong, StringComparison.Ordinal);
        }

        // Lower settings later do not weaken hashes already made.
        await using (var lower = await ParleyServer.StartAsync(store, null, "--Auth:Argon2MemoryKiB=64", "--Auth:Argon2Iterations=1", "--Auth:AllowWeakPasswordHashes=true"))
        {
            await lower.LoginAsync(user.Username, user.Password);
            Assert.Equal(strong, await StoredHashAsync(lower, user.Username));
        }
    }

    [Fact]
    public async Task Beyond_the_bound_register_login_and_password_change_wait_then_get_503_unavailable_with_retry_after()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Auth:MaxConcurrentHashes=1", "--Auth:HashQueueWaitMs=50");
        var hashing = server.Service<PasswordHashing>();
        Assert.Equal(1, hashing.Bound);
        var user = await server.RegisterAsync();

        var held = await hashing.HoldSlotAsync(TestContext.Current.CancellationToken).WaitAsync(Timeout);
        // Two waves of Auth:LoginFailuresPerUsername (10) concurrent logins: attempts in flight count against the limit,
        // but none of the first wave reached a password check, so none may still count when the second comes.
        for (var wave = 0; wave < 2; wave++)
        {
            var logins = Enumerable.Range(0, 10).Select(_ => Busy(server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = user.Password })));
            await Task.WhenAll(logins).WaitAsync(Timeout);
        }

        var register = Busy(server.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject { ["username"] = Api.NewUsername(), ["password"] = "long enough" }));
        var change = Busy(server.Send(HttpMethod.Put, "/api/users/me/password", user.AccessToken, new JsonObject { ["currentPassword"] = user.Password, ["newPassword"] = "a new long password" }));
        var unknown = Busy(server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = Api.NewUsername("nobody"), ["password"] = "whatever" }));
        await Task.WhenAll(register, change, unknown).WaitAsync(Timeout);
        held.Dispose();

        // With the slot free again every one of them goes through, and nobody was locked out by the 503s.
        await server.LoginAsync(user.Username, user.Password);
        await server.RegisterAsync();
        await server.Send(HttpMethod.Put, "/api/users/me/password", user.AccessToken, new JsonObject { ["currentPassword"] = user.Password, ["newPassword"] = "a new long password" })
            .Expect(HttpStatusCode.NoContent);
        Assert.Equal(1, hashing.PeakRunning);

        var doc = await server.Send(HttpMethod.Get, "/openapi/v1.json").Expect(HttpStatusCode.OK);
        Assert.NotNull(doc["paths"]!["/api/auth/register"]!["post"]!["responses"]!["503"]);
        Assert.NotNull(doc["paths"]!["/api/auth/login"]!["post"]!["responses"]!["503"]);
        Assert.NotNull(doc["paths"]!["/api/users/me/password"]!["put"]!["responses"]!["503"]);
    }

    [Fact]
    public async Task Concurrent_registrations_and_logins_never_run_more_hashes_at_once_than_the_bound()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Auth:MaxConcurrentHashes=2", "--Auth:HashQueueWaitMs=60000", "--Auth:RegistrationsPerAddress=1000");
        var hashing = server.Service<PasswordHashing>();

        var users = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => server.RegisterAsync())).WaitAsync(Timeout);
        var logins = await Task.WhenAll(users.Concat(users).Select(u => server.LoginAsync(u.Username, u.Password))).WaitAsync(Timeout);

        Assert.Equal(16, logins.Length);
        Assert.InRange(hashing.PeakRunning, 1, 2);
    }

    [Fact]
    public async Task Two_logins_racing_to_upgrade_one_old_pbkdf2_hash_both_succeed()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Auth:MaxConcurrentHashes=1", "--Auth:HashQueueWaitMs=60000");
        var hashing = server.Service<PasswordHashing>();
        var (username, password) = await CreatePbkdf2UserAsync(server);

        // Both logins read the old hash, then wait for the only slot: the first upgrades it, the second's upgrade
        // finds it changed and must check against the upgraded hash instead of failing.
        var held = await hashing.HoldSlotAsync(TestContext.Current.CancellationToken).WaitAsync(Timeout);
        var waiting = WaitersReached(hashing, 2);
        var racing = Enumerable.Range(0, 2).Select(i => server.LoginAsync(username, password, "device " + i)).ToList();
        await waiting.WaitAsync(Timeout);
        held.Dispose();
        var sessions = await Task.WhenAll(racing).WaitAsync(Timeout);

        Assert.StartsWith("$argon2id$v=19$m=19456,t=2,p=1$", await StoredHashAsync(server, username), StringComparison.Ordinal);
        foreach (var session in sessions)
        {
            await server.Me(session.AccessToken).Expect(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task A_login_upgrading_an_old_pbkdf2_hash_while_the_password_changes_leaves_no_live_session()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Auth:MaxConcurrentHashes=1", "--Auth:HashQueueWaitMs=60000");
        var hashing = server.Service<PasswordHashing>();
        var (username, password) = await CreatePbkdf2UserAsync(server);
        var owner = await server.LoginAsync(username, password); // this upgrades the hash; put the old one back
        var users = server.Service<UserStore>();
        var row = await users.FindByUsernameAsync(username, TestContext.Current.CancellationToken);
        var (_, oldHash) = Pbkdf2(password);
        Assert.True(await users.UpgradePasswordHashAsync(row!.Id, row.PasswordHash, oldHash, 0, TestContext.Current.CancellationToken));

        var held = await hashing.HoldSlotAsync(TestContext.Current.CancellationToken).WaitAsync(Timeout);
        var waiting = WaitersReached(hashing, 2);
        var login = server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = username, ["password"] = password });
        var change = server.Send(HttpMethod.Put, "/api/users/me/password", owner.AccessToken, new JsonObject { ["currentPassword"] = password, ["newPassword"] = "a new long password" });
        await waiting.WaitAsync(Timeout);
        held.Dispose();

        await change.Expect(HttpStatusCode.NoContent).WaitAsync(Timeout);
        using var loginResponse = await login.WaitAsync(Timeout);
        if (loginResponse.StatusCode == HttpStatusCode.OK)
        {
            // it finished first: the change revoked it
            var token = (string)(await loginResponse.Json())["tokens"]!["accessToken"]!;
            await server.Me(token).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        }
        else
        {
            Assert.Equal(HttpStatusCode.Unauthorized, loginResponse.StatusCode);
        }

        await server.Me(owner.AccessToken).Expect(HttpStatusCode.OK);
        await server.LoginAsync(username, "a new long password");
    }

    [Fact]
    public void Settings_below_owasp_are_refused_unless_explicitly_allowed()
    {
        static PasswordHashing Make(AuthOptions o) => new(Options.Create(o), NullLogger<PasswordHashing>.Instance);

        var refused = Assert.Throws<InvalidOperationException>(() => Make(new AuthOptions { Argon2MemoryKiB = 19456, Argon2Iterations = 1 }));
        Assert.Contains("OWASP", refused.Message, StringComparison.Ordinal);
        Assert.Contains("Auth:AllowWeakPasswordHashes", refused.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => Make(new AuthOptions { Argon2MemoryKiB = 4096, Argon2Iterations = 10 }));
        Assert.Throws<InvalidOperationException>(() => Make(new AuthOptions { Argon2MemoryKiB = 4, Argon2Iterations = 1, AllowWeakPasswordHashes = true }));
        Assert.Throws<InvalidOperationException>(() => Make(new AuthOptions { Argon2Iterations = 0, AllowWeakPasswordHashes = true }));
        Assert.Throws<InvalidOperationException>(() => Make(new AuthOptions { MaxConcurrentHashes = 0 }));
        var tooMany = Assert.Throws<InvalidOperationException>(() => Make(new AuthOptions { MaxConcurrentHashes = PasswordHashing.MaxBound + 1 }));
        Assert.Contains("Auth:MaxConcurrentHashes", tooMany.Message, StringComparison.Ordinal);
        using (var most = Make(new AuthOptions { MaxConcurrentHashes = PasswordHashing.MaxBound }))
        {
            Assert.Equal(PasswordHashing.MaxBound, most.Bound);
        }

        Assert.Throws<InvalidOperationException>(() => Make(new AuthOptions { HashQueueWaitMs = -1 }));

        using var weak = Make(new AuthOptions { Argon2MemoryKiB = 64, Argon2Iterations = 1, AllowWeakPasswordHashes = true });
        using var defaults = Make(new AuthOptions());
        Assert.Equal(Environment.ProcessorCount, defaults.Bound);
        foreach (var (memory, iterations) in PasswordHashing.OwaspMinimums)
        {
            Assert.True(PasswordHashing.MeetsOwasp(memory, iterations));
            Assert.False(PasswordHashing.MeetsOwasp(memory - 1, iterations));
        }
    }

    [Fact]
    public void Phc_parameters_are_read_and_anything_else_is_not_an_argon2id_hash()
    {
        Assert.True(PasswordHashing.TryReadParameters("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", out var m, out var t));
        Assert.Equal((19456, 2), (m, t));
        Assert.False(PasswordHashing.TryReadParameters("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", out _, out _));
        Assert.False(PasswordHashing.TryReadParameters("$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", out _, out _));
        Assert.False(PasswordHashing.TryReadParameters("$argon2id$v=19$m=-1,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", out _, out _));
        Assert.False(PasswordHashing.TryReadParameters("AQAAAAIAAYagAAAAE", out _, out _));
    }

    private static async Task Busy(Task<HttpResponseMessage> call)
    {
        using var response = await call;
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"expected 503 but got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("unavailable", (string?)JsonNode.Parse(text)!["code"]);
        Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter?.Delta);
    }

    private static Task WrongLogin(ParleyServer server, string username, string password) =>
        server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = username, ["password"] = password })
            .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");

    private static async Task<string> StoredHashAsync(ParleyServer server, string username) =>
        (await server.Service<UserStore>().FindByUsernameAsync(username, TestContext.Current.CancellationToken))!.PasswordHash;

    /// <summary>A hash as earlier Parley versions stored it: ASP.NET Core Identity V3, PBKDF2-SHA512, 100,000 iterations.</summary>
    private static (PasswordHasher<UserRow> Hasher, string Hash) Pbkdf2(string password)
    {
        var hasher = new PasswordHasher<UserRow>(Options.Create(new PasswordHasherOptions { IterationCount = 100_000 }));
        return (hasher, hasher.HashPassword(new UserRow(), password));
    }

    /// <summary>A user inserted through the server's own store with a PBKDF2 hash, as an upgraded installation has them.</summary>
    private static async Task<(string Username, string Password)> CreatePbkdf2UserAsync(ParleyServer server)
    {
        var username = Api.NewUsername("old");
        const string password = "an old password";
        var (hasher, hash) = Pbkdf2(password);
        Assert.Equal(0x01, Convert.FromBase64String(hash)[0]); // the V3 format
        Assert.NotEqual(PasswordVerificationResult.Failed, hasher.VerifyHashedPassword(new UserRow(), hash, password));
        var created = await server.Service<UserStore>().CreateAsync(
            new UserRow
            {
                Id = server.Service<IdGenerator>().Next(),
                Username = username,
                Nickname = username,
                PasswordHash = hash,
                CreatedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            },
            TestContext.Current.CancellationToken);
        Assert.True(created);
        return (username, password);
    }

    /// <summary>Completes once <paramref name="count"/> callers have started waiting for a hashing slot.</summary>
    private static Task WaitersReached(PasswordHashing hashing, int count)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = 0;
        hashing.WaitingForSlot = () =>
        {
            if (Interlocked.Increment(ref seen) == count)
            {
                reached.TrySetResult();
            }
        };
        return reached.Task;
    }
}
