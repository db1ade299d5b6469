using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Xmpp.Sasl;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp.Sasl;

/// <summary>
/// The SCRAM-SHA-256 mechanism alone: RFC 7677's test vector, strict parsing of both client messages, the state machine,
/// fake salts for names without keys, and the login throttle it counts against.
/// </summary>
[Trait("Tier", "Unit")]
public sealed class ScramSha256ServerTests
{
    // RFC 7677 section 3.
    private const string RfcSalt = "W22ZaJ0SNY7soEsUEjb6gQ==";
    private const string RfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    private const string RfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    private const string RfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    private const string RfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    private const string RfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    private static readonly byte[] FakeSaltKey = "a server secret for the tests' fake salts"u8.ToArray();

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static MemoryScramCredentials RfcUser(bool disabled = false) =>
        new MemoryScramCredentials().Add("user", "pencil", disabled, Convert.FromBase64String(RfcSalt));

    private static ScramSha256Server Server(IScramCredentials credentials, ISaslAttempts? attempts = null, byte[]? key = null, int iterations = 4096, string? nonce = RfcServerNonce) =>
        new(credentials, attempts, key ?? FakeSaltKey, iterations, "example.test", nonce is null ? null : () => nonce);

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static string Text(SaslStep step) => Encoding.UTF8.GetString(step.Data!);

    [Fact]
    public async Task The_rfc_7677_exchange_gives_exactly_its_server_messages()
    {
        var server = Server(RfcUser());
        var first = await server.StartAsync(Bytes(RfcClientFirst), Cancel);
        Assert.Equal(RfcServerFirst, Text(first));
        Assert.Null(server.Authenticated);

        var final = await server.FinishAsync(Bytes(RfcClientFinal));
        Assert.False(final.Failed);
        Assert.Equal(RfcServerFinal, Text(final));
        Assert.Equal("user", server.Authenticated!.Username);
    }

    [Fact]
    public async Task An_independent_rfc_client_authenticates_and_checks_the_server_signature()
    {
        var server = Server(new MemoryScramCredentials().Add("alice", "correct horse battery"), nonce: null);
        var client = new RfcScramClient("alice", "correct horse battery");
        var first = await server.StartAsync(client.First(), Cancel);
        Assert.StartsWith("r=" + client.ClientNonce, Text(first), StringComparison.Ordinal);
        var final = await server.FinishAsync(client.Final(first.Data!));
        Assert.True(client.IsServerFinal(final.Data));

        // A wrong password: the same exchange, refused at the proof.
        var other = Server(new MemoryScramCredentials().Add("alice", "correct horse battery"), nonce: null);
        var wrong = new RfcScramClient("alice", "correct horse batterY");
        var answer = await other.FinishAsync(wrong.Final((await other.StartAsync(wrong.First(), Cancel)).Data!));
        Assert.Equal(SaslFailure.NotAuthorized, answer.Failure);
        Assert.Null(other.Authenticated);
    }

    [Theory]
    [InlineData("n,,N=user,r=abc")]
    [InlineData("n,,r=abc,n=user")]
    [InlineData("x,,n=user,r=abc")]
    [InlineData("n,n=user,r=abc")]
    [InlineData("n,,n=user")]
    [InlineData("n,,r=abc")]
    [InlineData("n,,n=,r=abc")]
    [InlineData("n,,n=us=er,r=abc")]
    [InlineData("n,,n=us=2,r=abc")]
    [InlineData("n,,n=user,r=")]
    [InlineData("n,,n=user,r=a b")]
    [InlineData("n,,n=user,r=abc,")]
    [InlineData("n,,n=user,r=abc,s=c2FsdA==")]
    [InlineData("n,,m=ext,n=user,r=abc")]
    [InlineData("p=tls-server-end-point,,n=user,r=abc")]
    [InlineData("p=tls-exporter,,n=user,r=abc")]
    [InlineData("n,b=user,n=user,r=abc")]
    [InlineData("n,a=,n=user,r=abc")]
    [InlineData("n")]
    [InlineData("")]
    public async Task A_malformed_client_first_message_is_malformed_request(string message)
    {
        var server = Server(RfcUser());
        Assert.Equal(SaslFailure.MalformedRequest, (await server.StartAsync(Bytes(message), Cancel)).Failure);
        // The exchange is over: a final message after it fails too.
        Assert.Equal(SaslFailure.MalformedRequest, (await server.FinishAsync(Bytes(RfcClientFinal))).Failure);
    }

    [Fact]
    public async Task Bytes_that_are_not_utf8_or_too_many_are_malformed_request()
    {
        Assert.Equal(SaslFailure.MalformedRequest, (await Server(RfcUser()).StartAsync(new byte[] { (byte)'n', (byte)',', (byte)',', 0xC3, 0x28 }, Cancel)).Failure);
        var big = "n,,n=user,r=" + new string('a', ScramSha256Server.MaxMessageBytes);
        Assert.Equal(SaslFailure.MalformedRequest, (await Server(RfcUser()).StartAsync(Bytes(big), Cancel)).Failure);
    }

    [Fact]
    public async Task A_y_flag_and_an_optional_extension_are_accepted()
    {
        var server = Server(new MemoryScramCredentials().Add("alice", "correct horse battery"), nonce: null);
        var client = new RfcScramClient("alice", "correct horse battery", "y,,");
        var first = await server.StartAsync(Bytes(Encoding.UTF8.GetString(client.First()) + ",x=an extension"), Cancel);
        Assert.False(first.Failed);
        // The bare message signed is the one sent, extension included: the RFC client signs without it, so it fails.
        Assert.Equal(SaslFailure.NotAuthorized, (await server.FinishAsync(client.Final(first.Data!))).Failure);

        var plain = Server(new MemoryScramCredentials().Add("alice", "correct horse battery"), nonce: null);
        var yClient = new RfcScramClient("alice", "correct horse battery", "y,,");
        var answer = await plain.FinishAsync(yClient.Final((await plain.StartAsync(yClient.First(), Cancel)).Data!));
        Assert.True(yClient.IsServerFinal(answer.Data));
    }

    [Theory]
    [InlineData("user", true)]
    [InlineData("USER", true)]
    [InlineData("user@example.test", true)]
    [InlineData("User@Example.Test", true)]
    [InlineData("admin", false)]
    [InlineData("user@elsewhere.test", false)]
    [InlineData("user@example.test/phone", false)]
    public async Task The_authzid_may_only_be_the_user_itself(string authzid, bool accepted)
    {
        var gs2 = $"n,a={authzid},";
        var server = Server(RfcUser(), nonce: null);
        var client = new RfcScramClient("user", "pencil", gs2);
        var first = await server.StartAsync(client.First(), Cancel);
        if (!accepted)
        {
            Assert.Equal(SaslFailure.InvalidAuthzid, first.Failure);
            return;
        }

        Assert.True(client.IsServerFinal((await server.FinishAsync(client.Final(first.Data!))).Data));
    }

    [Theory]
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", SaslFailure.MalformedRequest)] // no proof
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ", SaslFailure.MalformedRequest)] // unpadded
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=!", SaslFailure.MalformedRequest)]
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVR=", SaslFailure.MalformedRequest)] // not canonical
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7And", SaslFailure.MalformedRequest)] // 30 bytes
    [InlineData("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SaslFailure.MalformedRequest)] // no c=
    [InlineData("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SaslFailure.MalformedRequest)] // out of order
    [InlineData("c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SaslFailure.MalformedRequest)] // no nonce
    [InlineData("c=bi*s,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SaslFailure.MalformedRequest)] // bad base64
    [InlineData("c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SaslFailure.MalformedRequest)] // "y,," after "n,,"
    [InlineData("c=cD10bHMtdW5pcXVlLCw=,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SaslFailure.MalformedRequest)] // "p=tls-unique,,"
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,m=x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SaslFailure.MalformedRequest)]
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SaslFailure.NotAuthorized)] // another nonce
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SaslFailure.NotAuthorized)] // the client's nonce alone
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU=", SaslFailure.NotAuthorized)] // another proof
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,x=ext,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SaslFailure.NotAuthorized)] // signed without the extension
    public async Task A_bad_client_final_message_fails_with_its_condition(string final, SaslFailure expected)
    {
        var server = Server(RfcUser());
        Assert.False((await server.StartAsync(Bytes(RfcClientFirst), Cancel)).Failed);
        Assert.Equal(expected, (await server.FinishAsync(Bytes(final))).Failure);
        Assert.Null(server.Authenticated);
        // One try per exchange: the right final after a wrong one is refused as well.
        Assert.Equal(SaslFailure.MalformedRequest, (await server.FinishAsync(Bytes(RfcClientFinal))).Failure);
    }

    [Fact]
    public async Task Steps_out_of_order_and_a_replayed_final_fail()
    {
        Assert.Equal(SaslFailure.MalformedRequest, (await Server(RfcUser()).FinishAsync(Bytes(RfcClientFinal))).Failure);

        var twice = Server(RfcUser());
        Assert.False((await twice.StartAsync(Bytes(RfcClientFirst), Cancel)).Failed);
        Assert.Equal(SaslFailure.MalformedRequest, (await twice.StartAsync(Bytes(RfcClientFirst), Cancel)).Failure);

        var done = Server(RfcUser());
        await done.StartAsync(Bytes(RfcClientFirst), Cancel);
        Assert.False((await done.FinishAsync(Bytes(RfcClientFinal))).Failed);
        Assert.Equal(SaslFailure.MalformedRequest, (await done.FinishAsync(Bytes(RfcClientFinal))).Failure);

        // The recorded final, replayed to a new exchange: the server's nonce is fresh, so it does not match.
        var fresh = Server(RfcUser(), nonce: null);
        var first = Text(await fresh.StartAsync(Bytes(RfcClientFirst), Cancel));
        Assert.DoesNotContain(RfcServerNonce, first, StringComparison.Ordinal);
        Assert.Equal(SaslFailure.NotAuthorized, (await fresh.FinishAsync(Bytes(RfcClientFinal))).Failure);
    }

    [Fact]
    public async Task The_server_nonce_is_printable_and_new_each_time()
    {
        var nonces = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            var first = Text(await Server(RfcUser(), nonce: null).StartAsync(Bytes(RfcClientFirst), Cancel));
            var nonce = first.Split(',')[0][2..];
            Assert.StartsWith("rOprNGfwEbeRWgbNEkqO", nonce, StringComparison.Ordinal);
            var serverPart = nonce["rOprNGfwEbeRWgbNEkqO".Length..];
            Assert.True(Convert.FromBase64String(serverPart).Length >= 18);
            Assert.All(serverPart, c => Assert.True(c is > '\x20' and < '\x7F' and not ','));
            Assert.True(nonces.Add(serverPart));
        }
    }

    [Fact]
    public async Task A_name_without_keys_gets_a_fake_salt_that_depends_only_on_the_name_and_the_secret()
    {
        var credentials = new MemoryScramCredentials().Add("user", "pencil").Add("keyless", null);
        async Task<string> SaltAndCount(string name, byte[]? key = null, int iterations = 4096)
        {
            var first = Text(await Server(credentials, key: key, iterations: iterations).StartAsync(Bytes($"n,,n={name},r=abcdef"), Cancel));
            return first[(first.IndexOf(",s=", StringComparison.Ordinal) + 1)..];
        }

        var nobody = await SaltAndCount("nobody");
        Assert.Equal(nobody, await SaltAndCount("nobody"));
        Assert.Equal(nobody, await SaltAndCount("NoBody")); // usernames are one account in any letter case
        Assert.NotEqual(nobody, await SaltAndCount("somebody"));
        Assert.NotEqual(nobody, await SaltAndCount("nobody", "another secret"u8.ToArray()));
        Assert.EndsWith(",i=4096", nobody, StringComparison.Ordinal);
        Assert.EndsWith(",i=10000", await SaltAndCount("nobody", iterations: 10000), StringComparison.Ordinal);
        Assert.Equal(16, Convert.FromBase64String(nobody[2..nobody.IndexOf(',', StringComparison.Ordinal)]).Length);

        // A user who exists but has no keys yet looks like nobody; a user with keys shows their own salt, the same each time.
        var keyless = await SaltAndCount("keyless");
        Assert.Equal(keyless, await SaltAndCount("keyless"));
        Assert.Equal(await SaltAndCount("user"), await SaltAndCount("user"));

        // And no password gets through.
        foreach (var name in new[] { "nobody", "keyless" })
        {
            var server = Server(credentials, nonce: null);
            var client = new RfcScramClient(name, "pencil");
            Assert.Equal(SaslFailure.NotAuthorized, (await server.FinishAsync(client.Final((await server.StartAsync(client.First(), Cancel)).Data!))).Failure);
        }
    }

    [Fact]
    public async Task A_disabled_account_is_told_so_only_with_the_right_password()
    {
        var server = Server(RfcUser(disabled: true));
        await server.StartAsync(Bytes(RfcClientFirst), Cancel);
        Assert.Equal(SaslFailure.AccountDisabled, (await server.FinishAsync(Bytes(RfcClientFinal))).Failure);
        Assert.Null(server.Authenticated);

        var wrong = Server(RfcUser(disabled: true), nonce: null);
        var client = new RfcScramClient("user", "not pencil");
        Assert.Equal(SaslFailure.NotAuthorized, (await wrong.FinishAsync(client.Final((await wrong.StartAsync(client.First(), Cancel)).Data!))).Failure);
    }

    [Fact]
    public async Task Wrong_proofs_count_against_the_login_throttle_and_aborted_exchanges_do_not()
    {
        var time = new ManualTime();
        using var throttle = new AuthThrottle(Options.Create(new AuthOptions { LoginFailuresPerUsernameAndAddress = 3 }), time);
        var credentials = new MemoryScramCredentials().Add("alice", "correct horse battery");
        var attempts = new ThrottledSaslAttempts(throttle, "203.0.113.9");

        // Exchanges abandoned after the first step take their count back, however many.
        for (var i = 0; i < 10; i++)
        {
            var server = Server(credentials, attempts, nonce: null);
            Assert.False((await server.StartAsync(new RfcScramClient("alice", "x").First(), Cancel)).Failed);
            await server.AbortAsync();
        }

        // A right one takes its own count back too.
        Assert.Equal(SaslFailure.None, await Exchange("correct horse battery"));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(SaslFailure.NotAuthorized, await Exchange("wrong password"));
        }

        var refused = await Server(credentials, attempts, nonce: null).StartAsync(new RfcScramClient("alice", "correct horse battery").First(), Cancel);
        Assert.Equal(SaslFailure.TemporaryAuthFailure, refused.Failure);
        Assert.True(refused.RetryAfterSeconds > 0);
        // The throttle is the HTTP login's: its own check for this username and address says the same.
        Assert.NotNull(throttle.TryBeginLogin("alice", "203.0.113.9"));
        // Another address is not held up.
        var elsewhere = Server(credentials, new ThrottledSaslAttempts(throttle, "198.51.100.4"), nonce: null);
        Assert.False((await elsewhere.StartAsync(new RfcScramClient("alice", "correct horse battery").First(), Cancel)).Failed);

        time.Advance(TimeSpan.FromSeconds(new AuthOptions().LoginFailureWindowSeconds));
        Assert.Equal(SaslFailure.None, await Exchange("correct horse battery"));

        async Task<SaslFailure> Exchange(string password)
        {
            var server = Server(credentials, attempts, nonce: null);
            var client = new RfcScramClient("alice", password);
            var first = await server.StartAsync(client.First(), Cancel);
            return first.Failed ? first.Failure : (await server.FinishAsync(client.Final(first.Data!))).Failure;
        }
    }

    [Fact]
    public void Stored_credentials_round_trip_and_nothing_else_parses()
    {
        var credential = ScramCredential.Derive("pencil", Convert.FromBase64String(RfcSalt), 4096)!;
        var text = credential.Format();
        Assert.StartsWith("$scram-sha-256$i=4096$W22ZaJ0SNY7soEsUEjb6gQ==$", text, StringComparison.Ordinal);
        Assert.True(ScramCredential.TryParse(text, out var parsed));
        Assert.Equal(credential.StoredKey, parsed.StoredKey);
        Assert.Equal(credential.ServerKey, parsed.ServerKey);
        Assert.Equal(4096, parsed.Iterations);

        var parts = text.Split('$'); // "", "scram-sha-256", "i=4096", salt, stored, server
        string With(int index, string value) => string.Join('$', parts.Select((p, i) => i == index ? value : p));
        string[] bad =
        [
            "",
            text + "$",
            text[..^1],
            text.Replace("scram-sha-256", "scram-sha-1", StringComparison.Ordinal),
            With(2, "i=4095"),
            With(2, "i=04096"),
            With(2, "i=+4096"),
            With(2, "i=99999999999"),
            With(2, "n=4096"),
            With(3, "W22ZaJ0SNY7soEsUEjb6gQ"), // unpadded
            With(3, "W22ZaJ0SNY7soEsUEjb6gR=="), // not canonical
            With(3, "c2FsdA=="), // 4 bytes
            With(4, Convert.ToBase64String(new byte[31])),
            With(5, " " + parts[5]),
            string.Join('$', parts.Take(5)),
        ];
        foreach (var value in bad)
        {
            Assert.False(ScramCredential.TryParse(value, out _), value);
        }
    }

    [Theory]
    [InlineData("pencil", "pencil")]
    [InlineData("I\u00ADX", "IX")] // RFC 4013's examples
    [InlineData("user", "user")]
    [InlineData("USER", "USER")]
    [InlineData("a\u00A0b\u3000c", "a b c")]
    [InlineData("p\u200Bass\uFE0F", "pass")]
    [InlineData("Stra\u00DFe \u00E9t\u00E9 \u00F1 \u0142\u00F3d\u017A \u00A7\u00BF", "Stra\u00DFe \u00E9t\u00E9 \u00F1 \u0142\u00F3d\u017A \u00A7\u00BF")]
    public void SaslPrep_maps_and_normalizes(string input, string expected)
    {
        Assert.True(SaslPrep.TryPrepare(input, out var prepared));
        Assert.Equal(expected, prepared);
    }

    /// <summary>
    /// RFC 4013's NFKC examples: where this process has normalization tables they are normalized; under
    /// InvariantGlobalization (Parley's setting) a password that NFKC would change, or might, gets no keys at all.
    /// </summary>
    [Theory]
    [InlineData("\u00AA", "a")]
    [InlineData("\u2168", "IX")]
    [InlineData("\uFB01ne", "fine")]
    [InlineData("e\u0301t\u00E9", "\u00E9t\u00E9")]
    [InlineData("\u0133", "ij")]
    [InlineData("\u65E5\u672C", "\u65E5\u672C")]
    public void SaslPrep_normalizes_with_tables_and_refuses_without(string input, string expected)
    {
        var prepared = SaslPrep.TryPrepare(input, out var output);
        if (SaslPrep.FullNormalization)
        {
            Assert.True(prepared);
            Assert.Equal(expected, output);
        }
        else
        {
            Assert.False(prepared);
        }
    }

    [Theory]
    [InlineData("\u0007")] // RFC 4013's example
    [InlineData("tab\there")]
    [InlineData("new\nline")]
    [InlineData("del\u007F")]
    [InlineData("c1\u0085")]
    [InlineData("rtl\u202Eoverride")]
    [InlineData("private\uE000")]
    [InlineData("non\uFDD0char")]
    [InlineData("half\uD800")]
    [InlineData("line\u2028sep")]
    [InlineData("tag\U000E0041")]
    [InlineData("ideo\u2FF0")]
    [InlineData("\u200B\u00AD")]
    [InlineData("")]
    public void SaslPrep_refuses_prohibited_characters(string input) =>
        Assert.False(SaslPrep.TryPrepare(input, out _));

    [Fact]
    public void A_password_saslprep_refuses_gets_no_keys_and_a_mapped_one_gets_the_keys_of_its_mapping()
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        Assert.Null(ScramCredential.Derive("a password\twith a tab", salt, 4096));
        Assert.Equal(ScramCredential.Derive("fine p\u00E4ssword", salt, 4096)!.StoredKey, ScramCredential.Derive("fine\u00A0p\u00E4ss\u00ADword", salt, 4096)!.StoredKey);
    }

    [Fact]
    public void Every_failure_has_its_rfc_6120_condition()
    {
        Assert.Equal("not-authorized", SaslFailures.Condition(SaslFailure.NotAuthorized));
        Assert.Equal("malformed-request", SaslFailures.Condition(SaslFailure.MalformedRequest));
        Assert.Equal("invalid-authzid", SaslFailures.Condition(SaslFailure.InvalidAuthzid));
        Assert.Equal("account-disabled", SaslFailures.Condition(SaslFailure.AccountDisabled));
        Assert.Equal("temporary-auth-failure", SaslFailures.Condition(SaslFailure.TemporaryAuthFailure));
        foreach (var failure in Enum.GetValues<SaslFailure>().Where(f => f != SaslFailure.None))
        {
            Assert.Matches("^[a-z]+(-[a-z]+)*$", SaslFailures.Condition(failure));
        }
    }
}
