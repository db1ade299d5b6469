using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// One device of a cluster test: its socket on some node, what it got live (every <c>message</c> push of the test's
/// conversation, repeats included, so a duplicated push shows), whether it was told to <c>resync</c>, and what its
/// own sends were acknowledged with. It catches up the way a client does: by after= from the last seq it holds
/// without a gap.
/// </summary>
public sealed class ClusterDevice(TestUser user, int node, WsClient socket)
{
    public TestUser User { get; } = user;

    /// <summary>The node (index) its socket is on now.</summary>
    public int Node { get; set; } = node;

    public WsClient Socket { get; set; } = socket;

    /// <summary>Seqs pushed live on any of its sockets, in arrival order, repeats included.</summary>
    public List<long> Live { get; } = [];

    /// <summary>Seqs of its own acknowledged sends.</summary>
    public ConcurrentDictionary<string, long> Acked { get; } = new();

    /// <summary>Whether any of its sockets got a <c>resync</c> covering the conversation.</summary>
    public bool Resynced { get; private set; }

    public static async Task<ClusterDevice> ConnectAsync(ClusterNodes cluster, TestUser user, int node) =>
        new(user, node, await WsClient.ConnectAsync(cluster[node], user.AccessToken));

    /// <summary>Moves what the current socket received so far into <see cref="Live"/> and <see cref="Resynced"/>.</summary>
    public void Collect(string conversationId)
    {
        foreach (var message in Socket.TakeAll("message"))
        {
            if ((string?)message["message"]!["conversationId"] == conversationId)
            {
                Live.Add(message["message"]!.Seq());
            }
        }

        foreach (var resync in Socket.TakeAll("resync"))
        {
            if (resync["conversationIds"] is not JsonArray ids || ids.Any(id => (string?)id == conversationId))
            {
                Resynced = true;
            }
        }
    }

    /// <summary>Reconnects to <paramref name="node"/> after its socket died (what it received first is kept).</summary>
    public async Task ReconnectAsync(ClusterNodes cluster, int node, string conversationId)
    {
        Collect(conversationId);
        await Socket.DisposeAsync();
        Socket = await WsClient.ConnectAsync(cluster[node], User.AccessToken);
        Node = node;
    }

    /// <summary>What it holds after catching up: live pushes and own sends, then sync after= its last seq without a gap.</summary>
    public async Task<SortedSet<long>> CatchUpAsync(string conversationId)
    {
        Collect(conversationId);
        var have = new SortedSet<long>(Live.Concat(Acked.Values));
        long contiguous = 0;
        while (have.Contains(contiguous + 1))
        {
            contiguous++;
        }

        for (var page = 0; page < 1_000; page++)
        {
            var id = $"catchup-{Guid.NewGuid():N}";
            await Socket.SendAsync(new JsonObject { ["type"] = "sync", ["ref"] = id, ["conversationId"] = conversationId, ["afterSeq"] = contiguous, ["limit"] = 200 });
            var answer = await Socket.NextAsync("messages", TimeSpan.FromSeconds(30), f => (string?)f["ref"] == id);
            var items = answer["items"]!.AsArray().Select(m => m!.Seq()).ToList();
            have.UnionWith(items);
            if (!(bool)answer["hasMore"]!)
            {
                return have;
            }

            contiguous = items[^1];
        }

        throw new InvalidOperationException("too many pages");
    }

    /// <summary>
    /// Sends back to back until <paramref name="stop"/> (or <paramref name="max"/> sends): each is answered <c>sent</c>
    /// (recorded) or <c>error</c> (counted in <paramref name="refused"/>). Returns the clientMsgId whose answer never
    /// came because the socket died (to be retried on the next socket), or null.
    /// </summary>
    public async Task<string?> SendUntilAsync(string conversationId, string prefix, CancellationToken stop, Action? acked = null, int max = 100_000, ConcurrentDictionary<string, string>? refused = null)
    {
        for (var i = 0; !stop.IsCancellationRequested && i < max; i++)
        {
            var id = $"{prefix}-{i}";
            try
            {
                if (await SendOnceAsync(conversationId, id) is { } seq)
                {
                    Acked[id] = seq;
                    acked?.Invoke();
                }
                else
                {
                    refused?.TryAdd(id, "error");
                }
            }
            catch (Exception e) when (e is WebSocketException or InvalidOperationException or TimeoutException)
            {
                return id; // the node died under the send: its fate is unknown until it is retried
            }
        }

        return null;
    }

    /// <summary>One send (or a retry of <paramref name="clientMsgId"/>): its seq, or null when refused with an error frame.</summary>
    public async Task<long?> SendOnceAsync(string conversationId, string clientMsgId)
    {
        await Socket.SendAsync(new JsonObject
        {
            ["type"] = "send", ["ref"] = clientMsgId, ["conversationId"] = conversationId, ["clientMsgId"] = clientMsgId,
            ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = clientMsgId },
        });
        var answer = await Socket.NextMatchingAsync(f => (string?)f["ref"] == clientMsgId && (string?)f["type"] is "sent" or "error", TimeSpan.FromSeconds(30));
        return (string?)answer["type"] == "sent" ? answer["message"]!.Seq() : null;
    }
}
