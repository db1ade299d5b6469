using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Realtime;

public sealed class ReconnectTestsSqlite(SqliteFixture fixture) : ReconnectTests(fixture), IClassFixture<SqliteFixture>;

public sealed class ReconnectTestsPostgres(PostgresFixture fixture) : ReconnectTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>Delivery guarantee 4 as a client lives it: drop mid-stream, reconnect, catch up, dedupe by seq.</summary>
public abstract class ReconnectTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task A_client_that_drops_mid_stream_ends_with_every_message_exactly_once()
    {
        var (sender, reader, conversationId) = await Server.FriendsWithConversationAsync();
        const int Total = 120;
        // The client's dedupe by (conversationId, seq); one conversation here. A seq seen twice must carry the
        // same message both times.
        var seen = new Dictionary<long, string>();

        void Take(JsonNode message)
        {
            var seq = (long)message["seq"]!;
            var text = (string)message["content"]!["text"]!;
            Assert.Equal(text, seen.TryAdd(seq, text) ? text : seen[seq]);
        }

        // Connected before the first send, so its pushes start at seq 1 (a client connecting later would catch up
        // from what it holds first; the test once raced here: sends committed before the socket registered were
        // never pushed to it, and its "held up to" skipped them).
        var first = await WsClient.ConnectAsync(Server, reader.AccessToken);
        var committed = 0;
        var sending = Task.Run(async () =>
        {
            for (var i = 1; i <= Total; i++)
            {
                await Server.SendTextAsync(sender, conversationId, "n" + i);
                Volatile.Write(ref committed, i);
            }
        });

        while (seen.Count < 30)
        {
            Take((await first.NextAsync("message"))["message"]!);
        }

        first.Abort(); // the network goes away mid-stream
        await first.DisposeAsync();
        // Messages go on being committed while the device is offline: ten more than it holds before it comes back
        // (the sender's own loop, which no event announces to this one, is looked at under a deadline).
        var held = seen.Keys.Max();
        await Poll.UntilAsync(() => Volatile.Read(ref committed) >= Math.Min(Total, held + 10) || sending.IsCompleted, "more messages committed while offline");

        await using var second = await WsClient.ConnectAsync(Server, reader.AccessToken);
        // Catch up from the last seq this device holds, page by page, while live pushes keep arriving.
        var after = seen.Keys.Max();
        while (true)
        {
            await second.SendAsync(new JsonObject { ["type"] = "sync", ["ref"] = after, ["conversationId"] = conversationId, ["afterSeq"] = after, ["limit"] = 25 });
            var page = await second.NextAsync("messages", where: f => (long)f["ref"]! == after);
            foreach (var message in page["items"]!.AsArray())
            {
                Take(message!);
            }

            if (!(bool)page["hasMore"]!)
            {
                break;
            }

            after = (long)page["items"]!.AsArray()[^1]!["seq"]!;
        }

        await sending;
        // Whatever was committed after the last page arrives live (or by one more sync).
        while (seen.Count < Total)
        {
            Take((await second.NextAsync("message"))["message"]!);
        }

        Assert.Equal(Enumerable.Range(1, Total).Select(i => (long)i), seen.Keys.Order());
        Assert.Equal(Enumerable.Range(1, Total).Select(i => "n" + i), seen.OrderBy(p => p.Key).Select(p => p.Value));
    }
}
