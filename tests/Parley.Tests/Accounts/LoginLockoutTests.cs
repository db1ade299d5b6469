using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Accounts;

public sealed class LoginLockoutTestsSqlite() : LoginLockoutTests(Backend.Sqlite);

public sealed class LoginLockoutTestsPostgres() : LoginLockoutTests(Backend.Postgres);

/// <summary>
/// Ten wrong passwords used to lock any account for the window. From real client addresses (127.0.0.x, each its own
/// source address): an attacker is held to the hard per-address limit and then slowed down across addresses, while
/// the owner on the address they registered and logged in from is not slowed.
/// </summary>
public abstract class LoginLockoutTests(Backend backend) : OwnServerTests(backend)
{
    [Fact]
    public async Task An_attacker_cannot_lock_the_owner_out()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store);
        var owner = await server.RegisterAsync(); // from 127.0.0.1: a known address of the owner

        using var attacker = ClientFrom(server, "127.0.0.2");
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(attacker, owner.Username, "wrong password")).Status);
        }

        // The attacker's address is at its hard limit for this username; from a new address it is slowed down.
        var held = await LoginAsync(attacker, owner.Username, "wrong password");
        Assert.Equal(HttpStatusCode.TooManyRequests, held.Status);
        using var elsewhere = ClientFrom(server, "127.0.0.3");
        // Pauses of 1, 2, 4, ... seconds after each let-in attempt: however slow this machine, one of the next few is held.
        (HttpStatusCode Status, int? RetryAfter) slowed = default;
        for (var i = 0; i < 8 && slowed.Status != HttpStatusCode.TooManyRequests; i++)
        {
            slowed = await LoginAsync(elsewhere, owner.Username, "wrong password");
            Assert.True(slowed.Status is HttpStatusCode.TooManyRequests or HttpStatusCode.Unauthorized);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, slowed.Status);
        Assert.InRange(slowed.RetryAfter ?? 0, 1, 60);

        // The owner, from the address they are known on, logs in at once, with the right password, every time.
        for (var i = 0; i < 3; i++)
        {
            await server.LoginAsync(owner.Username, owner.Password);
        }

        // A device of the owner's on an address never seen is slowed like anyone (a pause, not a lockout).
        using var newDevice = ClientFrom(server, "127.0.0.4");
        var fresh = await LoginAsync(newDevice, owner.Username, owner.Password);
        Assert.Equal(HttpStatusCode.TooManyRequests, fresh.Status);
        Assert.InRange(fresh.RetryAfter ?? 0, 1, 60);
    }

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

    private static async Task<(HttpStatusCode Status, int? RetryAfter)> LoginAsync(HttpClient client, string username, string password)
    {
        using var response = await client.PostAsync(
            "/api/auth/login",
            new StringContent(new JsonObject { ["username"] = username, ["password"] = password }.ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        return (response.StatusCode, (int?)response.Headers.RetryAfter?.Delta?.TotalSeconds);
    }
}
