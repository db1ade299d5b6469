using System.Net;
using Dapper;
using System.Text.Json.Nodes;
using Parley.Server.Push;
using Parley.Server.Realtime;
using Parley.Storage;
using Parley.Storage.Push;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Push;

public sealed class PushTestsSqlite() : PushTests(Backend.Sqlite);

public sealed class PushTestsPostgres() : PushTests(Backend.Postgres);

/// <summary>
/// Offline notifications against a real push endpoint on loopback (<see cref="PushReceiver"/>). "Nothing was pushed"
/// is asserted with a barrier: pushes to one target go out in the order they were written (the target is their
/// outbox stream), so a later push to the same target that arrives proves the earlier one was never written; or,
/// across targets, once the outbox holds no push any more, everything written was delivered.
/// </summary>
public abstract class PushTests(Backend backend) : OwnServerTests(backend)
{
    private static async Task<string> RegisterTargetAsync(ApiHost server, TestUser user, string endpoint, HttpStatusCode expected = HttpStatusCode.Created)
    {
        var json = await server.Post(user, "/api/users/me/push-targets", new JsonObject { ["kind"] = "webhook", ["endpoint"] = endpoint }).Expect(expected);
        Assert.Equal("webhook", (string?)json["kind"]);
        Assert.Equal(endpoint, (string?)json["endpoint"]);
        return json.Id();
    }

    /// <summary>Call only once the pushes in question were written (one of their batch arrived): before that the outbox may look empty.</summary>
    private static Task OutboxDrainedAsync(ParleyServer server) =>
        Poll.UntilAsync(async () => await server.Service<PushStore>().PendingAsync(CancellationToken.None) == 0, "every push written was delivered (the outbox holds none)");

    [Fact]
    public async Task An_offline_recipient_gets_one_push_per_conversation_per_window_and_the_next_after_it()
    {
        await using var receiver = await PushReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        var time = new ManualTime();
        await using var server = await ParleyServer.StartAsync(store, time, PushReceiver.ServerArgs("--Push:CoalesceSeconds=10"));
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        var (c, _, other) = await FriendOfAsync(server, b);
        await RegisterTargetAsync(server, b, receiver.Endpoint("b"));

        var first = await server.SendTextAsync(a, direct, "one");
        await server.SendTextAsync(a, direct, "two");
        await server.SendTextAsync(a, direct, "three");
        // The barrier: a push for another conversation to the same target, written after the three were decided.
        await server.SendTextAsync(c, other, "elsewhere");
        await receiver.FirstAsync("b", other, 1);

        var pushes = receiver.To("b").Where(p => p.ConversationId == direct).ToList();
        var push = Assert.Single(pushes);
        Assert.Equal(first.Seq(), push.Seq);
        Assert.Equal(b.Id, push.UserId);
        Assert.Equal(a.Id, (string?)push.Json["senderId"]);
        Assert.Equal((long)first["sentAt"]!, (long)push.Json["sentAt"]!);
        Assert.Null(push.Json["preview"]); // Push:Previews is off by default
        Assert.False(string.IsNullOrEmpty(push.PushId));

        // After the window, the conversation's next message is pushed again (the first of the new window).
        time.Advance(TimeSpan.FromSeconds(10));
        var fourth = await server.SendTextAsync(a, direct, "four");
        var again = await receiver.FirstAsync("b", direct, fourth.Seq());
        Assert.Equal(4, again.Seq);
        Assert.Equal(2, receiver.To("b").Count(p => p.ConversationId == direct));
    }

    [Fact]
    public async Task Previews_are_the_first_100_characters_of_a_text_when_enabled()
    {
        await using var receiver = await PushReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, PushReceiver.ServerArgs("--Push:Previews=true"));
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        await RegisterTargetAsync(server, b, receiver.Endpoint("b"));

        // 99 letters then emoji (two UTF-16 units each): the 100th character is the first emoji, whole.
        var text = new string('x', 99) + string.Concat(Enumerable.Repeat("😀", 10));
        await server.SendTextAsync(a, direct, text);
        var push = await receiver.FirstAsync("b", direct, 1);
        Assert.Equal(new string('x', 99) + "😀", (string?)push.Json["preview"]);
    }

    [Fact]
    public async Task An_online_recipient_gets_no_push_until_their_last_connection_closes()
    {
        await using var receiver = await PushReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, PushReceiver.ServerArgs("--Push:CoalesceSeconds=0"));
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        await RegisterTargetAsync(server, b, receiver.Endpoint("b"));

        await using (var socket = await WsClient.ConnectAsync(server, b.AccessToken))
        {
            await server.SendTextAsync(a, direct, "while online");
            await socket.NextAsync("message", where: f => (long)f["message"]!["seq"]! == 1);
        }

        await Poll.UntilAsync(() => !server.Service<ConnectionRegistry>().Holds(b.Wire()), "the closed socket is unregistered");
        await server.SendTextAsync(a, direct, "now offline");
        await receiver.FirstAsync("b", direct, 2);
        Assert.DoesNotContain(receiver.To("b"), p => p.Seq == 1);
    }

    [Fact]
    public async Task A_muted_conversation_is_not_pushed_and_the_sender_never_is()
    {
        await using var receiver = await PushReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, PushReceiver.ServerArgs("--Push:CoalesceSeconds=0"));
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        var (c, _, other) = await FriendOfAsync(server, b);
        await RegisterTargetAsync(server, a, receiver.Endpoint("a"));
        await RegisterTargetAsync(server, b, receiver.Endpoint("b"));

        var muted = await server.Patch(b, $"/api/conversations/{direct}", new JsonObject { ["muted"] = true }).Expect(HttpStatusCode.OK);
        Assert.True((bool)muted["muted"]!);
        Assert.True((bool)(await server.ConversationAsync(b, direct))["muted"]!);
        Assert.False((bool)(await server.ConversationAsync(a, direct))["muted"]!); // a member's own setting
        var listed = await server.AllItemsAsync(b, "/api/conversations");
        Assert.True((bool)listed.Single(i => i.Id() == direct)["muted"]!);

        await server.SendTextAsync(a, direct, "muted for b");
        await server.SendTextAsync(c, other, "not muted");
        await receiver.FirstAsync("b", other, 1);
        Assert.DoesNotContain(receiver.To("b"), p => p.ConversationId == direct);

        // Unmuted: b's next message from a is pushed; a, its sender, got nothing for seq 1 before b's answer (seq 3) came.
        await server.Patch(b, $"/api/conversations/{direct}", new JsonObject { ["muted"] = false }).Expect(HttpStatusCode.OK);
        await server.SendTextAsync(a, direct, "unmuted");
        await receiver.FirstAsync("b", direct, 2);
        await server.SendTextAsync(b, direct, "reply");
        await receiver.FirstAsync("a", direct, 3);
        Assert.Equal([3L], receiver.To("a").Select(p => p.Seq));
        await OutboxDrainedAsync(server);
        Assert.DoesNotContain(receiver.To("b"), p => p.Seq == 3 && p.ConversationId == direct);
    }

    [Fact]
    public async Task A_failing_endpoint_is_retried_with_the_same_push_id()
    {
        await using var receiver = await PushReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, PushReceiver.ServerArgs());
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        await RegisterTargetAsync(server, b, receiver.Endpoint("b"));
        var attempts = 0;
        receiver.Handler = (_, context) =>
        {
            context.Response.StatusCode = Interlocked.Increment(ref attempts) <= 2 ? 500 : 200;
            return Task.CompletedTask;
        };

        await server.SendTextAsync(a, direct, "retry me");
        await receiver.FirstAsync("b", direct, 1);
        await OutboxDrainedAsync(server); // the push is deleted only once an attempt got its 200
        var pushes = receiver.To("b");
        Assert.Equal(3, pushes.Count);
        Assert.Single(pushes.Select(p => p.PushId).Distinct());
        Assert.All(pushes, p => Assert.Equal(1, p.Seq));
    }

    [Fact]
    public async Task A_push_is_dropped_after_its_attempts_and_a_gone_endpoint_loses_its_target()
    {
        await using var receiver = await PushReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, PushReceiver.ServerArgs("--Push:MaxAttempts=2"));
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        var (c, d, other) = await server.FriendsWithConversationAsync();
        await RegisterTargetAsync(server, b, receiver.Endpoint("failing"));
        var gone = await RegisterTargetAsync(server, d, receiver.Endpoint("gone"));
        receiver.Handler = (push, context) =>
        {
            context.Response.StatusCode = push.Path == "/push/gone" ? 410 : 503;
            return Task.CompletedTask;
        };

        await server.SendTextAsync(a, direct, "never delivered");
        await server.SendTextAsync(c, other, "to a gone endpoint");
        await receiver.FirstAsync("failing", direct, 1); // both written (the outbox could look empty before that)
        await receiver.FirstAsync("gone", other, 1);
        await OutboxDrainedAsync(server);
        Assert.Equal(2, receiver.To("failing").Count); // Push:MaxAttempts, then dropped
        Assert.Single(receiver.To("gone"));
        Assert.DoesNotContain(gone, (await server.AllItemsAsync(d, "/api/users/me/push-targets")).Select(i => i.Id()));
        Assert.Single(await server.AllItemsAsync(b, "/api/users/me/push-targets")); // a failing one is kept
    }

    [Fact]
    public async Task Deleted_targets_and_targets_of_revoked_sessions_get_nothing()
    {
        await using var receiver = await PushReceiver.StartAsync();
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, PushReceiver.ServerArgs("--Push:CoalesceSeconds=0"));
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        var kept = await RegisterTargetAsync(server, b, receiver.Endpoint("kept"));
        var deleted = await RegisterTargetAsync(server, b, receiver.Endpoint("deleted"));
        var phone = await server.LoginAsync(b.Username, b.Password, "phone");
        var revoked = await RegisterTargetAsync(server, phone, receiver.Endpoint("revoked"));
        Assert.Equal(new[] { kept, deleted, revoked }.Order(), (await server.AllItemsAsync(b, "/api/users/me/push-targets")).Select(i => i.Id()).Order());

        await server.Delete(b, $"/api/users/me/push-targets/{deleted}").Expect(HttpStatusCode.NoContent);
        await server.Send(HttpMethod.Post, "/api/auth/logout", body: new JsonObject { ["refreshToken"] = phone.RefreshToken }).Expect(HttpStatusCode.NoContent);
        // The revoked session's target went with it.
        Assert.Equal([kept], (await server.AllItemsAsync(b, "/api/users/me/push-targets")).Select(i => i.Id()));
        await server.Delete(b, $"/api/users/me/push-targets/{revoked}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        // And the sweep deletes its row (the kept one stays).
        await server.Service<PushRefresher>().RunOnceAsync(CancellationToken.None);
        await using (var connection = await server.Service<Database>().OpenAsync())
        {
            Assert.Equal([SocialApi.Wire(kept)], (await connection.QueryAsync<long>("SELECT id FROM push_targets WHERE user_id = @id", new { id = b.Wire() })).ToList());
        }


        await server.SendTextAsync(a, direct, "to the kept one only");
        await receiver.FirstAsync("kept", direct, 1);
        await OutboxDrainedAsync(server);
        Assert.Empty(receiver.To("deleted"));
        Assert.Empty(receiver.To("revoked"));
    }

    [Fact]
    public async Task Push_targets_are_validated_capped_and_private_to_their_user()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Push:MaxTargetsPerUser=2", "--Push:AllowedInsecureHosts:0=push.internal");
        var a = await server.RegisterAsync();
        var stranger = await server.RegisterAsync();
        const string Path = "/api/users/me/push-targets";

        foreach (var endpoint in new[]
        {
            "", "not a url", "/relative", "ftp://push.example/x", "http://push.example/x", "https://user:pw@push.example/x", "https://push.example/x#frag",
            "https://127.0.0.1/x", "https://10.1.2.3/x", "https://169.254.169.254/latest", "https://[::1]/x", "https://[::ffff:127.0.0.1]/x",
            "https://push.example/" + new string('a', 2100),
        })
        {
            await server.Post(a, Path, new JsonObject { ["kind"] = "webhook", ["endpoint"] = endpoint }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        }

        await server.Post(a, Path, new JsonObject { ["kind"] = "apns", ["endpoint"] = "https://push.example/x" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await server.Post(a, Path, new JsonObject { ["endpoint"] = "https://push.example/x" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await server.Post(a, Path, new JsonObject { ["kind"] = "webhook", ["endpoint"] = 5 }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await server.Send(HttpMethod.Post, Path, body: new JsonObject { ["kind"] = "webhook", ["endpoint"] = "https://push.example/x" }).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        var first = await RegisterTargetAsync(server, a, "https://push.example/up/1");
        var second = await RegisterTargetAsync(server, a, "http://push.internal:8080/up/2"); // an allowed insecure host
        Assert.Equal(first, await RegisterTargetAsync(server, a, "https://push.example/up/1", HttpStatusCode.OK)); // the same endpoint again
        await server.Post(a, Path, new JsonObject { ["kind"] = "webhook", ["endpoint"] = "https://push.example/up/3" }).ExpectProblem(HttpStatusCode.Conflict, "conflict");

        var page = await server.Get(a, Path + "?limit=1").Expect(HttpStatusCode.OK);
        Assert.Single(page["items"]!.AsArray());
        Assert.NotNull((string?)page["nextCursor"]);
        Assert.Equal(new[] { first, second }.Order(), (await server.AllItemsAsync(a, Path)).Select(i => i.Id()).Order());
        Assert.Empty(await server.AllItemsAsync(stranger, Path));
        await server.Delete(stranger, $"{Path}/{first}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Delete(a, $"{Path}/not-an-id").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Delete(a, $"{Path}/123456789").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Delete(a, $"{Path}/{first}").Expect(HttpStatusCode.NoContent);
        await server.Delete(a, $"{Path}/{first}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await RegisterTargetAsync(server, a, "https://push.example/up/3"); // room again
    }

    [Fact]
    public async Task Muting_is_for_members_only()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store);
        var (a, _, direct) = await server.FriendsWithConversationAsync();
        var stranger = await server.RegisterAsync();
        var group = await server.CreateGroupAsync(a);
        var groupConversation = (string)group["conversationId"]!;

        await server.Patch(stranger, $"/api/conversations/{direct}", new JsonObject { ["muted"] = true }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Patch(stranger, $"/api/conversations/{groupConversation}", new JsonObject { ["muted"] = true }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Patch(a, "/api/conversations/123456789", new JsonObject { ["muted"] = true }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Patch(a, "/api/conversations/nope", new JsonObject { ["muted"] = true }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await server.Patch(a, $"/api/conversations/{direct}", new JsonObject()).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await server.Patch(a, $"/api/conversations/{direct}", new JsonObject { ["muted"] = "yes" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.False((bool)(await server.ConversationAsync(a, direct))["muted"]!);
        Assert.True((bool)(await server.Patch(a, $"/api/conversations/{groupConversation}", new JsonObject { ["muted"] = true }).Expect(HttpStatusCode.OK))["muted"]!);
    }

    [Fact]
    public async Task Off_the_calls_are_404()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        await using var server = await ParleyServer.StartAsync(store, null, "--Push:Enabled=false");
        var a = await server.RegisterAsync();
        await server.Post(a, "/api/users/me/push-targets", new JsonObject { ["kind"] = "webhook", ["endpoint"] = "https://push.example/x" }).Expect(HttpStatusCode.NotFound);
        await server.Get(a, "/api/users/me/push-targets").Expect(HttpStatusCode.NotFound);
    }

    /// <summary>A new friend of <paramref name="user"/> and their direct conversation.</summary>
    private static async Task<(TestUser Friend, TestUser User, string ConversationId)> FriendOfAsync(ApiHost server, TestUser user)
    {
        var friend = await server.RegisterAsync();
        await server.MakeFriendsAsync(friend, user);
        return (friend, user, await server.DirectAsync(friend, user));
    }
}

/// <summary>The push client's address guard against a real endpoint on loopback.</summary>
public sealed class PushClientTests
{
    [Fact]
    public async Task Loopback_is_refused_unless_the_host_is_allowed_or_the_test_port()
    {
        await using var receiver = await PushReceiver.StartAsync();
        var byName = $"http://localhost:{receiver.Port}/push/x";
        var body = "{}"u8.ToArray();

        using (var guarded = new PushClient(Microsoft.Extensions.Options.Options.Create(new PushOptions())))
        {
            var refused = await guarded.PostAsync(byName, "1", body, CancellationToken.None);
            Assert.False(refused.Delivered);
            Assert.Equal("refused address", refused.Error);
            Assert.Equal("refused address", (await guarded.PostAsync(receiver.Endpoint("x"), "2", body, CancellationToken.None)).Error);
            Assert.Empty(receiver.All); // refused before connecting
        }

        using (var allowed = new PushClient(Microsoft.Extensions.Options.Options.Create(new PushOptions { AllowedInsecureHosts = ["LOCALHOST"] })))
        {
            Assert.True((await allowed.PostAsync(byName, "3", body, CancellationToken.None)).Delivered);
        }

        using (var testPort = new PushClient(Microsoft.Extensions.Options.Options.Create(new PushOptions { TestLoopbackPort = receiver.Port })))
        {
            Assert.True((await testPort.PostAsync(receiver.Endpoint("y"), "4", body, CancellationToken.None)).Delivered);
        }

        Assert.Equal(["/push/x", "/push/y"], receiver.All.Select(p => p.Path));
    }
}
