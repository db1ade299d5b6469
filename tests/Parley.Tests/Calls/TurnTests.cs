using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Parley.Server.Calls;
using Parley.Tests.Cluster;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Calls;

/// <summary>
/// <c>GET /api/calls/ice-servers</c> against a real coturn (scripts/coturn.sh, <c>use-auth-secret</c>): the credentials
/// Parley issues allocate a TURN relay; expired ones and ones made with another secret are refused.
/// </summary>
public sealed class TurnTests() : OwnServerTests(Backend.Sqlite)
{
    [Fact]
    public async Task Without_settings_the_list_is_empty_and_the_call_needs_a_token()
    {
        await using var store = await TestStore.CreateAsync(Backend.Sqlite);
        await using var server = await ParleyServer.StartAsync(store);
        var user = await server.RegisterAsync();
        var answer = await server.Get(user, "/api/calls/ice-servers").Expect(HttpStatusCode.OK);
        Assert.Empty(answer["iceServers"]!.AsArray());
        Assert.Equal(3600, (int)answer["ttlSeconds"]!);
        await server.Send(HttpMethod.Get, "/api/calls/ice-servers").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Issued_credentials_allocate_a_relay_on_coturn_and_expired_or_forged_ones_do_not()
    {
        Assert.SkipUnless(File.Exists("/usr/bin/turnserver"), "coturn is not installed (scripts/deps.sh installs it)");
        await using var turn = await PrivateCoturn.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend.Sqlite);
        await using var server = await ParleyServer.StartAsync(
            store,
            null,
            "--Calls:StunUrls:0=stun:127.0.0.1:" + turn.Port,
            "--Calls:TurnUrls:0=turn:127.0.0.1:" + turn.Port + "?transport=udp",
            "--Calls:TurnSecret=" + turn.Secret,
            "--Calls:TurnTtlSeconds=600");
        var user = await server.RegisterAsync();
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var answer = await server.Get(user, "/api/calls/ice-servers").Expect(HttpStatusCode.OK);
        Assert.Equal(600, (int)answer["ttlSeconds"]!);
        var servers = answer["iceServers"]!.AsArray();
        Assert.Equal(2, servers.Count);
        Assert.Equal("stun:127.0.0.1:" + turn.Port, (string?)servers[0]!["urls"]![0]);
        Assert.Null(servers[0]!["username"]);
        var relay = servers[1]!;
        Assert.Equal("turn:127.0.0.1:" + turn.Port + "?transport=udp", (string?)relay["urls"]![0]);
        var username = (string)relay["username"]!;
        var credential = (string)relay["credential"]!;
        var parts = username.Split(':');
        Assert.Equal(user.Id, parts[1]);
        Assert.InRange(long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), before + 600, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 600);

        var endpoint = new IPEndPoint(IPAddress.Loopback, turn.Port);
        var relayed = await TurnClient.AllocateAsync(endpoint, username, credential);
        Assert.True(relayed.Address is not null, $"allocation refused: {relayed.Error}");
        Assert.Equal(IPAddress.Loopback, relayed.Address!.Address);

        // an hour old: expired
        var stale = CallEndpoints.For(long.Parse(user.Id, System.Globalization.CultureInfo.InvariantCulture), new CallOptions { TurnUrls = ["turn:x"], TurnSecret = turn.Secret, TurnTtlSeconds = 600 }, DateTimeOffset.UtcNow.AddHours(-1)).IceServers[0];
        Assert.Equal(401, (await TurnClient.AllocateAsync(endpoint, stale.Username!, stale.Credential!)).Error);

        // made with another secret
        var forged = CallEndpoints.For(long.Parse(user.Id, System.Globalization.CultureInfo.InvariantCulture), new CallOptions { TurnUrls = ["turn:x"], TurnSecret = "not the secret", TurnTtlSeconds = 600 }, DateTimeOffset.UtcNow).IceServers[0];
        Assert.Equal(401, (await TurnClient.AllocateAsync(endpoint, forged.Username!, forged.Credential!)).Error);

        // and a second allocation with Parley's credentials still works (the refusals were about the credentials)
        Assert.NotNull((await TurnClient.AllocateAsync(endpoint, username, credential)).Address);
    }
}

/// <summary>A coturn of one test's own (scripts/coturn.sh in a private directory); Dispose stops it and deletes the directory.</summary>
public sealed class PrivateCoturn : IAsyncDisposable
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(60);
    private readonly Dictionary<string, string> _environment;

    private PrivateCoturn(Dictionary<string, string> environment, string line)
    {
        _environment = environment;
        var (address, secret) = (line.Split(',')[0], line.Split(',')[1]);
        Port = int.Parse(address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        Secret = secret["secret=".Length..];
    }

    public int Port { get; }

    public string Secret { get; }

    public static async Task<PrivateCoturn> StartAsync()
    {
        var dir = Path.Combine("/tmp", $"parley-coturn-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        var environment = new Dictionary<string, string> { ["PARLEY_COTURN_DIR"] = dir, ["PARLEY_COTURN_PORT"] = "53478" };
        try
        {
            return new PrivateCoturn(environment, await ScriptRunner.RunAsync("coturn.sh", environment, ScriptTimeout, "start"));
        }
        catch
        {
            await ScriptRunner.RunAsync("coturn.sh", environment, ScriptTimeout, "stop");
            throw;
        }
    }

    public async ValueTask DisposeAsync() => await ScriptRunner.RunAsync("coturn.sh", _environment, ScriptTimeout, "stop");
}

/// <summary>
/// The least of a TURN client (RFC 8656 over UDP, RFC 8489 messages): an Allocate request, its 401 challenge (realm and
/// nonce), and the Allocate again with long-term credentials (MESSAGE-INTEGRITY keyed by MD5(username:realm:password)).
/// </summary>
internal static class TurnClient
{
    private const ushort AllocateRequest = 0x0003, AllocateSuccess = 0x0103, AllocateError = 0x0113;
    private const ushort Username = 0x0006, MessageIntegrity = 0x0008, ErrorCode = 0x0009, Realm = 0x0014, Nonce = 0x0015;
    private const ushort XorRelayedAddress = 0x0016, RequestedTransport = 0x0019;
    private const uint MagicCookie = 0x2112A442;

    public sealed record Outcome(IPEndPoint? Address, int? Error);

    public static async Task<Outcome> AllocateAsync(IPEndPoint server, string username, string password)
    {
        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var transport = new byte[] { 17, 0, 0, 0 }; // UDP
        var challenge = await ExchangeAsync(udp, server, Build([(RequestedTransport, transport)], null));
        if (challenge.Type != AllocateError || ErrorOf(challenge) != 401)
        {
            return new Outcome(null, challenge.Type == AllocateError ? ErrorOf(challenge) : -1);
        }

        var realm = challenge.Attributes[Realm];
        var nonce = challenge.Attributes[Nonce];
        var key = MD5.HashData(Encoding.UTF8.GetBytes($"{username}:{Encoding.UTF8.GetString(realm)}:{password}"));
        var answer = await ExchangeAsync(udp, server, Build([(Username, Encoding.UTF8.GetBytes(username)), (Realm, realm), (Nonce, nonce), (RequestedTransport, transport)], key));
        if (answer.Type == AllocateSuccess)
        {
            var xored = answer.Attributes[XorRelayedAddress];
            var port = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(xored.AsSpan(2)) ^ (MagicCookie >> 16));
            var address = BinaryPrimitives.ReadUInt32BigEndian(xored.AsSpan(4)) ^ MagicCookie;
            var bytes = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(bytes, address);
            return new Outcome(new IPEndPoint(new IPAddress(bytes), port), null);
        }

        return new Outcome(null, answer.Type == AllocateError ? ErrorOf(answer) : -1);
    }

    private static int ErrorOf((ushort Type, Dictionary<ushort, byte[]> Attributes) message) =>
        message.Attributes.TryGetValue(ErrorCode, out var value) ? (value[2] & 0x7) * 100 + value[3] : -1;

    private static async Task<(ushort Type, Dictionary<ushort, byte[]> Attributes)> ExchangeAsync(UdpClient udp, IPEndPoint server, byte[] request)
    {
        // UDP may lose a datagram: a few tries, each bounded.
        for (var attempt = 0; attempt < 5; attempt++)
        {
            await udp.SendAsync(request, server);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                while (true)
                {
                    var received = await udp.ReceiveAsync(timeout.Token);
                    var data = received.Buffer;
                    if (data.Length >= 20 && data.AsSpan(8, 12).SequenceEqual(request.AsSpan(8, 12)))
                    {
                        return Parse(data);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        throw new TimeoutException("coturn did not answer");
    }

    private static byte[] Build(IReadOnlyList<(ushort Type, byte[] Value)> attributes, byte[]? integrityKey)
    {
        using var body = new MemoryStream();
        foreach (var (type, value) in attributes)
        {
            WriteAttribute(body, type, value);
        }

        var header = new byte[20];
        BinaryPrimitives.WriteUInt16BigEndian(header, AllocateRequest);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), MagicCookie);
        RandomNumberGenerator.Fill(header.AsSpan(8, 12));
        var length = (int)body.Length + (integrityKey is null ? 0 : 24);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)length);
        var message = header.Concat(body.ToArray()).ToArray();
        if (integrityKey is null)
        {
            return message;
        }

        // The HMAC covers the message up to the attribute, with the length already counting it.
        using var withIntegrity = new MemoryStream();
        withIntegrity.Write(message);
        WriteAttribute(withIntegrity, MessageIntegrity, HMACSHA1.HashData(integrityKey, message));
        return withIntegrity.ToArray();
    }

    private static void WriteAttribute(Stream stream, ushort type, byte[] value)
    {
        Span<byte> head = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(head, type);
        BinaryPrimitives.WriteUInt16BigEndian(head[2..], (ushort)value.Length);
        stream.Write(head);
        stream.Write(value);
        stream.Write(new byte[(4 - (value.Length % 4)) % 4]);
    }

    private static (ushort Type, Dictionary<ushort, byte[]> Attributes) Parse(byte[] data)
    {
        var type = BinaryPrimitives.ReadUInt16BigEndian(data);
        var length = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(2));
        var attributes = new Dictionary<ushort, byte[]>();
        var at = 20;
        while (at + 4 <= 20 + length && at + 4 <= data.Length)
        {
            var attributeType = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(at));
            var attributeLength = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(at + 2));
            attributes.TryAdd(attributeType, data.AsSpan(at + 4, attributeLength).ToArray());
            at += 4 + attributeLength + ((4 - (attributeLength % 4)) % 4);
        }

        return (type, attributes);
    }
}
