using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Parley.Server.Email;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Accounts;

/// <summary>One real SMTP server (aiosmtpd) and one Parley server with a hand-moved clock per class and backend.</summary>
public abstract class EmailFixture : IAsyncLifetime
{
    private TestStore? _store;
    private ParleyServer? _server;
    private SmtpSink? _sink;

    public abstract Backend Backend { get; }

    public bool Available => Backend == Backend.Sqlite || TestStore.PostgresAdminConnectionString is not null;

    public ManualTime Time { get; } = new();

    public ParleyServer Server => _server ?? throw new InvalidOperationException("The server did not start.");

    public SmtpSink Sink => _sink ?? throw new InvalidOperationException("The SMTP sink did not start.");

    public async ValueTask InitializeAsync()
    {
        if (!Available)
        {
            return;
        }

        _sink = await SmtpSink.StartAsync();
        _store = await TestStore.CreateAsync(Backend);
        _server = await ParleyServer.StartAsync(
            _store,
            Time,
            // Every test of the class calls from 127.0.0.1: the per-client reset limits have a test (and server) of their own.
            _sink.ServerArgs(
                "--Auth:LoginFailuresPerAddress=1000000",
                "--Auth:RegistrationsPerAddress=1000000",
                "--Email:ResetRequestsPerClientPerHour=1000000",
                "--Email:ResetConfirmsPerClientPerHour=1000000"));
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        if (_sink is not null)
        {
            await _sink.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }
}

public sealed class EmailFixtureSqlite : EmailFixture
{
    public override Backend Backend => Backend.Sqlite;
}

public sealed class EmailFixturePostgres : EmailFixture
{
    public override Backend Backend => Backend.Postgres;
}

public sealed class EmailTestsSqlite(EmailFixtureSqlite fixture) : EmailTests(fixture), IClassFixture<EmailFixtureSqlite>;

public sealed class EmailTestsPostgres(EmailFixturePostgres fixture) : EmailTests(fixture), IClassFixture<EmailFixturePostgres>;

/// <summary>
/// Email verification and password reset against a real SMTP server on loopback: the tests read the mailed codes.
/// Wrong, expired and over-tried codes, the per-address and per-account limits, and a reset that says nothing about
/// whether an address belongs to anyone.
/// </summary>
public abstract class EmailTests(EmailFixture fixture) : IAsyncLifetime
{
    private ParleyServer Server => fixture.Server;

    private SmtpSink Sink => fixture.Sink;

    public ValueTask InitializeAsync()
    {
        Assert.SkipUnless(fixture.Available, TestStore.SkipReason);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    private static string NewAddress(string prefix = "m") => $"{prefix}{Guid.NewGuid():N}@example.test";

    private Task<HttpResponseMessage> AskCode(TestUser user, string email) =>
        Server.Post(user, "/api/users/me/email", new JsonObject { ["email"] = email });

    private Task<HttpResponseMessage> Verify(TestUser user, string code) =>
        Server.Post(user, "/api/users/me/email/verify", new JsonObject { ["code"] = code });

    private Task<HttpResponseMessage> AskReset(string email) =>
        Server.Send(HttpMethod.Post, "/api/auth/password-reset", body: new JsonObject { ["email"] = email });

    private Task<HttpResponseMessage> ConfirmReset(string email, string code, string newPassword) =>
        Server.Send(HttpMethod.Post, "/api/auth/password-reset/confirm", body: new JsonObject { ["email"] = email, ["code"] = code, ["newPassword"] = newPassword });

    private async Task<(TestUser User, string Email)> VerifiedUserAsync()
    {
        var user = await Server.RegisterAsync();
        var email = NewAddress();
        await AskCode(user, email).Expect(HttpStatusCode.Accepted);
        await Verify(user, await Sink.NextCodeAsync(email)).Expect(HttpStatusCode.OK);
        return (user, email);
    }

    /// <summary>A code that differs from <paramref name="code"/> in every digit.</summary>
    private static string Wrong(string code) => string.Concat(code.Select(c => (char)('0' + ((c - '0' + 1) % 10))));

    [Fact]
    public async Task A_mailed_code_verifies_the_address()
    {
        var user = await Server.RegisterAsync();
        var me = await Server.Me(user.AccessToken).Expect(HttpStatusCode.OK);
        Assert.False((bool)me["emailVerified"]!);

        var email = NewAddress("Mixed");
        await AskCode(user, email).Expect(HttpStatusCode.Accepted);
        var code = await Sink.NextCodeAsync(email);
        Assert.Matches("^[0-9]{6}$", code);
        var verified = await Verify(user, code).Expect(HttpStatusCode.OK);
        Assert.True((bool)verified["emailVerified"]!);
        Assert.Equal(email, (string?)verified["email"]);
        Assert.Equal(user.Id, (string?)verified["id"]);
        me = await Server.Me(user.AccessToken).Expect(HttpStatusCode.OK);
        Assert.True((bool)me["emailVerified"]!);
        Assert.Equal(email, (string?)me["email"]);

        // The calls are in the OpenAPI document while email is on.
        var openApi = await (await Server.Http.GetAsync("/openapi/v1.json")).Content.ReadAsStringAsync();
        Assert.Contains("/api/users/me/email/verify", openApi);
        Assert.Contains("/api/auth/password-reset/confirm", openApi);

        // Used up: the same code does not work twice.
        await Verify(user, code).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        // Another user cannot take a verified address.
        var other = await Server.RegisterAsync();
        await AskCode(other, email.ToUpperInvariant()).Expect(HttpStatusCode.Accepted);
        await Verify(other, await Sink.NextCodeAsync(email)).ExpectProblem(HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task Bad_input_is_400_and_a_code_of_another_user_or_purpose_does_not_work()
    {
        var user = await Server.RegisterAsync();
        await AskCode(user, "not-an-address").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await AskCode(user, "Bob <bob@example.test>").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await AskCode(user, "bob@example.test, eve@example.test").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await AskReset("not-an-address").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(user, "/api/users/me/email", new JsonObject()).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Verify(user, "12345").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Verify(user, "abcdef").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var none = await Verify(user, "123456").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.Contains("no code is pending", (string?)none["detail"]);
        await Server.Send(HttpMethod.Post, "/api/users/me/email", body: new JsonObject { ["email"] = NewAddress() }).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        // Bob's code is bound to Bob: it does not verify Alice's pending address.
        var bob = await Server.RegisterAsync();
        var aliceMail = NewAddress();
        var bobMail = NewAddress();
        await AskCode(user, aliceMail).Expect(HttpStatusCode.Accepted);
        var aliceCode = await Sink.NextCodeAsync(aliceMail);
        await AskCode(bob, bobMail).Expect(HttpStatusCode.Accepted);
        var bobCode = await Sink.NextCodeAsync(bobMail);
        if (bobCode != aliceCode)
        {
            await Verify(user, bobCode).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        }

        await Verify(user, aliceCode).Expect(HttpStatusCode.OK);
        // A verification code is not a reset code.
        await ConfirmReset(aliceMail, bobCode, "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Wrong_codes_count_and_the_fifth_try_is_the_last()
    {
        var user = await Server.RegisterAsync();
        var email = NewAddress();
        await AskCode(user, email).Expect(HttpStatusCode.Accepted);
        var code = await Sink.NextCodeAsync(email);
        for (var i = 0; i < 4; i++)
        {
            var wrong = await Verify(user, Wrong(code)).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
            Assert.Contains("is wrong", (string?)wrong["detail"]);
        }

        await Verify(user, code).Expect(HttpStatusCode.OK); // the fifth try

        var second = await Server.RegisterAsync();
        var other = NewAddress();
        await AskCode(second, other).Expect(HttpStatusCode.Accepted);
        var secondCode = await Sink.NextCodeAsync(other);
        for (var i = 0; i < 5; i++)
        {
            await Verify(second, Wrong(secondCode)).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        }

        var spent = await Verify(second, secondCode).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.Contains("tried too often", (string?)spent["detail"]);
        Assert.False((bool)(await Server.Me(second.AccessToken).Expect(HttpStatusCode.OK))["emailVerified"]!);

        // A new code starts afresh.
        await AskCode(second, other).Expect(HttpStatusCode.Accepted);
        await Verify(second, await Sink.NextCodeAsync(other)).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_code_expires_after_fifteen_minutes()
    {
        var user = await Server.RegisterAsync();
        var email = NewAddress();
        await AskCode(user, email).Expect(HttpStatusCode.Accepted);
        var code = await Sink.NextCodeAsync(email);
        fixture.Time.Advance(TimeSpan.FromMinutes(15) + TimeSpan.FromSeconds(1));
        var fresh = await Server.LoginAsync(user.Username, user.Password); // the access token expired too
        var expired = await Verify(fresh, code).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.Contains("expired", (string?)expired["detail"]);

        // A reset code expires the same way, with the reset's one answer.
        var (owner, address) = await VerifiedUserAsync();
        await AskReset(address).Expect(HttpStatusCode.Accepted);
        var resetCode = await Sink.NextCodeAsync(address);
        fixture.Time.Advance(TimeSpan.FromMinutes(16));
        await ConfirmReset(address, resetCode, "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.LoginAsync(owner.Username, owner.Password);
    }

    [Fact]
    public async Task Codes_are_limited_per_account_and_per_address()
    {
        // Per account: five codes an hour, whatever the addresses.
        var user = await Server.RegisterAsync();
        for (var i = 0; i < 5; i++)
        {
            await AskCode(user, NewAddress()).Expect(HttpStatusCode.Accepted);
        }

        await AskCode(user, NewAddress()).ExpectProblem(HttpStatusCode.TooManyRequests, "rate_limited");

        // Per address: five verification codes an hour, whoever asks.
        var shared = NewAddress();
        for (var i = 0; i < 5; i++)
        {
            await AskCode(await Server.RegisterAsync(), shared).Expect(HttpStatusCode.Accepted);
        }

        await AskCode(await Server.RegisterAsync(), shared).ExpectProblem(HttpStatusCode.TooManyRequests, "rate_limited");
        // A reset request is not counted or refused per address (anyone could spend the owner's requests so): it is
        // limited per client (One_client_cannot_deny_a_reset_to_the_owner) and its mails per account.
        await AskReset(shared).Expect(HttpStatusCode.Accepted);

        // The hour passes.
        fixture.Time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        var again = await Server.LoginAsync(user.Username, user.Password);
        var last = NewAddress();
        await AskCode(again, last).Expect(HttpStatusCode.Accepted);
        await Sink.NextCodeAsync(last);
    }

    [Fact]
    public async Task A_password_reset_sets_the_new_password_and_revokes_every_session()
    {
        var (user, email) = await VerifiedUserAsync();
        var second = await Server.LoginAsync(user.Username, user.Password, "phone");
        await using var socket = await WsClient.ConnectAsync(Server, second.AccessToken);

        await AskReset(email.ToUpperInvariant()).Expect(HttpStatusCode.Accepted);
        var code = await Sink.NextCodeAsync(email);
        await ConfirmReset(email, Wrong(code), "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await ConfirmReset(email, code, "short").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await ConfirmReset(email, code, "a brand new password").Expect(HttpStatusCode.NoContent);

        // Every session is gone: the open socket is closed with 4001, refresh tokens and access tokens are dead.
        Assert.Equal((System.Net.WebSockets.WebSocketCloseStatus)4001, await socket.ClosedAsync());
        await Server.Refresh(user.RefreshToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Refresh(second.RefreshToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Me(user.AccessToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = user.Username, ["password"] = user.Password })
            .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        await Server.LoginAsync(user.Username, "a brand new password");

        // The code is used up.
        await ConfirmReset(email, code, "another new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task A_password_reset_replaces_the_scram_keys_with_the_new_passwords()
    {
        var (user, email) = await VerifiedUserAsync();
        Task<Parley.Server.Xmpp.Sasl.SaslFailure> Scram(string password) => Xmpp.Sasl.SlixmppScram.AuthenticateAsync(
            Server.Service<Parley.Server.Xmpp.Sasl.ScramSha256Mechanism>().Start("192.0.2.20", null), user.Username, password);
        Assert.Equal(Parley.Server.Xmpp.Sasl.SaslFailure.None, await Scram(user.Password));

        await AskReset(email).Expect(HttpStatusCode.Accepted);
        await ConfirmReset(email, await Sink.NextCodeAsync(email), "a reset new password").Expect(HttpStatusCode.NoContent);

        Assert.Equal(Parley.Server.Xmpp.Sasl.SaslFailure.NotAuthorized, await Scram(user.Password));
        Assert.Equal(Parley.Server.Xmpp.Sasl.SaslFailure.None, await Scram("a reset new password"));
    }

    [Fact]
    public async Task A_reset_code_allows_five_tries()
    {
        var (user, email) = await VerifiedUserAsync();
        await AskReset(email).Expect(HttpStatusCode.Accepted);
        var code = await Sink.NextCodeAsync(email);
        for (var i = 0; i < 4; i++)
        {
            await ConfirmReset(email, Wrong(code), "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        }

        await ConfirmReset(email, code, "a brand new password").Expect(HttpStatusCode.NoContent); // the fifth try

        await AskReset(email).Expect(HttpStatusCode.Accepted);
        code = await Sink.NextCodeAsync(email);
        for (var i = 0; i < 5; i++)
        {
            await ConfirmReset(email, Wrong(code), "another new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        }

        await ConfirmReset(email, code, "another new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.LoginAsync(user.Username, "a brand new password"); // unchanged by the over-tried code
    }

    [Fact]
    public async Task A_new_reset_request_keeps_the_live_code_and_its_tries()
    {
        var (user, email) = await VerifiedUserAsync();
        await AskReset(email).Expect(HttpStatusCode.Accepted);
        var code = await Sink.NextCodeAsync(email);
        for (var i = 0; i < 3; i++)
        {
            await ConfirmReset(email, Wrong(code), "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        }

        // Asked again while the code is live: nothing new is mailed (the sender works in order, so once a later mail
        // is in, this request was handled), and the tries go on where they were.
        var mailed = Sink.To(email).Count;
        await AskReset(email).Expect(HttpStatusCode.Accepted);
        await AskReset(email.ToUpperInvariant()).Expect(HttpStatusCode.Accepted);
        var (_, marker) = await VerifiedUserAsync();
        Assert.Single(Sink.To(marker));
        Assert.Equal(mailed, Sink.To(email).Count);
        await ConfirmReset(email, Wrong(code), "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await ConfirmReset(email, Wrong(code), "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid"); // the fifth try
        await ConfirmReset(email, code, "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        // Its tries used up, the code is dead: a new request mails a new one.
        await AskReset(email).Expect(HttpStatusCode.Accepted);
        await ConfirmReset(email, await Sink.NextCodeAsync(email), "a brand new password").Expect(HttpStatusCode.NoContent);
        await Server.LoginAsync(user.Username, "a brand new password");
    }

    [Fact]
    public async Task Failed_reset_confirmations_are_capped_per_account_per_day()
    {
        var (user, email) = await VerifiedUserAsync();
        JsonNode? wrongAnswer = null;
        // Ten failures (Email:ResetFailuresPerDay) over two codes of five tries each.
        for (var round = 0; round < 2; round++)
        {
            await AskReset(email).Expect(HttpStatusCode.Accepted);
            var code = await Sink.NextCodeAsync(email);
            for (var i = 0; i < 5; i++)
            {
                wrongAnswer = await ConfirmReset(email, Wrong(code), "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
            }
        }

        // Past the cap even a fresh, right code is refused, with the very answer of a wrong code.
        await AskReset(email).Expect(HttpStatusCode.Accepted);
        var fresh = await Sink.NextCodeAsync(email);
        var refused = await ConfirmReset(email, fresh, "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.Equal(wrongAnswer!.ToJsonString(), refused.ToJsonString());
        await Server.LoginAsync(user.Username, user.Password); // unchanged

        // Another account is not affected.
        var (other, otherEmail) = await VerifiedUserAsync();
        await AskReset(otherEmail).Expect(HttpStatusCode.Accepted);
        await ConfirmReset(otherEmail, await Sink.NextCodeAsync(otherEmail), "a brand new password").Expect(HttpStatusCode.NoContent);
        await Server.LoginAsync(other.Username, "a brand new password");

        // The window is a day from the first failure.
        fixture.Time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));
        await AskReset(email).Expect(HttpStatusCode.Accepted);
        await ConfirmReset(email, await Sink.NextCodeAsync(email), "a brand new password").Expect(HttpStatusCode.NoContent);
        await Server.LoginAsync(user.Username, "a brand new password");
    }

    [Fact]
    public async Task One_client_cannot_deny_a_reset_to_the_owner()
    {
        await using var store = await TestStore.CreateAsync(fixture.Backend);
        await using var server = await ParleyServer.StartAsync(
            store,
            new ManualTime(),
            Sink.ServerArgs("--Email:ResetRequestsPerClientPerHour=3", "--Email:ResetConfirmsPerClientPerHour=4"));
        var owner = await server.RegisterAsync(); // from 127.0.0.1
        var email = NewAddress();
        await server.Post(owner, "/api/users/me/email", new JsonObject { ["email"] = email }).Expect(HttpStatusCode.Accepted);
        await server.Post(owner, "/api/users/me/email/verify", new JsonObject { ["code"] = await Sink.NextCodeAsync(email) }).Expect(HttpStatusCode.OK);

        // The attacker, from 127.0.0.2, asks for the owner's address again and again: every answer is 202, as the
        // contract says ("202 always"), but past Email:ResetRequestsPerClientPerHour (3 here) the client's requests
        // are dropped, whatever the address: one asked about a second verified user now mails them nothing.
        var second = await server.RegisterAsync();
        var secondEmail = NewAddress("second");
        await server.Post(second, "/api/users/me/email", new JsonObject { ["email"] = secondEmail }).Expect(HttpStatusCode.Accepted);
        await server.Post(second, "/api/users/me/email/verify", new JsonObject { ["code"] = await Sink.NextCodeAsync(secondEmail) }).Expect(HttpStatusCode.OK);
        using var attacker = ClientFrom(server, "127.0.0.2");
        for (var i = 0; i < 10; i++)
        {
            using var response = await PostFrom(attacker, "/api/auth/password-reset", new JsonObject { ["email"] = email });
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        using (var dropped = await PostFrom(attacker, "/api/auth/password-reset", new JsonObject { ["email"] = secondEmail }))
        {
            Assert.Equal(HttpStatusCode.Accepted, dropped.StatusCode);
        }

        // The owner, from their own address, still asks (202); the code the attacker's first request had mailed them
        // is kept, so nothing new is mailed, and it works.
        var code = await Sink.NextCodeAsync(email);
        await server.Send(HttpMethod.Post, "/api/auth/password-reset", body: new JsonObject { ["email"] = email }).Expect(HttpStatusCode.Accepted);

        // The sender works in order: once a later mail is in, the owner's request was handled (it mailed nothing).
        var marker = NewAddress("marker");
        await server.Post(await server.RegisterAsync(), "/api/users/me/email", new JsonObject { ["email"] = marker }).Expect(HttpStatusCode.Accepted);
        await Sink.NextCodeAsync(marker);
        Assert.Equal(2, Sink.To(email).Count); // the verification code and the one reset code
        Assert.Single(Sink.To(secondEmail)); // its verification code only: the attacker's request for it was dropped

        // Guesses from one client are limited too (Email:ResetConfirmsPerClientPerHour), whatever the account.
        for (var i = 0; i < 4; i++)
        {
            await PostFrom(attacker, "/api/auth/password-reset/confirm", new JsonObject { ["email"] = email, ["code"] = Wrong(code), ["newPassword"] = "an attacker's password" })
                .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        }

        await PostFrom(attacker, "/api/auth/password-reset/confirm", new JsonObject { ["email"] = email, ["code"] = Wrong(code), ["newPassword"] = "an attacker's password" })
            .ExpectProblem(HttpStatusCode.TooManyRequests, "rate_limited");
        await PostFrom(attacker, "/api/auth/password-reset/confirm", new JsonObject { ["email"] = NewAddress("nobody"), ["code"] = "123456", ["newPassword"] = "an attacker's password" })
            .ExpectProblem(HttpStatusCode.TooManyRequests, "rate_limited");

        // The owner's fifth try, the right code, from the owner's address.
        await server.Send(HttpMethod.Post, "/api/auth/password-reset/confirm", body: new JsonObject { ["email"] = email, ["code"] = code, ["newPassword"] = "a brand new password" })
            .Expect(HttpStatusCode.NoContent);
        await server.LoginAsync(owner.Username, "a brand new password");
    }

    [Fact]
    public async Task International_domains_are_one_address_in_punycode_and_domain_literals_are_refused()
    {
        var user = await Server.RegisterAsync();
        var local = "Idn" + Guid.NewGuid().ToString("N")[..12];
        await AskCode(user, local + "@B\u00DCcher.Test").Expect(HttpStatusCode.Accepted);
        var ascii = local + "@xn--bcher-kva.test";
        var verified = await Verify(user, await Sink.NextCodeAsync(ascii)).Expect(HttpStatusCode.OK);
        Assert.Equal(ascii, (string?)verified["email"]);
        Assert.Single(Sink.To(ascii));

        // The same address written otherwise (upper case, full-width letters, an ideographic full stop) is the same account.
        await AskReset(local + "@B\u00DCCHER\u3002\uFF34EST").Expect(HttpStatusCode.Accepted);
        var code = await Sink.NextCodeAsync(ascii);
        await ConfirmReset(local + "@b\u00FCcher.test", code, "a brand new password").Expect(HttpStatusCode.NoContent);
        await Server.LoginAsync(user.Username, "a brand new password");
        var other = await Server.RegisterAsync();
        await AskCode(other, ascii.ToUpperInvariant()).Expect(HttpStatusCode.Accepted);
        await Verify(other, await Sink.NextCodeAsync(ascii)).ExpectProblem(HttpStatusCode.Conflict, "conflict");

        // Domain literals, bare IP addresses and names that are no host names are refused.
        foreach (var bad in new[] { "bob@[127.0.0.1]", "bob@[IPv6:::1]", "bob@127.0.0.1", "bob@exa_mple.test", "bob@example.test.", "bob@a..test" })
        {
            await AskCode(other, bad).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
            await AskReset(bad).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
            await ConfirmReset(bad, "123456", "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        }
    }

    [Fact]
    public async Task A_reset_says_nothing_about_whether_an_address_exists()
    {
        var (_, known) = await VerifiedUserAsync();
        var unknown = NewAddress("nobody");
        // Registered with an address that was never verified: no reset mail either.
        var unverified = NewAddress("unverified");
        await Server.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject
        {
            ["username"] = Api.NewUsername(),
            ["password"] = "correct horse battery",
            ["email"] = unverified,
        }).Expect(HttpStatusCode.Created);

        var answers = new List<string>();
        foreach (var address in new[] { unknown, unverified, known })
        {
            using var response = await AskReset(address);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            answers.Add(await response.Content.ReadAsStringAsync());
        }

        Assert.Single(answers.Distinct());
        // One sender, in order: once the known address's mail is in, the two before it were handled (and sent nothing).
        var code = await Sink.NextCodeAsync(known);
        Assert.Empty(Sink.To(unknown));
        Assert.Empty(Sink.To(unverified));

        // Confirming: an unknown address and a wrong code get the very same answer.
        var forUnknown = await ConfirmReset(unknown, code, "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var forWrong = await ConfirmReset(known, Wrong(code), "a brand new password").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.Equal(forUnknown.ToJsonString(), forWrong.ToJsonString());
        await ConfirmReset(known, code, "a brand new password").Expect(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Email_is_off_without_an_smtp_host()
    {
        await using var store = await TestStore.CreateAsync(fixture.Backend);
        await using var server = await ParleyServer.StartAsync(store);
        var user = await server.RegisterAsync();
        await server.Post(user, "/api/users/me/email", new JsonObject { ["email"] = NewAddress() }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Post(user, "/api/users/me/email/verify", new JsonObject { ["code"] = "123456" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Send(HttpMethod.Post, "/api/auth/password-reset", body: new JsonObject { ["email"] = NewAddress() }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Send(HttpMethod.Post, "/api/auth/password-reset/confirm", body: new JsonObject { ["email"] = NewAddress(), ["code"] = "123456", ["newPassword"] = "a brand new password" })
            .ExpectProblem(HttpStatusCode.NotFound, "not_found");
        Assert.False((bool)(await server.Me(user.AccessToken).Expect(HttpStatusCode.OK))["emailVerified"]!);
    }

    /// <summary>A client whose connections come from <paramref name="source"/> (a loopback address of its own).</summary>
    private static HttpClient ClientFrom(ParleyServer server, string source)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = server.Http.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    private static Task<HttpResponseMessage> PostFrom(HttpClient client, string path, JsonObject body) =>
        client.PostAsync(path, new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
}

/// <summary><see cref="EmailService.Normalize"/>: one form per address, and no domain that is not a host name.</summary>
public sealed class EmailAddressTests
{
    [Theory]
    [InlineData("Bob@Example.TEST", "Bob@example.test")]
    [InlineData("bob@b\u00FCcher.example", "bob@xn--bcher-kva.example")]
    [InlineData("bob@B\u00DCCHER.example", "bob@xn--bcher-kva.example")]
    [InlineData("bob@\uFF45xample\u3002test", "bob@example.test")]
    [InlineData("bob@\uFF22\uFF35CHER.test", "bob@bucher.test")]
    [InlineData("bob@xn--bcher-kva.example", "bob@xn--bcher-kva.example")]
    [InlineData("bob@[127.0.0.1]", null)]
    [InlineData("bob@[IPv6:::1]", null)]
    [InlineData("bob@127.0.0.1", null)]
    [InlineData("bob@exa_mple.test", null)]
    [InlineData("bob@example.test.", null)]
    [InlineData("bob@a..test", null)]
    public void Normalize(string email, string? expected) => Assert.Equal(expected, EmailService.Normalize(email));

    [Fact]
    public void An_address_longer_than_254_characters_once_encoded_is_refused()
    {
        // 243 characters as typed (under the limit); each label grows by 7 in punycode, 271 in all.
        var label = "\u00E4" + new string('a', 50);
        var email = new string('b', 30) + "@" + string.Join('.', label, label, label, label) + ".test";
        Assert.Equal(243, email.Length);
        Assert.Null(EmailService.Normalize(email));
        Assert.NotNull(EmailService.Normalize(new string('b', 10) + "@" + string.Join('.', label, label, label) + ".test"));
    }
}
