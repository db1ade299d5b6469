using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Parley.Storage;
using Parley.Storage.Webhooks;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Webhooks;

public sealed class WebhookTestsSqlite() : WebhookTests(Backend.Sqlite);

public sealed class WebhookTestsPostgres() : WebhookTests(Backend.Postgres)
{
    [Fact]
    public async Task Two_nodes_on_one_database_drain_the_outbox_one_at_a_time()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        var args = receiver.ServerArgs("--Webhooks:Events:0=message.created", "--Webhooks:PollMs=10");
        await using var one = await ParleyServer.StartAsync(store, null, [.. args, "--Cluster:NodeId=1"]);
        await using var two = await ParleyServer.StartAsync(store, null, [.. args, "--Cluster:NodeId=2"]);
        var (a, _, direct) = await one.FriendsWithConversationAsync();
        for (var i = 0; i < 40; i++)
        {
            await (i % 2 == 0 ? one : two).SendTextAsync(a, direct, "m" + i);
        }

        await receiver.FirstAsync(h => (string?)h.Data["content"]?["text"] == "m39", what: "the last event");
        await Poll.UntilAsync(async () => (await WebhookOutbox.CountAsync(one.Service<Database>(), CancellationToken.None)) == (0, 0), "every event delivered and deleted");

        // One drainer at a time: each event once (a healthy receiver), and in the conversation's order.
        var seqs = receiver.All.Select(h => (long)h.Data["seq"]!).ToList();
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), seqs);
    }
}

/// <summary>
/// Webhooks against a real receiver on loopback: every event type, signed; retries after 500s and timeouts;
/// events moved aside, listed and replayed; in order per conversation; at least once across SIGKILL.
/// </summary>
public abstract class WebhookTests(Backend backend) : OwnServerTests(backend)
{
    private const string ApiKey = "admin-key-for-webhook-tests";

    [Fact]
    public async Task Every_event_type_arrives_signed_with_the_secret()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        // A short presence window: user.offline comes at its end, 100 ms after the online.
        await using var server = await ParleyServer.StartAsync(store, null, receiver.ServerArgs("--Webhooks:PresenceMinIntervalMs=100"));

        var (a, b, direct) = await server.FriendsWithConversationAsync();
        var registered = await receiver.FirstAsync(WebhookOutbox.UserRegistered, h => (string?)h.Data["user"]!["id"] == a.Id);
        Assert.Equal(a.Username, (string?)registered.Data["user"]!["username"]);
        var accepted = await receiver.FirstAsync(WebhookOutbox.FriendAccepted, h => (string?)h.Data["toUserId"] == b.Id || (string?)h.Data["fromUserId"] == b.Id);
        Assert.Contains(a.Id, new[] { (string?)accepted.Data["fromUserId"], (string?)accepted.Data["toUserId"] });

        await using (var socket = await WsClient.ConnectAsync(server, b.AccessToken))
        {
            await receiver.FirstAsync(WebhookOutbox.UserOnline, h => (string?)h.Data["userId"] == b.Id);
        }

        await receiver.FirstAsync(WebhookOutbox.UserOffline, h => (string?)h.Data["userId"] == b.Id);

        var sent = await server.SendTextAsync(a, direct, "hello hooks");
        var created = await receiver.FirstAsync(WebhookOutbox.MessageCreated, h => (string?)h.Data["conversationId"] == direct);
        Assert.Equal("hello hooks", (string?)created.Data["content"]!["text"]);
        Assert.Equal(sent.Seq(), (long)created.Data["seq"]!);
        Assert.Equal(a.Id, (string?)created.Data["senderId"]);

        await server.Post(a, $"/api/conversations/{direct}/messages/{sent.Seq()}/recall").Expect(HttpStatusCode.OK);
        var recalled = await receiver.FirstAsync(WebhookOutbox.MessageRecalled, h => (string?)h.Data["conversationId"] == direct);
        Assert.Equal(sent.Seq(), (long)recalled.Data["seq"]!);

        var c = await server.RegisterAsync();
        var group = await server.CreateGroupAsync(a, null, b);
        var groupId = group.Id();
        var groupCreated = await receiver.FirstAsync(WebhookOutbox.GroupCreated, h => (string?)h.Data["group"]!["id"] == groupId);
        Assert.Equal(a.Id, (string?)groupCreated.Data["group"]!["ownerId"]);
        await receiver.FirstAsync(WebhookOutbox.GroupJoined, h => (string?)h.Data["groupId"] == groupId && (string?)h.Data["userId"] == b.Id);
        await server.Post(c, $"/api/groups/{groupId}/join", new JsonObject()).Expect(HttpStatusCode.OK);
        await receiver.FirstAsync(WebhookOutbox.GroupJoined, h => (string?)h.Data["groupId"] == groupId && (string?)h.Data["userId"] == c.Id);
        await server.Post(b, $"/api/groups/{groupId}/leave").Expect(HttpStatusCode.NoContent);
        await receiver.FirstAsync(WebhookOutbox.GroupLeft, h => (string?)h.Data["groupId"] == groupId && (string?)h.Data["userId"] == b.Id);
        await server.Delete(a, $"/api/groups/{groupId}").Expect(HttpStatusCode.NoContent);
        await receiver.FirstAsync(WebhookOutbox.GroupDissolved, h => (string?)h.Data["groupId"] == groupId);

        // Every POST was signed with the secret over its raw body; each event type of the contract came.
        Assert.All(receiver.All, h => Assert.True(h.SignatureValid, $"{h.Event} signature {h.Signature}"));
        Assert.Equal(WebhookOutbox.AllTypes.Order(), receiver.All.Select(h => h.Type).Distinct().Order());
        Assert.All(receiver.All, h => Assert.True(h.Json["createdAt"]!.GetValue<long>() > 0));
    }

    [Fact]
    public async Task Only_the_configured_types_are_written_and_nothing_when_off()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using (var store = await TestStore.CreateAsync(Backend))
        {
            await using var server = await ParleyServer.StartAsync(store, null, receiver.ServerArgs("--Webhooks:Events:0=message.created"));
            var (a, _, direct) = await server.FriendsWithConversationAsync();
            await server.SendTextAsync(a, direct, "only this");
            await receiver.FirstAsync(WebhookOutbox.MessageCreated, h => (string?)h.Data["conversationId"] == direct);
            Assert.All(receiver.All, h => Assert.Equal(WebhookOutbox.MessageCreated, h.Type));
        }

        await using (var store = await TestStore.CreateAsync(Backend))
        {
            await using var server = await ParleyServer.StartAsync(store);
            var (a, _, direct) = await server.FriendsWithConversationAsync();
            await server.SendTextAsync(a, direct, "no hooks");
            var group = await server.CreateGroupAsync(a);
            await server.Delete(a, $"/api/groups/{group.Id()}").Expect(HttpStatusCode.NoContent);
            Assert.Equal((0L, 0L), await WebhookOutbox.CountAsync(server.Service<Database>(), CancellationToken.None));
        }
    }

    [Fact]
    public async Task Failures_are_retried_with_backoff_and_hold_back_only_their_own_conversation()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, receiver.ServerArgs("--Webhooks:Events:0=message.created", "--Webhooks:MaxAttempts=20", "--Webhooks:TimeoutMs=300"));
        var (a, _, held) = await server.FriendsWithConversationAsync();
        var (c, _, other) = await server.FriendsWithConversationAsync();

        // The held conversation's first message: a 500, then a receiver that does not answer in time, then a 200.
        var attempts = 0;
        var release = new TaskCompletionSource();
        receiver.Handler = async (hook, context) =>
        {
            if ((string?)hook.Data["conversationId"] == held && (string?)hook.Data["content"]!["text"] == "first")
            {
                switch (Interlocked.Increment(ref attempts))
                {
                    case 1:
                        context.Response.StatusCode = 500;
                        return;
                    case 2:
                        await release.Task.WaitAsync(TimeSpan.FromSeconds(10), context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                        return;
                }
            }

            context.Response.StatusCode = 204;
        };

        await server.SendTextAsync(a, held, "first");
        await server.SendTextAsync(a, held, "second");
        await server.SendTextAsync(c, other, "elsewhere");

        // The other conversation is not held back, while the held one's first event keeps failing.
        await receiver.FirstAsync(WebhookOutbox.MessageCreated, h => (string?)h.Data["conversationId"] == other);
        var first = await receiver.FirstAsync(WebhookOutbox.MessageCreated, h => (string?)h.Data["content"]!["text"] == "first" && attempts >= 3);
        var second = await receiver.FirstAsync(WebhookOutbox.MessageCreated, h => (string?)h.Data["content"]!["text"] == "second");
        release.TrySetResult();

        var held1 = receiver.All.Where(h => (string?)h.Data["conversationId"] == held).ToList();
        Assert.True(held1.Count(h => h.Id == first.Id) >= 3, "three attempts with the same id");
        Assert.True(held1.FindIndex(h => h.Id == second.Id) > held1.FindLastIndex(h => h.Id == first.Id), "second only after first was delivered");
        await Poll.UntilAsync(async () => (await WebhookOutbox.CountAsync(server.Service<Database>(), CancellationToken.None)) == (0, 0), "delivered events are deleted");
    }

    [Fact]
    public async Task Events_that_keep_failing_move_aside_and_are_listed_and_replayed_behind_the_api_key()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, receiver.ServerArgs(
            "--Webhooks:Events:0=message.created", "--Webhooks:MaxAttempts=2", $"--Admin:ApiKeys:0={ApiKey}"));
        var down = true;
        receiver.Handler = (_, context) =>
        {
            context.Response.StatusCode = Volatile.Read(ref down) ? 503 : 200;
            return Task.CompletedTask;
        };

        var (a, _, direct) = await server.FriendsWithConversationAsync();
        await server.SendTextAsync(a, direct, "doomed");
        var database = server.Service<Database>();
        await Poll.UntilAsync(async () => (await WebhookOutbox.CountAsync(database, CancellationToken.None)).Failed == 1, "the event moves aside after 2 attempts");
        Assert.Equal(2, receiver.All.Count);
        var id = receiver.All[0].Id;
        Assert.Equal(id, receiver.All[1].Id);

        // The admin calls: no key or a wrong one is 401.
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Http.GetAsync("/api/admin/webhooks/failed")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Admin(server, HttpMethod.Get, "/api/admin/webhooks/failed", "wrong")).StatusCode);
        var list = await (await Admin(server, HttpMethod.Get, "/api/admin/webhooks/failed?limit=10")).Json();
        var item = list["items"]!.AsArray().Single()!;
        Assert.Equal(id, (string?)item["id"]);
        Assert.Equal("message.created", (string?)item["type"]);
        Assert.Equal(2, (int)item["attempts"]!);
        Assert.Equal("HTTP 503", (string?)item["lastError"]);
        Assert.Equal(HttpStatusCode.NotFound, (await Admin(server, HttpMethod.Post, "/api/admin/webhooks/failed/123456/replay")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Admin(server, HttpMethod.Post, "/api/admin/webhooks/failed/not-an-id/replay")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Admin(server, HttpMethod.Post, "/api/admin/webhooks/failed/99999999999999999999999/replay")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Admin(server, HttpMethod.Get, "/api/admin/webhooks/failed?cursor=zz")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Admin(server, HttpMethod.Get, "/api/admin/webhooks/failed?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Admin(server, HttpMethod.Get, "/api/admin/webhooks/failed?limit=100000")).StatusCode); // clamped to 200, as everywhere
        var empty = await (await Admin(server, HttpMethod.Get, $"/api/admin/webhooks/failed?cursor={id}")).Json();
        Assert.Empty(empty["items"]!.AsArray());

        Volatile.Write(ref down, false);
        Assert.Equal(HttpStatusCode.NoContent, (await Admin(server, HttpMethod.Post, $"/api/admin/webhooks/failed/{id}/replay")).StatusCode);
        await receiver.FirstAsync(h => h.Id == id && receiver.All.Count(x => x.Id == id) == 3, what: "the replayed event");
        await Poll.UntilAsync(async () => (await WebhookOutbox.CountAsync(database, CancellationToken.None)) == (0, 0), "the replayed event is delivered and deleted");

        // Replay-all answers how many it put back.
        var replayed = await (await Admin(server, HttpMethod.Post, "/api/admin/webhooks/failed/replay")).Json();
        Assert.Equal(0, (int)replayed["replayed"]!);
    }

    [Fact]
    public async Task The_admin_calls_are_404_without_configured_keys()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, receiver.ServerArgs());
        Assert.Equal(HttpStatusCode.NotFound, (await Admin(server, HttpMethod.Get, "/api/admin/webhooks/failed")).StatusCode);
    }

    [Fact]
    public async Task Redirects_are_not_followed_and_huge_answers_are_not_read()
    {
        await using var elsewhere = await WebhookReceiver.StartAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, receiver.ServerArgs("--Webhooks:Events:0=message.created", "--Webhooks:MaxAttempts=2"));
        var big = new byte[10 * 1024 * 1024];
        receiver.Handler = async (hook, context) =>
        {
            if ((string?)hook.Data["content"]!["text"] == "redirect")
            {
                context.Response.StatusCode = 307;
                context.Response.Headers.Location = elsewhere.Url;
                return;
            }

            await context.Response.Body.WriteAsync(big, context.RequestAborted); // 10 MB the sender has no reason to read
        };

        var (a, _, direct) = await server.FriendsWithConversationAsync();
        await server.SendTextAsync(a, direct, "redirect");
        await server.SendTextAsync(a, direct, "big answer");
        await Poll.UntilAsync(async () => (await WebhookOutbox.CountAsync(server.Service<Database>(), CancellationToken.None)) == (0, 1), "the redirected event fails, the other is delivered");
        Assert.Empty(elsewhere.All);
        Assert.Equal(2, receiver.All.Count(h => (string?)h.Data["content"]!["text"] == "redirect"));
    }

    [Fact]
    public async Task An_event_committed_before_SIGKILL_arrives_after_the_restart_with_the_same_id()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        var down = true;
        receiver.Handler = (_, context) =>
        {
            context.Response.StatusCode = Volatile.Read(ref down) ? 503 : 200;
            return Task.CompletedTask;
        };

        string direct;
        string id;
        var args = receiver.ServerArgs("--Webhooks:Events:0=message.created", "--Webhooks:MaxAttempts=1000");
        await using (var first = await ChildServer.StartAsync(store, args))
        {
            (var a, _, direct) = await first.FriendsWithConversationAsync();
            await first.SendTextAsync(a, direct, "survives");
            id = (await receiver.FirstAsync(WebhookOutbox.MessageCreated, h => (string?)h.Data["conversationId"] == direct)).Id;
            await first.KillAsync();
        }

        var before = receiver.All.Count;
        Volatile.Write(ref down, false);
        await using var second = await ChildServer.StartAsync(store, args);
        var again = await receiver.FirstAsync(h => receiver.All.ToList().IndexOf(h) >= before && h.Id == id, what: "the event after the restart");
        Assert.Equal("survives", (string?)again.Data["content"]!["text"]);
        Assert.True(again.SignatureValid);
    }

    [Fact]
    public async Task Events_pending_while_webhooks_are_turned_off_wait_and_go_out_once_they_are_on_again()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        var down = true;
        receiver.Handler = (_, context) =>
        {
            context.Response.StatusCode = Volatile.Read(ref down) ? 503 : 200;
            return Task.CompletedTask;
        };

        var args = receiver.ServerArgs("--Webhooks:Events:0=message.created", "--Webhooks:MaxAttempts=1000");
        string direct;
        TestUser a;
        await using (var on = await ParleyServer.StartAsync(store, null, args))
        {
            (a, _, direct) = await on.FriendsWithConversationAsync();
            await on.SendTextAsync(a, direct, "pending");
            await receiver.FirstAsync(WebhookOutbox.MessageCreated, h => (string?)h.Data["conversationId"] == direct);
        }

        var before = receiver.All.Count;
        Volatile.Write(ref down, false);
        await using (var off = await ParleyServer.StartAsync(store))
        {
            // Off: nothing is sent, the pending row stays, and new messages write none.
            await off.SendTextAsync(a, direct, "while off");
            var database = off.Service<Database>();
            Assert.Equal((1L, 0L), await WebhookOutbox.CountAsync(database, CancellationToken.None));
        }

        Assert.Equal(before, receiver.All.Count);
        await using var again = await ParleyServer.StartAsync(store, null, args);
        var delivered = await receiver.FirstAsync(h => receiver.All.ToList().IndexOf(h) >= before && (string?)h.Data["content"]?["text"] == "pending", what: "the pending event");
        Assert.True(delivered.SignatureValid);
        await Poll.UntilAsync(async () => (await WebhookOutbox.CountAsync(again.Service<Database>(), CancellationToken.None)) == (0, 0), "the pending event is delivered and deleted");
        Assert.DoesNotContain(receiver.All, h => (string?)h.Data["content"]?["text"] == "while off");
    }

    [Fact]
    public async Task An_event_whose_delivery_is_in_flight_at_SIGKILL_arrives_again_after_the_restart()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        var hold = true;
        var release = new TaskCompletionSource();
        receiver.Handler = async (_, context) =>
        {
            if (Volatile.Read(ref hold))
            {
                // The receiver has the request and has not answered when the server dies.
                await release.Task.WaitAsync(TimeSpan.FromSeconds(30), context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            }

            context.Response.StatusCode = 204;
        };

        string id;
        var args = receiver.ServerArgs("--Webhooks:Events:0=message.created", "--Webhooks:TimeoutMs=60000");
        await using (var first = await ChildServer.StartAsync(store, args))
        {
            var (a, _, direct) = await first.FriendsWithConversationAsync();
            await first.SendTextAsync(a, direct, "in flight");
            id = (await receiver.FirstAsync(WebhookOutbox.MessageCreated, h => (string?)h.Data["conversationId"] == direct)).Id;
            await first.KillAsync();
        }

        Volatile.Write(ref hold, false);
        release.TrySetResult();
        var before = receiver.All.Count;
        await using var second = await ChildServer.StartAsync(store, args);
        var again = await receiver.FirstAsync(h => receiver.All.ToList().IndexOf(h) >= before && h.Id == id, what: "the event after the restart");
        Assert.Equal("in flight", (string?)again.Data["content"]!["text"]);
    }

    [Fact]
    public async Task A_user_opening_and_closing_sockets_in_a_loop_writes_a_bounded_number_of_presence_events_ending_on_the_true_state()
    {
        const int interval = 300;
        const int cycles = 60;
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, receiver.ServerArgs(
            "--Webhooks:Events:0=user.online", "--Webhooks:Events:1=user.offline", $"--Webhooks:PresenceMinIntervalMs={interval}"));
        var a = await server.RegisterAsync();
        var userId = long.Parse(a.Id, System.Globalization.CultureInfo.InvariantCulture);
        var tracker = server.Service<Parley.Server.Social.PresenceTracker>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < cycles; i++)
        {
            await using (await WsClient.ConnectAsync(server, a.AccessToken))
            {
            }

            // Each cycle a real online-offline change on the server before the next one.
            await Poll.UntilAsync(() => Task.FromResult(!tracker.IsOnline(userId)), "the socket closed on the server");
        }

        var elapsed = clock.ElapsedMilliseconds;
        var presence = server.Service<Parley.Server.Webhooks.WebhookPresence>();
        var database = server.Service<Database>();
        await Poll.UntilAsync(async () => presence.Coalescer.Tracked == 0 && await WebhookOutbox.CountAsync(database, CancellationToken.None) == (0, 0), "every window closed and its event delivered");

        // At most one event per interval (the first at once, then one per window end while the state kept changing).
        var bound = 3 + (elapsed / interval);
        Assert.True(bound < 2 * cycles, $"the loop took {elapsed} ms: too slow to show the bound");
        var events = receiver.All.Where(h => (string?)h.Data["userId"] == a.Id).ToList();
        Assert.InRange(events.Count, 2, bound);
        Assert.Equal(WebhookOutbox.UserOnline, events[0].Type);
        Assert.Equal(WebhookOutbox.UserOffline, events[^1].Type); // the true state: offline
        for (var i = 1; i < events.Count; i++)
        {
            Assert.NotEqual(events[i - 1].Type, events[i].Type);
        }
    }

    [Fact]
    public async Task The_outbox_counters_and_backlog_gauges_are_on_metrics()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, receiver.ServerArgs("--Webhooks:Events:0=message.created", "--Webhooks:MaxAttempts=2"));
        var failures = 0;
        receiver.Handler = (hook, context) =>
        {
            // "once" fails its first attempt, "never" every attempt.
            var text = (string?)hook.Data["content"]!["text"];
            context.Response.StatusCode = text == "never" || (text == "once" && Interlocked.Increment(ref failures) == 1) ? 500 : 204;
            return Task.CompletedTask;
        };

        var (a, _, direct) = await server.FriendsWithConversationAsync();
        await server.SendTextAsync(a, direct, "once");
        var (c, _, other) = await server.FriendsWithConversationAsync();
        await server.SendTextAsync(c, other, "never");
        await server.ScrapeUntilAsync(
            m => m.Sum("parley_webhooks_enqueued_total") == 2
                && m.Sum("parley_webhooks_delivered_total") == 1
                && m.Sum("parley_webhooks_failed_attempts_total") == 3
                && m.Sum("parley_webhooks_moved_aside_total") == 1
                && m.Sum("parley_webhooks_failed") == 1
                && m.Sum("parley_webhooks_pending") == 0,
            "two events written, one delivered after a retry, one moved aside after two attempts");
        var text = await server.ScrapeAsync();
        Assert.Contains("# TYPE parley_webhooks_pending gauge", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE parley_webhooks_enqueued_total counter", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_of_a_type_no_longer_configured_are_not_sent_nor_replayed_and_stay_on_the_failed_list()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        var down = true;
        receiver.Handler = (_, context) =>
        {
            context.Response.StatusCode = Volatile.Read(ref down) ? 503 : 200;
            return Task.CompletedTask;
        };

        TestUser a;
        string direct;
        await using (var failing = await ParleyServer.StartAsync(store, null, receiver.ServerArgs("--Webhooks:Events:0=message.created", "--Webhooks:MaxAttempts=1")))
        {
            (a, _, direct) = await failing.FriendsWithConversationAsync();
            await failing.SendTextAsync(a, direct, "moved aside");
            await Poll.UntilAsync(async () => (await WebhookOutbox.CountAsync(failing.Service<Database>(), CancellationToken.None)).Failed == 1, "the event moves aside");
        }

        await using (var retrying = await ParleyServer.StartAsync(store, null, receiver.ServerArgs("--Webhooks:Events:0=message.created", "--Webhooks:MaxAttempts=1000")))
        {
            await retrying.SendTextAsync(a, direct, "pending");
            await receiver.FirstAsync(WebhookOutbox.MessageCreated, h => (string?)h.Data["content"]?["text"] == "pending");
        }

        Volatile.Write(ref down, false);
        var before = receiver.All.Count;
        await using var server = await ParleyServer.StartAsync(store, null, receiver.ServerArgs("--Webhooks:Events:0=user.registered", $"--Admin:ApiKeys:0={ApiKey}"));
        var database = server.Service<Database>();
        await Poll.UntilAsync(async () => await WebhookOutbox.CountAsync(database, CancellationToken.None) == (0, 2), "the pending event of a type now off is moved aside too");
        var items = (await (await Admin(server, HttpMethod.Get, "/api/admin/webhooks/failed")).Json())["items"]!.AsArray();
        Assert.Equal(2, items.Count);
        Assert.Equal("event type not in Webhooks:Events", (string?)items[0]!["lastError"]); // newest first: the pending one

        Assert.Equal(0, (int)(await (await Admin(server, HttpMethod.Post, "/api/admin/webhooks/failed/replay")).Json())["replayed"]!);
        var one = await Admin(server, HttpMethod.Post, $"/api/admin/webhooks/failed/{(string?)items[1]!["id"]}/replay");
        Assert.Equal(HttpStatusCode.Conflict, one.StatusCode);
        Assert.Equal("conflict", (string?)(await one.Json())["code"]);
        Assert.Equal((0L, 2L), await WebhookOutbox.CountAsync(database, CancellationToken.None));

        // Nothing of the old type went out: the next event to arrive is the sentinel of the type that is on.
        var b = await server.RegisterAsync();
        await receiver.FirstAsync(WebhookOutbox.UserRegistered, h => (string?)h.Data["user"]!["id"] == b.Id);
        Assert.All(receiver.All.Skip(before), h => Assert.Equal(WebhookOutbox.UserRegistered, h.Type));
    }

    private static Task<HttpResponseMessage> Admin(ApiHost server, HttpMethod method, string path, string key = ApiKey)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("X-Api-Key", key);
        return server.Http.SendAsync(request);
    }
}
