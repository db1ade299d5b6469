using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Parley.Storage.Webhooks;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Webhooks;

public sealed class BeforeSendTestsSqlite() : BeforeSendTests(Backend.Sqlite);

public sealed class BeforeSendTestsPostgres() : BeforeSendTests(Backend.Postgres);

/// <summary>The before-send hook against a real receiver: accept, reject, replace, and what a timeout or a bad answer does either way of FailOpen.</summary>
public abstract class BeforeSendTests(Backend backend) : OwnServerTests(backend)
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The file a "swap to theirs" replacement names (another user's).</summary>
    private string _theirFile = "";

    /// <summary>The receiver's answers, by the message's text.</summary>
    private async Task Answer(ReceivedHook hook, HttpContext context)
    {
        if (hook.Type != "message.before_send")
        {
            context.Response.StatusCode = 204;
            return;
        }

        if ((string?)hook.Data["content"]!["name"] == "swap to theirs")
        {
            await context.Response.WriteAsync($$$"""{"action":"replace","content":{"fileId":"{{{_theirFile}}}","name":"theirs.bin","size":3}}""");
            return;
        }

        var text = (string?)hook.Data["content"]!["text"];
        switch (text)
        {
            case "swap to a blocked word":
                await context.Response.WriteAsync("""{"action":"replace","content":{"text":"now with a BadWord in it"}}""");
                break;
            case "reject me":
                await context.Response.WriteAsync("""{"action":"reject","reason":"no swearing"}""");
                break;
            case "swap me":
                await context.Response.WriteAsync("""{"action":"replace","content":{"text":"swapped"}}""");
                break;
            case "swap invalid":
                await context.Response.WriteAsync("""{"action":"replace","content":{"text":""}}""");
                break;
            case "junk":
                await context.Response.WriteAsync("""{"action": accept""");
                break;
            case "huge":
                await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes("{\"action\":\"accept\",\"pad\":\"" + new string('x', 10 * 1024 * 1024) + "\"}"), context.RequestAborted);
                break;
            case "error":
                context.Response.StatusCode = 500;
                break;
            case var t when t?.StartsWith("slow", StringComparison.Ordinal) == true:
                // Answers only once the test lets it (or the server gives up and closes the request).
                await _release.Task.WaitAsync(TimeSpan.FromSeconds(20), context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                if (!context.RequestAborted.IsCancellationRequested)
                {
                    await context.Response.WriteAsync("""{"action":"accept"}""");
                }

                break;
            default:
                await context.Response.WriteAsync("""{"action":"accept"}""");
                break;
        }
    }

    private async Task<(WebhookReceiver Receiver, TestStore Store, ParleyServer Server)> StartAsync(bool failOpen, int timeoutMs = 500, params string[] more)
    {
        var receiver = await WebhookReceiver.StartAsync();
        receiver.Handler = Answer;
        var store = await TestStore.CreateAsync(Backend);
        var server = await ParleyServer.StartAsync(store, null, receiver.ServerArgs(
            ["--Webhooks:BeforeSend=true", $"--Webhooks:FailOpen={failOpen}", $"--Webhooks:TimeoutMs={timeoutMs}", "--Webhooks:Events:0=message.created", .. more]));
        return (receiver, store, server);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_replacement_naming_a_file_the_sender_may_not_use_is_no_answer_and_follows_FailOpen(bool failOpen)
    {
        var (receiver, store, server) = await StartAsync(failOpen);
        await using var _r = receiver;
        await using var _s = store;
        await using var _v = server;
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        var stranger = await server.RegisterAsync();
        var mine = (await server.UploadAsync(a, "abc"u8.ToArray(), "mine.bin")).Id();
        _theirFile = (await server.UploadAsync(stranger, "xyz"u8.ToArray(), "theirs.bin")).Id();
        var send = server.Post(a, $"/api/conversations/{direct}/messages", new JsonObject
        {
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["type"] = "file",
            ["content"] = new JsonObject { ["fileId"] = mine, ["name"] = "swap to theirs", ["size"] = 3 },
        });
        if (failOpen)
        {
            var sent = await send.Expect(HttpStatusCode.Created);
            Assert.Equal(mine, (string?)sent["content"]!["fileId"]); // the original
            Assert.Equal([mine], (await server.CatchUpAsync(b, direct)).Select(m => (string?)m["content"]!["fileId"]));
        }
        else
        {
            await send.ExpectProblem(HttpStatusCode.ServiceUnavailable, "unavailable");
            Assert.Empty(await server.CatchUpAsync(b, direct));
        }

        Assert.Contains(receiver.All, h => h.Type == "message.before_send");
    }

    [Theory]
    [InlineData("reject")]
    [InlineData("mask")]
    public async Task A_text_replacement_goes_through_the_blocked_words(string action)
    {
        var words = Path.Combine(Path.GetTempPath(), "parley-tests", "hook-words-" + Guid.NewGuid().ToString("N") + ".txt");
        Directory.CreateDirectory(Path.GetDirectoryName(words)!);
        await File.WriteAllLinesAsync(words, ["badword"]);
        try
        {
            var (receiver, store, server) = await StartAsync(failOpen: true, 500, $"--Moderation:BlockedWords={words}", $"--Moderation:Action={action}");
            await using var _r = receiver;
            await using var _s = store;
            await using var _v = server;
            var (a, b, direct) = await server.FriendsWithConversationAsync();
            var send = server.SendText(a, direct, "swap to a blocked word");
            if (action == "reject")
            {
                await send.ExpectProblem(HttpStatusCode.Forbidden, "rejected");
                Assert.Empty(await server.CatchUpAsync(b, direct));
            }
            else
            {
                var sent = await send.Expect(HttpStatusCode.Created);
                Assert.Equal("now with a ******* in it", (string?)sent["content"]!["text"]);
                Assert.Equal(["now with a ******* in it"], (await server.CatchUpAsync(b, direct)).Select(m => (string?)m["content"]!["text"]));
            }
        }
        finally
        {
            File.Delete(words);
        }
    }

    [Fact]
    public async Task A_retry_is_answered_before_the_hook_is_asked()
    {
        var (receiver, store, server) = await StartAsync(failOpen: false);
        await using var _r = receiver;
        await using var _s = store;
        await using var _v = server;
        var (a, _, direct) = await server.FriendsWithConversationAsync();
        var other = (string)(await server.CreateGroupAsync(a))["conversationId"]!;
        var first = await server.SendTextAsync(a, direct, "hello", "cm-once");
        var again = await server.SendText(a, direct, "hello", "cm-once").Expect(HttpStatusCode.OK);
        Assert.Equal(first.Seq(), again.Seq());
        await server.SendText(a, other, "elsewhere", "cm-once").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        await server.SendTextAsync(a, direct, "sentinel", "cm-sentinel");
        await receiver.FirstAsync("message.before_send", h => (string?)h.Data["clientMsgId"] == "cm-sentinel");
        Assert.Single(receiver.All, h => h.Type == "message.before_send" && (string?)h.Data["clientMsgId"] == "cm-once");
    }

    [Fact]
    public async Task Accept_reject_and_replace_decide_what_is_stored_and_delivered()
    {
        var (receiver, store, server) = await StartAsync(failOpen: false);
        await using var _r = receiver;
        await using var _s = store;
        await using var _v = server;
        var (a, b, direct) = await server.FriendsWithConversationAsync();

        var accepted = await server.SendTextAsync(a, direct, "hello", "cm-accept");
        var asked = await receiver.FirstAsync("message.before_send", h => (string?)h.Data["clientMsgId"] == "cm-accept");
        Assert.True(asked.SignatureValid);
        Assert.Equal(direct, (string?)asked.Data["conversationId"]);
        Assert.Equal(a.Id, (string?)asked.Data["senderId"]);
        Assert.Equal("text", (string?)asked.Data["type"]);
        Assert.False(string.IsNullOrEmpty(asked.Id));
        Assert.Equal("hello", (string?)accepted["content"]!["text"]);

        var rejected = await server.SendText(a, direct, "reject me").ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        Assert.Contains("no swearing", (string?)rejected["detail"]);

        var replaced = await server.SendTextAsync(a, direct, "swap me");
        Assert.Equal("swapped", (string?)replaced["content"]!["text"]);
        var history = await server.CatchUpAsync(b, direct);
        Assert.Equal(["hello", "swapped"], history.Select(m => (string?)m["content"]!["text"]));
        var created = await receiver.FirstAsync(WebhookOutbox.MessageCreated, h => (long)h.Data["seq"]! == replaced.Seq() && (string?)h.Data["conversationId"] == direct);
        Assert.Equal("swapped", (string?)created.Data["content"]!["text"]);

        // A replacement that fails validation is no answer: FailOpen false refuses.
        await server.SendText(a, direct, "swap invalid").ExpectProblem(HttpStatusCode.ServiceUnavailable, "unavailable");

        // The socket gets the same answers as error or sent frames.
        await using var socket = await WsClient.ConnectAsync(server, a.AccessToken);
        await socket.SendAsync(Frame(direct, "ws-reject", "reject me"));
        var error = await socket.NextAsync("error", TimeSpan.FromSeconds(10), f => (string?)f["ref"] == "ws-reject");
        Assert.Equal("rejected", (string?)error["code"]);
        await socket.SendAsync(Frame(direct, "ws-swap", "swap me"));
        var sent = await socket.NextAsync("sent", TimeSpan.FromSeconds(10), f => (string?)f["ref"] == "ws-swap");
        Assert.Equal("swapped", (string?)sent["message"]!["content"]!["text"]);
    }

    [Fact]
    public async Task Without_an_answer_FailOpen_false_refuses_with_503()
    {
        var (receiver, store, server) = await StartAsync(failOpen: false, timeoutMs: 300);
        await using var _r = receiver;
        await using var _s = store;
        await using var _v = server;
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        foreach (var text in new[] { "slow", "junk", "huge", "error" })
        {
            await server.SendText(a, direct, text).ExpectProblem(HttpStatusCode.ServiceUnavailable, "unavailable");
        }

        Assert.Empty(await server.CatchUpAsync(b, direct));
        _release.TrySetResult();
    }

    [Fact]
    public async Task A_receiver_that_is_gone_is_no_answer_either_way()
    {
        var (receiver, store, server) = await StartAsync(failOpen: false);
        await using var _s = store;
        await using var _v = server;
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        await receiver.DisposeAsync(); // nothing listens on its port any more: connections are refused
        await server.SendText(a, direct, "anyone there").ExpectProblem(HttpStatusCode.ServiceUnavailable, "unavailable");
        Assert.Empty(await server.CatchUpAsync(b, direct));
    }

    [Fact]
    public async Task Without_an_answer_FailOpen_true_stores_the_original()
    {
        var (receiver, store, server) = await StartAsync(failOpen: true, timeoutMs: 300);
        await using var _r = receiver;
        await using var _s = store;
        await using var _v = server;
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        foreach (var text in new[] { "slow", "junk", "huge", "error" })
        {
            Assert.Equal(text, (string?)(await server.SendTextAsync(a, direct, text))["content"]!["text"]);
        }

        Assert.Equal(["slow", "junk", "huge", "error"], (await server.CatchUpAsync(b, direct)).Select(m => (string?)m["content"]!["text"]));
        _release.TrySetResult();
    }

    [Fact]
    public async Task A_hook_that_has_not_answered_one_conversation_does_not_hold_up_another()
    {
        var (receiver, store, server) = await StartAsync(failOpen: false, timeoutMs: 20_000);
        await using var _r = receiver;
        await using var _s = store;
        await using var _v = server;
        var (a, _, waiting) = await server.FriendsWithConversationAsync();
        var (c, d, other) = await server.FriendsWithConversationAsync();

        var slow = server.SendText(a, waiting, "slow one");
        await receiver.FirstAsync("message.before_send", h => (string?)h.Data["conversationId"] == waiting);

        // The slow hook is still waiting: another conversation's sends commit meanwhile.
        for (var i = 0; i < 5; i++)
        {
            await server.SendTextAsync(c, other, "quick " + i);
        }

        Assert.False(slow.IsCompleted);
        Assert.Equal(5, (await server.CatchUpAsync(d, other)).Count);
        _release.TrySetResult();
        Assert.Equal(HttpStatusCode.Created, (await slow.WaitAsync(TimeSpan.FromSeconds(20))).StatusCode);
    }

    private static JsonObject Frame(string conversationId, string id, string text) => new()
    {
        ["type"] = "send", ["ref"] = id, ["conversationId"] = conversationId, ["clientMsgId"] = id,
        ["msgType"] = "text", ["content"] = new JsonObject { ["text"] = text },
    };
}
