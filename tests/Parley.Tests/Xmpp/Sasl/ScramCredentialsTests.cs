using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Parley.Server.Xmpp.Sasl;
using Parley.Storage;
using Parley.Storage.Accounts;
using Parley.Tests.Admin;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp.Sasl;

public sealed class ScramCredentialsFixtureSqlite : ScramCredentialsFixture
{
    public override Backend Backend => Backend.Sqlite;
}

public sealed class ScramCredentialsFixturePostgres : ScramCredentialsFixture
{
    public override Backend Backend => Backend.Postgres;
}

/// <summary>The class's server, with an app-server key for the import call.</summary>
public abstract class ScramCredentialsFixture : ServerFixture
{
    public const string AdminKey = "scram-tests-admin-key-0123456789";

    protected override string[] ExtraArgs => [$"--Admin:ApiKeys:0={AdminKey}"];
}

public sealed class ScramCredentialsTestsSqlite(ScramCredentialsFixtureSqlite fixture) : ScramCredentialsTests(fixture), IClassFixture<ScramCredentialsFixtureSqlite>;

public sealed class ScramCredentialsTestsPostgres(ScramCredentialsFixturePostgres fixture) : ScramCredentialsTests(fixture), IClassFixture<ScramCredentialsFixturePostgres>;

/// <summary>
/// SCRAM-SHA-256 keys as the server stores them: made at registration, import, change and first login; replaced by a
/// change; checked by slixmpp's SCRAM client against the server's mechanism, and counted by the HTTP login's throttle.
/// </summary>
public abstract class ScramCredentialsTests(ScramCredentialsFixture fixture) : BackendTests(fixture)
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>One exchange from a documentation address of its own, so tests do not share throttle windows.</summary>
    private Task<SaslFailure> ScramAsync(string username, string password, string address = "192.0.2.10") =>
        SlixmppScram.AuthenticateAsync(Server.Service<ScramSha256Mechanism>().Start(address, "example.test"), username, password);

    private async Task<string?> StoredAsync(string username) =>
        (await Server.Service<UserStore>().FindScramAsync(username, Cancel))!.ScramSha256;

    private async Task SetStoredAsync(string username, string? value)
    {
        await using var connection = await Server.Service<Database>().OpenAsync(Cancel);
        Assert.Equal(1, await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE users SET scram_sha256 = @value WHERE username_key = @key", new { value, key = UserStore.UsernameKey(username) }, cancellationToken: Cancel)));
    }

    [Fact]
    public async Task A_registered_user_has_keys_that_slixmpp_logs_in_with()
    {
        var user = await Server.RegisterAsync(password: "correct horse battery");
        var stored = await StoredAsync(user.Username);
        Assert.True(ScramCredential.TryParse(stored, out var credential));
        Assert.Equal(4096, credential.Iterations);
        Assert.Equal(16, credential.Salt.Length);
        Assert.DoesNotContain("correct horse battery", stored!, StringComparison.Ordinal);

        Assert.Equal(SaslFailure.None, await ScramAsync(user.Username, "correct horse battery"));
        Assert.Equal(SaslFailure.None, await ScramAsync(user.Username.ToUpperInvariant(), "correct horse battery"));
        Assert.Equal(SaslFailure.NotAuthorized, await ScramAsync(user.Username, "correct horse batter"));
        // slixmpp with an authzid: the user's own bare JID is accepted, another's is not.
        var mechanism = Server.Service<ScramSha256Mechanism>();
        Assert.Equal(SaslFailure.None, await SlixmppScram.AuthenticateAsync(mechanism.Start("192.0.2.10", "example.test"), user.Username, "correct horse battery", user.Username + "@example.test"));
        Assert.Equal(SaslFailure.InvalidAuthzid, await SlixmppScram.AuthenticateAsync(mechanism.Start("192.0.2.10", "example.test"), user.Username, "correct horse battery", "someone@example.test"));
        Assert.Equal(SaslFailure.NotAuthorized, await ScramAsync(Api.NewUsername("nobody"), "correct horse battery"));
        Assert.Equal(stored, await StoredAsync(user.Username)); // a current key is not re-made at login
        await Server.LoginAsync(user.Username, "correct horse battery");
        Assert.Equal(stored, await StoredAsync(user.Username));
    }

    [Fact]
    public async Task A_password_slixmpp_saslpreps_logs_in_with_the_keys_of_its_mapping()
    {
        // A no-break space and a soft hyphen: SASLprep maps them (to a space, to nothing) on both sides.
        var user = await Server.RegisterAsync(password: "p\u00E4ssw\u00F6rd\u00A0mit Stra\u00DFe\u00AD!");
        Assert.NotNull(await StoredAsync(user.Username));
        Assert.Equal(SaslFailure.None, await ScramAsync(user.Username, "p\u00E4ssw\u00F6rd\u00A0mit Stra\u00DFe\u00AD!"));
        Assert.Equal(SaslFailure.None, await ScramAsync(user.Username, "p\u00E4ssw\u00F6rd mit Stra\u00DFe!"));

        // A password SASLprep refuses (a tab) still registers and logs in over HTTP; it has no keys.
        var tabbed = await Server.RegisterAsync(password: "tab\tin the password");
        Assert.Null(await StoredAsync(tabbed.Username));
        await Server.LoginAsync(tabbed.Username, "tab\tin the password");
        Assert.Null(await StoredAsync(tabbed.Username));
    }

    [Fact]
    public async Task A_password_change_replaces_the_keys_and_the_old_password_no_longer_works()
    {
        var user = await Server.RegisterAsync(password: "the first password");
        var before = await StoredAsync(user.Username);
        await Server.Send(HttpMethod.Put, "/api/users/me/password", user.AccessToken, new JsonObject { ["currentPassword"] = "the first password", ["newPassword"] = "the second password" })
            .Expect(HttpStatusCode.NoContent);

        var after = await StoredAsync(user.Username);
        Assert.True(ScramCredential.TryParse(after, out var credential));
        Assert.True(ScramCredential.TryParse(before, out var old));
        Assert.NotEqual(old.Salt, credential.Salt);
        Assert.Equal(SaslFailure.NotAuthorized, await ScramAsync(user.Username, "the first password"));
        Assert.Equal(SaslFailure.None, await ScramAsync(user.Username, "the second password"));

        Assert.NotEqual(old.StoredKey, credential.StoredKey);
    }

    [Fact]
    public async Task Keys_made_by_a_login_that_lost_a_race_with_a_password_change_are_not_stored()
    {
        var user = await Server.RegisterAsync(password: "the racing password");
        var users = Server.Service<UserStore>();
        var oldHash = (await users.FindByUsernameAsync(user.Username, Cancel))!.PasswordHash;
        var id = (await users.FindScramAsync(user.Username, Cancel))!.Id;
        await Server.Send(HttpMethod.Put, "/api/users/me/password", user.AccessToken, new JsonObject { ["currentPassword"] = "the racing password", ["newPassword"] = "the winning password" })
            .Expect(HttpStatusCode.NoContent);
        var changed = await StoredAsync(user.Username);

        // A login that verified the old password against the old hash comes to store keys only now.
        var late = ScramCredential.Derive("the racing password", new byte[16], 4096)!.Format();
        Assert.False(await users.SetScramAsync(id, oldHash, late, Cancel));
        Assert.Equal(changed, await StoredAsync(user.Username));
        Assert.Equal(SaslFailure.NotAuthorized, await ScramAsync(user.Username, "the racing password"));

        // With the hash it verified still in place, it does store them.
        var newHash = (await users.FindByUsernameAsync(user.Username, Cancel))!.PasswordHash;
        var fresh = ScramCredential.Derive("the winning password", new byte[16], 4096)!.Format();
        Assert.True(await users.SetScramAsync(id, newHash, fresh, Cancel));
        Assert.Equal(fresh, await StoredAsync(user.Username));
    }

    [Fact]
    public async Task A_user_from_before_the_keys_gets_them_at_the_next_right_login_only()
    {
        var user = await Server.RegisterAsync(password: "an older password");
        await SetStoredAsync(user.Username, null);
        Assert.Equal(SaslFailure.NotAuthorized, await ScramAsync(user.Username, "an older password"));

        await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = "not it at all" })
            .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        Assert.Null(await StoredAsync(user.Username));

        await Server.LoginAsync(user.Username, "an older password");
        Assert.True(ScramCredential.TryParse(await StoredAsync(user.Username), out _));
        Assert.Equal(SaslFailure.None, await ScramAsync(user.Username, "an older password"));
    }

    [Fact]
    public async Task Keys_of_another_iteration_count_or_damaged_ones_are_made_again_at_login()
    {
        var user = await Server.RegisterAsync(password: "a password of old");
        var fewer = ScramCredential.Derive("a password of old", new byte[16], 5000)!.Format();
        await SetStoredAsync(user.Username, fewer);
        Assert.Equal(SaslFailure.None, await ScramAsync(user.Username, "a password of old")); // they still work as they are

        await Server.LoginAsync(user.Username, "a password of old");
        Assert.True(ScramCredential.TryParse(await StoredAsync(user.Username), out var remade));
        Assert.Equal(4096, remade.Iterations);
        Assert.NotEqual(new byte[16], remade.Salt);

        await SetStoredAsync(user.Username, "$scram-sha-256$i=4096$damaged");
        Assert.Equal(SaslFailure.NotAuthorized, await ScramAsync(user.Username, "a password of old"));
        await Server.LoginAsync(user.Username, "a password of old");
        Assert.Equal(SaslFailure.None, await ScramAsync(user.Username, "a password of old"));
    }

    [Fact]
    public async Task An_imported_user_with_a_password_has_keys_and_one_without_has_none()
    {
        var withPassword = Api.NewUsername("imp");
        await Server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = withPassword, ["password"] = "imported password" }, ScramCredentialsFixture.AdminKey)
            .Expect(HttpStatusCode.Created);
        Assert.Equal(SaslFailure.None, await ScramAsync(withPassword, "imported password"));

        var without = Api.NewUsername("imp");
        await Server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = without }, ScramCredentialsFixture.AdminKey)
            .Expect(HttpStatusCode.Created);
        Assert.Null(await StoredAsync(without));
    }

    [Fact]
    public async Task A_disabled_account_with_the_right_password_is_account_disabled()
    {
        var user = await Server.RegisterAsync(password: "soon disabled password");
        await using (var connection = await Server.Service<Database>().OpenAsync(Cancel))
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE users SET disabled_at = 1 WHERE username_key = @key", new { key = UserStore.UsernameKey(user.Username) }, cancellationToken: Cancel));
        }

        Assert.Equal(SaslFailure.AccountDisabled, await ScramAsync(user.Username, "soon disabled password"));
        Assert.Equal(SaslFailure.NotAuthorized, await ScramAsync(user.Username, "not the password"));
    }

    [Fact]
    public async Task Failed_http_logins_and_scram_attempts_share_one_throttle()
    {
        var user = await Server.RegisterAsync(password: "the real password");
        var limit = new Parley.Server.Accounts.AuthOptions().LoginFailuresPerUsernameAndAddress;
        // The HTTP tests come from 127.0.0.1: half the failures over HTTP, the rest over SCRAM from the same address.
        for (var i = 0; i < limit / 2; i++)
        {
            await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = "wrong " + i })
                .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        }

        for (var i = limit / 2; i < limit; i++)
        {
            Assert.Equal(SaslFailure.NotAuthorized, await ScramAsync(user.Username, "wrong " + i, "127.0.0.1"));
        }

        Assert.Equal(SaslFailure.TemporaryAuthFailure, await ScramAsync(user.Username, "the real password", "127.0.0.1"));
        await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = "the real password" })
            .ExpectProblem(HttpStatusCode.TooManyRequests, "rate_limited");
        // Another user from the same addresses is not held up by the per-username windows.
        var other = await Server.RegisterAsync(password: "another real password");
        Assert.Equal(SaslFailure.None, await ScramAsync(other.Username, "another real password", "192.0.2.77"));
    }
}
