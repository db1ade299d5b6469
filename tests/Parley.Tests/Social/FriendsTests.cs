using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Social;

public sealed class FriendsTestsSqlite(SqliteFixture fixture) : FriendsTests(fixture), IClassFixture<SqliteFixture>;

public sealed class FriendsTestsPostgres(PostgresFixture fixture) : FriendsTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>Every call of the contract's "Friends and blocks" section, over real HTTP, with its events.</summary>
public abstract class FriendsTests(ServerFixture fixture) : BackendTests(fixture)
{
    private const string FriendRequest = "friend.request";
    private const string FriendAccepted = "friend.accepted";
    private const string FriendRemoved = "friend.removed";

    [Fact]
    public async Task Request_is_201_pending_with_both_profiles_and_notifies_only_the_recipient()
    {
        var a = await Server.RegisterAsync(nickname: "Alice");
        var b = await Server.RegisterAsync(nickname: "Bob");

        var request = await Server.SendFriendRequestAsync(a, b, "hi, it's Alice");

        Assert.IsType<string>((string?)request["id"]);
        Assert.Equal(a.Id, (string?)request["fromUserId"]);
        Assert.Equal(b.Id, (string?)request["toUserId"]);
        Assert.Equal(a.Id, request["from"]!.Id());
        Assert.Equal("Alice", (string?)request["from"]!["nickname"]);
        Assert.Equal(b.Id, request["to"]!.Id());
        Assert.Equal(b.Username, (string?)request["to"]!["username"]);
        Assert.Null(request["from"]!["email"]);
        Assert.Equal("hi, it's Alice", (string?)request["message"]);
        Assert.Equal("pending", (string?)request["status"]);
        var createdAt = (long)request["createdAt"]!;
        Assert.True(createdAt > 1_700_000_000_000);
        Assert.True((long)request["updatedAt"]! >= createdAt);

        var sent = Assert.Single(Notifications.For(b.Id, FriendRequest));
        sent.AssertRecipients(b);
        Assert.Equal(request.Id(), sent.Str("id"));
        Assert.Equal("pending", sent.Str("status"));
        Assert.Empty(Notifications.For(a.Id, FriendRequest));
        Assert.Empty(Notifications.For(a.Id, FriendAccepted));
        Assert.Empty(Notifications.For(b.Id, FriendAccepted));

        // Not friends yet.
        Assert.Empty(await Server.FriendIdsAsync(a));
        Assert.Empty(await Server.FriendIdsAsync(b));
    }

    [Fact]
    public async Task Repeating_a_pending_request_is_200_with_the_same_request_and_message_unchanged()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var first = await Server.SendFriendRequestAsync(a, b, "first");

        var again = await Server.RequestFriend(a, b, "second").Expect(HttpStatusCode.OK);
        Assert.Equal(first.Id(), again.Id());
        Assert.Equal("first", (string?)again["message"]);
        Assert.Equal("pending", (string?)again["status"]);

        var outgoing = await Server.PendingRequestsAsync(a, "outgoing");
        Assert.Equal([first.Id()], outgoing.Select(r => r.Id()));
        var incoming = await Server.PendingRequestsAsync(b, "incoming");
        Assert.Equal([first.Id()], incoming.Select(r => r.Id()));
        Assert.Equal("first", (string?)incoming[0]["message"]);
        Assert.Empty(await Server.FriendIdsAsync(a));
    }

    [Fact]
    public async Task A_request_to_someone_who_already_asked_me_makes_us_friends_at_once()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var request = await Server.SendFriendRequestAsync(a, b);

        var mutual = await Server.RequestFriend(b, a, "me too").Expect(HttpStatusCode.OK);
        Assert.Equal(request.Id(), mutual.Id());
        Assert.Equal("accepted", (string?)mutual["status"]);
        Assert.Equal(a.Id, (string?)mutual["fromUserId"]);
        Assert.Equal(b.Id, (string?)mutual["toUserId"]);

        Assert.Equal([b.Id], await Server.FriendIdsAsync(a));
        Assert.Equal([a.Id], await Server.FriendIdsAsync(b));
        Assert.Empty(await Server.PendingRequestsAsync(a, "incoming"));
        Assert.Empty(await Server.PendingRequestsAsync(a, "outgoing"));
        Assert.Empty(await Server.PendingRequestsAsync(b, "incoming"));
        Assert.Empty(await Server.PendingRequestsAsync(b, "outgoing"));

        var accepted = Assert.Single(Notifications.For(a.Id, FriendAccepted));
        accepted.AssertRecipients(a, b);
        Assert.Equal(request.Id(), accepted.Str("id"));
        Assert.Equal("accepted", accepted.Str("status"));
        Assert.Single(Notifications.For(b.Id, FriendAccepted));
        // b's request never existed as a separate pending request, so a got no friend.request for it.
        Assert.Empty(Notifications.For(a.Id, FriendRequest));

        // Now friends: asking again is a conflict either way.
        await Server.RequestFriend(a, b).ExpectProblem(HttpStatusCode.Conflict, "conflict");
        await Server.RequestFriend(b, a).ExpectProblem(HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task Incoming_and_outgoing_list_pending_requests_only_newest_first_and_page()
    {
        var me = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var c = await Server.RegisterAsync();
        var d = await Server.RegisterAsync();
        var e = await Server.RegisterAsync();
        var fromB = await Server.SendFriendRequestAsync(b, me, "from b");
        var fromC = await Server.SendFriendRequestAsync(c, me);
        var fromD = await Server.SendFriendRequestAsync(d, me);
        var toE = await Server.SendFriendRequestAsync(me, e);

        // Default direction is incoming.
        var defaultList = await Server.Get(me, "/api/friends/requests").Expect(HttpStatusCode.OK);
        Assert.Equal([fromD.Id(), fromC.Id(), fromB.Id()], defaultList["items"]!.AsArray().Select(r => r!.Id()));
        Assert.Null((string?)defaultList["nextCursor"]);

        var incoming = await Server.PendingRequestsAsync(me, "incoming");
        Assert.Equal([fromD.Id(), fromC.Id(), fromB.Id()], incoming.Select(r => r.Id()));
        Assert.Equal("from b", (string?)incoming[2]["message"]);
        Assert.Equal(b.Id, incoming[2]["from"]!.Id());
        Assert.Equal(me.Id, incoming[2]["to"]!.Id());
        Assert.All(incoming, r => Assert.Equal("pending", (string?)r["status"]));

        var outgoing = await Server.PendingRequestsAsync(me, "outgoing");
        Assert.Equal([toE.Id()], outgoing.Select(r => r.Id()));
        Assert.Equal([toE.Id()], (await Server.PendingRequestsAsync(e, "incoming")).Select(r => r.Id()));
        Assert.Empty(await Server.PendingRequestsAsync(e, "outgoing"));

        // Paging one at a time gives the same list.
        var first = await Server.Get(me, "/api/friends/requests?direction=incoming&limit=1").Expect(HttpStatusCode.OK);
        Assert.Equal([fromD.Id()], first["items"]!.AsArray().Select(r => r!.Id()));
        Assert.NotNull((string?)first["nextCursor"]);
        var paged = await Server.AllItemsAsync(me, "/api/friends/requests?direction=incoming", limit: 1);
        Assert.Equal([fromD.Id(), fromC.Id(), fromB.Id()], paged.Select(r => r.Id()));

        // Decided requests leave the lists.
        await Server.Post(me, $"/api/friends/requests/{fromC.Id()}/accept").Expect(HttpStatusCode.OK);
        await Server.Post(me, $"/api/friends/requests/{fromD.Id()}/decline").Expect(HttpStatusCode.OK);
        Assert.Equal([fromB.Id()], (await Server.PendingRequestsAsync(me, "incoming")).Select(r => r.Id()));
        Assert.Empty(await Server.PendingRequestsAsync(c, "outgoing"));
        Assert.Empty(await Server.PendingRequestsAsync(d, "outgoing"));

        await Server.Get(me, "/api/friends/requests?direction=sideways").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(me, "/api/friends/requests?limit=0").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Accept_makes_both_sides_friends_and_notifies_both()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync(nickname: "Bee");
        var request = await Server.SendFriendRequestAsync(a, b);

        var accepted = await Server.Post(b, $"/api/friends/requests/{request.Id()}/accept").Expect(HttpStatusCode.OK);
        Assert.Equal(request.Id(), accepted.Id());
        Assert.Equal("accepted", (string?)accepted["status"]);
        Assert.True((long)accepted["updatedAt"]! >= (long)accepted["createdAt"]!);

        var aFriends = await Server.FriendsAsync(a);
        var entry = Assert.Single(aFriends);
        Assert.Equal(b.Id, entry["user"]!.Id());
        Assert.Equal("Bee", (string?)entry["user"]!["nickname"]);
        Assert.Equal(b.Username, (string?)entry["user"]!["username"]);
        Assert.Null(entry["user"]!["email"]);
        Assert.Null(entry["remark"]);
        Assert.True(entry.AsObject().ContainsKey("remark"), "remark is present (null when unset)");
        Assert.True((long)entry["since"]! > 1_700_000_000_000);
        Assert.False((bool)entry["online"]!);
        Assert.Equal([a.Id], await Server.FriendIdsAsync(b));

        var aEvent = Assert.Single(Notifications.For(a.Id, FriendAccepted));
        aEvent.AssertRecipients(a, b);
        Assert.Equal(request.Id(), aEvent.Str("id"));
        Assert.Equal("accepted", aEvent.Str("status"));
        Assert.Single(Notifications.For(b.Id, FriendAccepted));

        // Decided: no second decision.
        await Server.Post(b, $"/api/friends/requests/{request.Id()}/accept").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        await Server.Post(b, $"/api/friends/requests/{request.Id()}/decline").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        Assert.Equal([b.Id], await Server.FriendIdsAsync(a));
    }

    [Fact]
    public async Task Only_the_recipient_may_accept_or_decline()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var stranger = await Server.RegisterAsync();
        var request = await Server.SendFriendRequestAsync(a, b);

        await Server.Post(a, $"/api/friends/requests/{request.Id()}/accept").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(a, $"/api/friends/requests/{request.Id()}/decline").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(stranger, $"/api/friends/requests/{request.Id()}/accept").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(stranger, $"/api/friends/requests/{request.Id()}/decline").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(b, "/api/friends/requests/1/accept").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Send(HttpMethod.Post, $"/api/friends/requests/{request.Id()}/accept").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        // Still pending and nobody is friends.
        Assert.Equal([request.Id()], (await Server.PendingRequestsAsync(b, "incoming")).Select(r => r.Id()));
        Assert.Empty(await Server.FriendIdsAsync(a));
        Assert.Empty(await Server.FriendIdsAsync(stranger));
        Assert.Empty(Notifications.For(a.Id, FriendAccepted));
    }

    [Fact]
    public async Task Decline_sets_declined_sends_nothing_and_holds_off_a_new_request()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var request = await Server.SendFriendRequestAsync(a, b);

        var declined = await Server.Post(b, $"/api/friends/requests/{request.Id()}/decline").Expect(HttpStatusCode.OK);
        Assert.Equal(request.Id(), declined.Id());
        Assert.Equal("declined", (string?)declined["status"]);
        Assert.Empty(await Server.PendingRequestsAsync(b, "incoming"));
        Assert.Empty(await Server.PendingRequestsAsync(a, "outgoing"));
        Assert.Empty(await Server.FriendIdsAsync(a));
        Assert.Empty(await Server.FriendIdsAsync(b));
        Assert.Empty(Notifications.For(a.Id, FriendAccepted));
        Assert.Empty(Notifications.For(b.Id, FriendAccepted));
        Assert.Empty(Notifications.For(a.Id, FriendRequest));
        Assert.Single(Notifications.For(b.Id, FriendRequest));

        await Server.Post(b, $"/api/friends/requests/{request.Id()}/accept").ExpectProblem(HttpStatusCode.Conflict, "conflict");

        // The sender may not ask again during the cooldown (Social:RerequestCooldownHours, 24 by default; its end is
        // tested in FriendLimitsTests); the one who declined may still ask.
        await Server.RequestFriend(a, b, "please?").ExpectRateLimited();
        Assert.Single(Notifications.For(b.Id, FriendRequest));
        var theirs = await Server.SendFriendRequestAsync(b, a);
        Assert.NotEqual(request.Id(), theirs.Id());
        Assert.Single(Notifications.For(a.Id, FriendRequest));
    }

    [Fact]
    public async Task Invalid_requests_are_rejected_with_the_right_codes()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();

        await Server.RequestFriend(a, a).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(a, "/api/friends/requests", new JsonObject { ["userId"] = "not-an-id" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(a, "/api/friends/requests", new JsonObject()).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(a, "/api/friends/requests", new JsonObject { ["userId"] = "1" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.RequestFriend(a, b, new string('m', 201)).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.PostRaw("/api/friends/requests", "{}").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Send(HttpMethod.Get, "/api/friends").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Empty(Notifications.For(b.Id, FriendRequest));
        Assert.Empty(Notifications.For(a.Id, FriendRequest));

        var longest = await Server.SendFriendRequestAsync(a, b, new string('m', 200));
        Assert.Equal(200, ((string?)longest["message"])!.Length);
    }

    [Fact]
    public async Task Remark_is_private_to_my_side_and_clears_with_null_or_empty()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var stranger = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(a, b);

        var entry = await Server.Patch(a, $"/api/friends/{b.Id}", new JsonObject { ["remark"] = "Bobby from work" }).Expect(HttpStatusCode.OK);
        Assert.Equal(b.Id, entry["user"]!.Id());
        Assert.Equal("Bobby from work", (string?)entry["remark"]);
        Assert.True((long)entry["since"]! > 0);

        Assert.Equal("Bobby from work", (string?)Assert.Single(await Server.FriendsAsync(a))["remark"]);
        Assert.Null(Assert.Single(await Server.FriendsAsync(b))["remark"]);

        await Server.Patch(a, $"/api/friends/{b.Id}", new JsonObject { ["remark"] = new string('r', 65) }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        Assert.Equal("Bobby from work", (string?)Assert.Single(await Server.FriendsAsync(a))["remark"]);
        var longest = await Server.Patch(a, $"/api/friends/{b.Id}", new JsonObject { ["remark"] = new string('r', 64) }).Expect(HttpStatusCode.OK);
        Assert.Equal(64, ((string?)longest["remark"])!.Length);

        var cleared = await Server.Patch(a, $"/api/friends/{b.Id}", new JsonObject { ["remark"] = "" }).Expect(HttpStatusCode.OK);
        Assert.Null(cleared["remark"]);
        await Server.Patch(a, $"/api/friends/{b.Id}", new JsonObject { ["remark"] = "again" }).Expect(HttpStatusCode.OK);
        var nulled = await Server.Patch(a, $"/api/friends/{b.Id}", new JsonObject { ["remark"] = null }).Expect(HttpStatusCode.OK);
        Assert.Null(nulled["remark"]);
        Assert.Null(Assert.Single(await Server.FriendsAsync(a))["remark"]);

        await Server.Patch(a, $"/api/friends/{stranger.Id}", new JsonObject { ["remark"] = "x" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Patch(stranger, $"/api/friends/{a.Id}", new JsonObject { ["remark"] = "x" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Friend_list_is_a_paged_object_in_friend_id_order()
    {
        var me = await Server.RegisterAsync();
        var others = new[] { await Server.RegisterAsync(), await Server.RegisterAsync(), await Server.RegisterAsync() };
        // Become friends in an order other than id order.
        await Server.MakeFriendsAsync(others[2], me);
        await Server.MakeFriendsAsync(me, others[0]);
        await Server.MakeFriendsAsync(others[1], me);
        var expected = others.Select(o => o.Id).OrderBy(SocialApi.Wire).ToList();

        var firstPage = await Server.Get(me, "/api/friends?limit=2").Expect(HttpStatusCode.OK);
        Assert.Equal(["items", "nextCursor"], firstPage.AsObject().Select(p => p.Key).Order());
        var items = firstPage["items"]!.AsArray();
        Assert.Equal(expected.Take(2), items.Select(i => i!["user"]!.Id()));
        foreach (var item in items)
        {
            Assert.Equal(["online", "remark", "since", "user"], item!.AsObject().Select(p => p.Key).Order());
        }

        var cursor = (string?)firstPage["nextCursor"];
        Assert.NotNull(cursor);
        var secondPage = await Server.Get(me, "/api/friends?limit=2&cursor=" + Uri.EscapeDataString(cursor)).Expect(HttpStatusCode.OK);
        Assert.Equal(expected.Skip(2), secondPage["items"]!.AsArray().Select(i => i!["user"]!.Id()));
        Assert.Null((string?)secondPage["nextCursor"]);

        var empty = await Server.Get(await Server.RegisterAsync(), "/api/friends").Expect(HttpStatusCode.OK);
        Assert.Empty(empty["items"]!.AsArray());
        Assert.Null((string?)empty["nextCursor"]);
    }

    [Fact]
    public async Task Unfriend_removes_both_sides_and_notifies_both()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var c = await Server.RegisterAsync();
        await Server.MakeFriendsAsync(a, b);
        await Server.MakeFriendsAsync(a, c);
        await Server.Patch(b, $"/api/friends/{a.Id}", new JsonObject { ["remark"] = "old pal" }).Expect(HttpStatusCode.OK);

        await Server.Delete(a, $"/api/friends/{b.Id}").Expect(HttpStatusCode.NoContent);

        Assert.Equal([c.Id], await Server.FriendIdsAsync(a));
        Assert.Empty(await Server.FriendIdsAsync(b));
        Assert.Equal([a.Id], await Server.FriendIdsAsync(c));

        var toA = Assert.Single(Notifications.For(a.Id, FriendRemoved));
        var toB = Assert.Single(Notifications.For(b.Id, FriendRemoved));
        Assert.Empty(Notifications.For(c.Id, FriendRemoved));
        // Each side is told who the other side is, so each gets its own event.
        Assert.Equal(b.Id, toA.Str("userId"));
        Assert.Equal(a.Id, toB.Str("userId"));
        toA.AssertRecipients(a);
        toB.AssertRecipients(b);

        await Server.Delete(a, $"/api/friends/{b.Id}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Delete(b, $"/api/friends/{a.Id}").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Patch(b, $"/api/friends/{a.Id}", new JsonObject { ["remark"] = "x" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");

        // They can become friends again, with a fresh remark.
        await Server.MakeFriendsAsync(b, a);
        Assert.Null(Assert.Single(await Server.FriendsAsync(b))["remark"]);
    }

    [Fact]
    public async Task Blocks_put_delete_and_list_are_idempotent_in_user_id_order()
    {
        var me = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var c = await Server.RegisterAsync();

        var none = await Server.Get(me, "/api/blocks").Expect(HttpStatusCode.OK);
        Assert.Empty(none["items"]!.AsArray());
        Assert.Null((string?)none["nextCursor"]);

        // Blocked in an order other than id order (b registered before c); the list is in user-id order.
        await Server.Put(me, $"/api/blocks/{c.Id}").Expect(HttpStatusCode.NoContent);
        await Server.Put(me, $"/api/blocks/{b.Id}").Expect(HttpStatusCode.NoContent);
        await Server.Put(me, $"/api/blocks/{b.Id}").Expect(HttpStatusCode.NoContent);

        var blocks = await Server.AllItemsAsync(me, "/api/blocks");
        Assert.Equal([b.Id, c.Id], blocks.Select(x => x["user"]!.Id()));
        Assert.All(blocks, x => Assert.True((long)x["since"]! > 1_700_000_000_000));
        Assert.True((long)blocks[1]["since"]! <= (long)blocks[0]["since"]!, "c was blocked first");
        Assert.Equal(b.Username, (string?)blocks[0]["user"]!["username"]);
        var paged = await Server.AllItemsAsync(me, "/api/blocks", limit: 1);
        Assert.Equal([b.Id, c.Id], paged.Select(x => x["user"]!.Id()));
        // Blocks are one-way.
        Assert.Empty((await Server.Get(b, "/api/blocks").Expect(HttpStatusCode.OK))["items"]!.AsArray());

        await Server.Delete(me, $"/api/blocks/{b.Id}").Expect(HttpStatusCode.NoContent);
        await Server.Delete(me, $"/api/blocks/{b.Id}").Expect(HttpStatusCode.NoContent);
        Assert.Equal([c.Id], (await Server.AllItemsAsync(me, "/api/blocks")).Select(x => x["user"]!.Id()));

        await Server.Send(HttpMethod.Put, $"/api/blocks/{b.Id}").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task A_blocked_users_request_is_403_blocked_and_the_blockers_is_409()
    {
        var blocker = await Server.RegisterAsync();
        var blocked = await Server.RegisterAsync();
        await Server.Put(blocker, $"/api/blocks/{blocked.Id}").Expect(HttpStatusCode.NoContent);

        await Server.RequestFriend(blocked, blocker, "let me in").ExpectProblem(HttpStatusCode.Forbidden, "blocked");
        await Server.RequestFriend(blocker, blocked).ExpectProblem(HttpStatusCode.Conflict, "conflict");
        Assert.Empty(await Server.PendingRequestsAsync(blocker, "incoming"));
        Assert.Empty(await Server.PendingRequestsAsync(blocked, "incoming"));
        Assert.Empty(Notifications.For(blocker.Id, FriendRequest));
        Assert.Empty(Notifications.For(blocked.Id, FriendRequest));

        // Unblocking lifts both.
        await Server.Delete(blocker, $"/api/blocks/{blocked.Id}").Expect(HttpStatusCode.NoContent);
        await Server.SendFriendRequestAsync(blocked, blocker);
        Assert.Single(Notifications.For(blocker.Id, FriendRequest));
    }

    [Fact]
    public async Task Blocking_declines_pending_requests_in_both_directions_but_does_not_unfriend()
    {
        var me = await Server.RegisterAsync();
        var asker = await Server.RegisterAsync();
        var asked = await Server.RegisterAsync();
        var friend = await Server.RegisterAsync();
        var fromAsker = await Server.SendFriendRequestAsync(asker, me);
        var toAsked = await Server.SendFriendRequestAsync(me, asked);
        await Server.MakeFriendsAsync(me, friend);

        await Server.Put(me, $"/api/blocks/{asker.Id}").Expect(HttpStatusCode.NoContent);
        await Server.Put(me, $"/api/blocks/{asked.Id}").Expect(HttpStatusCode.NoContent);
        await Server.Put(me, $"/api/blocks/{friend.Id}").Expect(HttpStatusCode.NoContent);

        Assert.Empty(await Server.PendingRequestsAsync(me, "incoming"));
        Assert.Empty(await Server.PendingRequestsAsync(me, "outgoing"));
        Assert.Empty(await Server.PendingRequestsAsync(asker, "outgoing"));
        Assert.Empty(await Server.PendingRequestsAsync(asked, "incoming"));
        // The declined requests can no longer be accepted.
        await Server.Post(me, $"/api/friends/requests/{fromAsker.Id()}/accept").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        await Server.Post(asked, $"/api/friends/requests/{toAsked.Id()}/accept").ExpectProblem(HttpStatusCode.Conflict, "conflict");
        Assert.DoesNotContain(asker.Id, await Server.FriendIdsAsync(me));
        Assert.DoesNotContain(asked.Id, await Server.FriendIdsAsync(me));

        // Blocking a friend keeps the friendship, both sides.
        Assert.Equal([friend.Id], await Server.FriendIdsAsync(me));
        Assert.Equal([me.Id], await Server.FriendIdsAsync(friend));
        Assert.Empty(Notifications.For(friend.Id, FriendRemoved));
    }

    [Fact]
    public async Task Crossing_requests_sent_at_once_end_in_exactly_one_friendship()
    {
        const int pairs = 12;
        var users = await Server.RegisterManyAsync(pairs * 2, "cross");
        var results = await Task.WhenAll(Enumerable.Range(0, pairs).Select(async i =>
        {
            var a = users[2 * i];
            var b = users[(2 * i) + 1];
            var sends = new[] { Server.RequestFriend(a, b), Server.RequestFriend(b, a) };
            var responses = await Task.WhenAll(sends);
            var statuses = new List<HttpStatusCode>();
            var bodies = new List<JsonNode>();
            foreach (var response in responses)
            {
                using (response)
                {
                    statuses.Add(response.StatusCode);
                    bodies.Add(await response.Json());
                }
            }

            return (a, b, statuses, bodies);
        }));

        foreach (var (a, b, statuses, bodies) in results)
        {
            // One request is created, the other finds it and accepts it.
            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Created], statuses.Order());
            var ok = bodies[statuses.IndexOf(HttpStatusCode.OK)];
            var created = bodies[statuses.IndexOf(HttpStatusCode.Created)];
            Assert.Equal("accepted", (string?)ok["status"]);
            Assert.Equal(created.Id(), ok.Id());

            Assert.Equal([b.Id], await Server.FriendIdsAsync(a));
            Assert.Equal([a.Id], await Server.FriendIdsAsync(b));
            Assert.Empty(await Server.PendingRequestsAsync(a, "incoming"));
            Assert.Empty(await Server.PendingRequestsAsync(a, "outgoing"));
            Assert.Empty(await Server.PendingRequestsAsync(b, "incoming"));
            Assert.Empty(await Server.PendingRequestsAsync(b, "outgoing"));
            Assert.Single(Notifications.For(a.Id, FriendAccepted));
            Assert.Single(Notifications.For(b.Id, FriendAccepted));
        }
    }

    [Fact]
    public async Task Concurrent_unfriending_from_both_sides_removes_both_rows_once()
    {
        const int pairs = 8;
        var users = await Server.RegisterManyAsync(pairs * 2, "unf");
        for (var i = 0; i < pairs; i++)
        {
            await Server.MakeFriendsAsync(users[2 * i], users[(2 * i) + 1]);
        }

        await Task.WhenAll(Enumerable.Range(0, pairs).Select(async i =>
        {
            var a = users[2 * i];
            var b = users[(2 * i) + 1];
            var responses = await Task.WhenAll(Server.Delete(a, $"/api/friends/{b.Id}"), Server.Delete(b, $"/api/friends/{a.Id}"));
            var statuses = responses.Select(r => r.StatusCode).Order().ToList();
            foreach (var response in responses)
            {
                response.Dispose();
            }

            Assert.Equal([HttpStatusCode.NoContent, HttpStatusCode.NotFound], statuses);
            Assert.Empty(await Server.FriendIdsAsync(a));
            Assert.Empty(await Server.FriendIdsAsync(b));
            Assert.Single(Notifications.For(a.Id, FriendRemoved));
            Assert.Single(Notifications.For(b.Id, FriendRemoved));
        }));
    }

    [Fact]
    public async Task Concurrent_accept_and_decline_of_one_request_decide_it_once()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var request = await Server.SendFriendRequestAsync(a, b);

        var responses = await Task.WhenAll(
            Server.Post(b, $"/api/friends/requests/{request.Id()}/accept"),
            Server.Post(b, $"/api/friends/requests/{request.Id()}/decline"),
            Server.Post(b, $"/api/friends/requests/{request.Id()}/accept"));
        var statuses = responses.Select(r => r.StatusCode).ToList();
        foreach (var response in responses)
        {
            response.Dispose();
        }

        Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.Conflict));
        var friends = statuses[1] == HttpStatusCode.OK ? 0 : 1;
        Assert.Equal(friends, (await Server.FriendIdsAsync(a)).Count);
        Assert.Equal(friends, (await Server.FriendIdsAsync(b)).Count);
        Assert.Equal(friends, Notifications.For(a.Id, FriendAccepted).Count);
    }
}
