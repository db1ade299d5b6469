using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Parley.Server.Xmpp.Sasl;

namespace Parley.Tests.Xmpp.Sasl;

/// <summary>
/// The client side of SCRAM-SHA-256 written from RFC 5802 section 3 with .NET's primitives, independently of the
/// server's code (no SaslPrep: tests give it passwords SASLprep leaves as they are).
/// </summary>
internal sealed class RfcScramClient(string username, string password, string gs2Header = "n,,")
{
    private byte[] _serverSignature = [];

    public string ClientNonce { get; init; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));

    public string ClientFirstBare => $"n={username.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal)},r={ClientNonce}";

    public byte[] First() => Encoding.UTF8.GetBytes(gs2Header + ClientFirstBare);

    /// <summary>The client-final-message for this server-first-message (salted with the salt and count it names).</summary>
    public byte[] Final(byte[] serverFirst)
    {
        var text = Encoding.UTF8.GetString(serverFirst);
        var fields = text.Split(',').ToDictionary(f => f[..1], f => f[2..]);
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), Convert.FromBase64String(fields["s"]), int.Parse(fields["i"], System.Globalization.CultureInfo.InvariantCulture), HashAlgorithmName.SHA256, 32);
        var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
        var storedKey = SHA256.HashData(clientKey);
        var withoutProof = $"c={Convert.ToBase64String(Encoding.UTF8.GetBytes(gs2Header))},r={fields["r"]}";
        var authMessage = Encoding.UTF8.GetBytes(ClientFirstBare + "," + text + "," + withoutProof);
        var signature = HMACSHA256.HashData(storedKey, authMessage);
        var proof = clientKey.Zip(signature, (a, b) => (byte)(a ^ b)).ToArray();
        _serverSignature = HMACSHA256.HashData(HMACSHA256.HashData(salted, "Server Key"u8), authMessage);
        return Encoding.UTF8.GetBytes(withoutProof + ",p=" + Convert.ToBase64String(proof));
    }

    public bool IsServerFinal(byte[]? serverFinal) =>
        serverFinal is not null && Encoding.UTF8.GetString(serverFinal) == "v=" + Convert.ToBase64String(_serverSignature);
}

/// <summary>
/// Debian's python3-slixmpp's own SASL SCRAM-SHA-256 client (slixmpp.util.sasl: SASLprep, nonce, proof and the check of
/// the server's signature), driven over stdin/stdout by /usr/bin/python3: a client none of us wrote.
/// </summary>
internal static class SlixmppScram
{
    private const string Script = """
        import base64, sys
        from slixmpp.util.sasl import choose
        username, password, authzid = sys.argv[1], sys.argv[2], sys.argv[3]
        creds = lambda required, optional: {'username': username, 'password': password, 'authzid': authzid, 'channel_binding': b''}
        mech = choose(['SCRAM-SHA-256'], creds, lambda names: {'encrypted': True, 'unencrypted_scram': True})
        assert mech.name == 'SCRAM-SHA-256', mech.name
        def send(data):
            print(base64.b64encode(data).decode(), flush=True)
        def receive():
            line = sys.stdin.readline().strip()
            if line == 'failed':
                sys.exit(3)
            return base64.b64decode(line)
        send(mech.process())
        send(mech.process(receive()))
        try:
            mech.process(receive())
        except Exception as e:
            print('mutual-auth-failed ' + type(e).__name__, flush=True)
            sys.exit(4)
        print('authenticated', flush=True)
        """;

    private static string Python => Environment.GetEnvironmentVariable("PARLEY_TEST_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";

    /// <summary>
    /// Runs one exchange between slixmpp and <paramref name="server"/>: the failure the server answered (None when it
    /// authenticated and slixmpp verified its signature).
    /// </summary>
    public static async Task<SaslFailure> AuthenticateAsync(ScramSha256Server server, string username, string password, string authzid = "")
    {
        var cancel = TestContext.Current.CancellationToken;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var start = new ProcessStartInfo(Python) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-c", Script, username, password, authzid })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        var errors = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            var first = await server.StartAsync(await ReadAsync(process, errors, timeout.Token), cancel);
            if (first.Failed)
            {
                await process.StandardInput.WriteLineAsync("failed");
                return first.Failure;
            }

            await process.StandardInput.WriteLineAsync(Convert.ToBase64String(first.Data!));
            await process.StandardInput.FlushAsync(timeout.Token);
            var final = await server.FinishAsync(await ReadAsync(process, errors, timeout.Token));
            if (final.Failed)
            {
                await process.StandardInput.WriteLineAsync("failed");
                return final.Failure;
            }

            await process.StandardInput.WriteLineAsync(Convert.ToBase64String(final.Data!));
            await process.StandardInput.FlushAsync(timeout.Token);
            var last = await process.StandardOutput.ReadLineAsync(timeout.Token);
            Assert.True(last == "authenticated", $"slixmpp: {last}; {await errors}");
            return SaslFailure.None;
        }
        finally
        {
            process.StandardInput.Close();
            await process.WaitForExitAsync(timeout.Token);
        }
    }

    private static async Task<byte[]> ReadAsync(Process process, Task<string> errors, CancellationToken cancellationToken)
    {
        var line = await process.StandardOutput.ReadLineAsync(cancellationToken);
        Assert.False(string.IsNullOrEmpty(line), "slixmpp wrote nothing: " + (string.IsNullOrEmpty(line) ? await errors : ""));
        return Convert.FromBase64String(line!);
    }
}

/// <summary>Credentials held in memory: the seam <see cref="ScramSha256Server"/> reads the store through, for tests of the mechanism alone.</summary>
internal sealed class MemoryScramCredentials : IScramCredentials
{
    private readonly Dictionary<string, ScramAccount> _accounts = new(StringComparer.OrdinalIgnoreCase);

    public MemoryScramCredentials Add(string username, string? password, bool disabled = false, byte[]? salt = null, int iterations = 4096)
    {
        var credential = password is null ? null : ScramCredential.Derive(password, salt ?? RandomNumberGenerator.GetBytes(16), iterations);
        _accounts[username] = new ScramAccount(_accounts.Count + 1, username, credential, disabled);
        return this;
    }

    public Task<ScramAccount?> FindAsync(string username, CancellationToken cancellationToken) =>
        Task.FromResult(_accounts.GetValueOrDefault(username));
}
