using System.Net;
using System.Net.Sockets;
using Parley.Client;

namespace Parley.Bench;

/// <summary>
/// Opens many WebSockets, spread over several loopback source addresses (127.0.0.2, 127.0.0.3, ...) so that no
/// single address runs out of ephemeral ports.
/// </summary>
public sealed class Connector : IDisposable
{
    private readonly SocketsHttpHandler[] _handlers;
    private readonly HttpMessageInvoker[] _invokers;

    /// <param name="addresses">How many source addresses.</param>
    /// <param name="firstAddress">The first one is 127.0.0.(2 + this): worker processes each take addresses of their own.</param>
    public Connector(int addresses, int firstAddress = 0)
    {
        _handlers = new SocketsHttpHandler[Math.Max(1, addresses)];
        _invokers = new HttpMessageInvoker[_handlers.Length];
        if (firstAddress < 0 || firstAddress + _handlers.Length > 250)
        {
            throw new ArgumentException("source addresses go from 127.0.0.2 to 127.0.0.251");
        }

        for (var i = 0; i < _handlers.Length; i++)
        {
            var source = new IPAddress([127, 0, 0, (byte)(2 + firstAddress + i)]);
            _handlers[i] = new SocketsHttpHandler
            {
                ConnectCallback = async (context, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    try
                    {
                        socket.Bind(new IPEndPoint(source, 0));
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
            _invokers[i] = new HttpMessageInvoker(_handlers[i], disposeHandler: false);
        }
    }

    public int Addresses => _handlers.Length;

    /// <summary>Connects user <paramref name="index"/>'s device, from source address index % addresses.</summary>
    public Task<ParleySocket> ConnectAsync(Uri server, string accessToken, int index, Action<ServerEvent>? onEvent, CancellationToken cancellationToken) =>
        ParleySocket.ConnectAsync(server, accessToken, new ParleySocketOptions
        {
            Invoker = _invokers[index % _invokers.Length],
            OnEvent = onEvent,
            ConnectTimeout = TimeSpan.FromSeconds(60),
        }, cancellationToken);

    /// <summary>Connects many devices with bounded concurrency; the result is in the order of <paramref name="users"/>.</summary>
    public Task<ParleySocket[]> ConnectManyAsync(Uri server, IReadOnlyList<(int Index, string AccessToken)> users, Func<int, Action<ServerEvent>?> onEvent, int concurrency, CancellationToken cancellationToken) =>
        ConnectManyAsync(_ => server, users, onEvent, concurrency, cancellationToken);

    /// <summary>As above, user i (by position in <paramref name="users"/>) to the node <paramref name="server"/> gives for its index.</summary>
    public async Task<ParleySocket[]> ConnectManyAsync(Func<int, Uri> server, IReadOnlyList<(int Index, string AccessToken)> users, Func<int, Action<ServerEvent>?> onEvent, int concurrency, CancellationToken cancellationToken)
    {
        var sockets = new ParleySocket[users.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, users.Count), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            sockets[i] = await ConnectAsync(server(users[i].Index), users[i].AccessToken, users[i].Index, onEvent(i), ct);
        });
        return sockets;
    }

    public static async Task CloseAllAsync(IEnumerable<ParleySocket?> sockets) =>
        await Parallel.ForEachAsync(sockets.OfType<ParleySocket>(), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (socket, _) => await socket.DisposeAsync());

    public void Dispose()
    {
        foreach (var invoker in _invokers)
        {
            invoker.Dispose();
        }

        foreach (var handler in _handlers)
        {
            handler.Dispose();
        }
    }
}
