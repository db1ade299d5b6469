using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Xmpp;

/// <summary>A server with a certificate and no plaintext: STARTTLS offered and required.</summary>
public sealed class XmppTlsFixture : XmppFixture
{
    public XmppTlsFixture()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={Domain}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(Domain);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        Directory.CreateDirectory(Dir);
        File.WriteAllText(CertificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(PemPath, certificate.ExportCertificatePem() + "\n" + key.ExportPkcs8PrivateKeyPem());
    }

    public override Backend Backend => Backend.Sqlite;

    private string Dir { get; } = Path.Combine(Path.GetTempPath(), "parley-tests", "xmpp-tls-" + Guid.NewGuid().ToString("N"));

    /// <summary>The certificate alone, for the client to trust.</summary>
    public string CertificatePath => Path.Combine(Dir, "ca.pem");

    private string PemPath => Path.Combine(Dir, "server.pem");

    protected override string[] ExtraArgs => [$"--Xmpp:Port={XmppPort}", $"--Xmpp:Domain={Domain}", $"--Xmpp:Certificate={PemPath}", "--Xmpp:BindAddress=127.0.0.1"];
}

public sealed class XmppTlsTests(XmppTlsFixture fixture) : BackendTests(fixture), IClassFixture<XmppTlsFixture>
{
    [Fact]
    public async Task Slixmpp_logs_in_over_starttls_and_chats()
    {
        var (alice, bob, _) = await Server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(Server, bob.AccessToken);
        var jid = $"{alice.Username.ToLowerInvariant()}@{XmppFixture.Domain}";
        var chat = Slixmpp.RunAsync(fixture.XmppPort, jid, alice.Password, "chat", "--ca", fixture.CertificatePath, "--to", $"{bob.Username.ToLowerInvariant()}@{XmppFixture.Domain}", "--id", "tls-1", "--body", "over tls", "--expect", "back");
        var received = await ws.NextAsync("message", TimeSpan.FromSeconds(30));
        Assert.Equal("over tls", (string?)received["message"]!["content"]!["text"]);
        await Server.SendTextAsync(bob, (string)received["message"]!["conversationId"]!, "back");
        var result = await chat;
        Assert.True((bool?)result["ok"], result.ToJsonString());
    }

    [Fact]
    public async Task Without_tls_no_mechanism_is_offered_and_plain_auth_is_refused()
    {
        var alice = await Server.RegisterAsync();
        await using var raw = await RawXmpp.ConnectAsync(fixture.XmppPort);
        await raw.OpenAsync();
        var features = await raw.UntilAsync("</stream:features>");
        Assert.Contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>", features);
        Assert.DoesNotContain("<mechanisms", features);
        var plain = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0{alice.Username}\0{alice.Password}"));
        await raw.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>");
        Assert.Contains("<invalid-mechanism/>", await raw.UntilAsync("</failure>"));
    }
}
