using System.Net;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

public sealed class MessagingTestsSqlite(SqliteFixture fixture) : MessagingTests(fixture), IClassFixture<SqliteFixture>;

public sealed class MessagingTestsPostgres(PostgresFixture fixture) : MessagingTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>Conversations and messages over HTTP: the contract's calls and its delivery guarantees.</summary>
public abstract class MessagingTests(ServerFixture fixture) : BackendTests(fixture)
{
    [Fact]
    public async Task Direct_conversation_is_get_or_create_and_needs_friendship()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        Assert.Equal(conversationId, await Server.DirectAsync(b, a));
        var conversation = await Server.ConversationAsync(a, conversationId);
        Assert.Equal("direct", (string?)conversation["type"]);
        Assert.Equal(b.Id, (string?)conversation["peer"]!["id"]);
        Assert.Equal(0, (long)conversation["maxSeq"]!);
        Assert.Null(conversation["lastMessage"]);

        var stranger = await Server.RegisterAsync();
        await Server.Post(a, "/api/conversations/direct", new JsonObject { ["userId"] = stranger.Id }).ExpectProblem(HttpStatusCode.Forbidden, "not_friends");
        await Server.Post(a, "/api/conversations/direct", new JsonObject { ["userId"] = a.Id }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(a, "/api/conversations/direct", new JsonObject { ["userId"] = "123456" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Send_returns_the_message_and_a_retry_returns_the_original()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var message = await Server.SendTextAsync(a, conversationId, "hello", "client-1");
        Assert.Equal(1, message.Seq());
        Assert.Equal(conversationId, (string?)message["conversationId"]);
        Assert.Equal("client-1", (string?)message["clientMsgId"]);
        Assert.Equal(a.Id, (string?)message["senderId"]);
        Assert.Equal("text", (string?)message["type"]);
        Assert.Equal("hello", (string?)message["content"]!["text"]);
        Assert.False((bool)message["recalled"]!);
        Assert.Empty(message["mentions"]!.AsArray());

        var retry = await Server.SendText(a, conversationId, "hello again?", "client-1").Expect(HttpStatusCode.OK);
        Assert.Equal(1, retry.Seq());
        Assert.Equal("hello", (string?)retry["content"]!["text"]);

        // concurrent retries of one new id create one message
        var racing = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Server.SendText(a, conversationId, "once", "client-2")));
        Assert.Equal(1, racing.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(5, racing.Count(r => r.StatusCode == HttpStatusCode.OK));
        var seqs = await Task.WhenAll(racing.Select(async r => (await r.Json()).Seq()));
        Assert.All(seqs, s => Assert.Equal(2, s));
        Assert.Equal(2, (await Server.CatchUpAsync(b, conversationId)).Count);
    }

    [Fact]
    public async Task Concurrent_senders_get_dense_seqs_in_commit_order()
    {
        var owner = await Server.RegisterAsync();
        var members = await Server.RegisterManyAsync(4);
        var group = await Server.CreateGroupAsync(owner, null, members);
        var conversationId = (string)group["conversationId"]!;
        var senders = members.Append(owner).ToArray();
        const int PerSender = 40;

        var sent = await Task.WhenAll(senders.Select(async sender =>
        {
            var mine = new List<long>();
            for (var i = 0; i < PerSender; i++)
            {
                mine.Add((await Server.SendTextAsync(sender, conversationId, $"{sender.Username} #{i}")).Seq());
            }

            return mine;
        }));

        var total = senders.Length * PerSender;
        var all = sent.SelectMany(s => s).Order().ToList();
        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), all);
        // each sender's own messages keep their sending order
        Assert.All(sent, mine => Assert.Equal(mine.Order(), mine));

        var history = await Server.CatchUpAsync(members[0], conversationId, limit: 37);
        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), history.Select(m => m.Seq()));
        Assert.Equal(total, (long)(await Server.ConversationAsync(owner, conversationId))["maxSeq"]!);
    }

    [Fact]
    public async Task An_offline_member_catches_up_completely_and_in_order_and_pages_backwards()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        for (var i = 1; i <= 25; i++)
        {
            await Server.SendTextAsync(i % 3 == 0 ? b : a, conversationId, "m" + i);
        }

        var caughtUp = await Server.CatchUpAsync(b, conversationId, afterSeq: 0, limit: 7);
        Assert.Equal(Enumerable.Range(1, 25).Select(i => "m" + i), caughtUp.Select(m => (string)m["content"]!["text"]!));

        var fromTen = await Server.Get(b, $"/api/conversations/{conversationId}/messages?after=10&limit=5").Expect(HttpStatusCode.OK);
        Assert.Equal([11L, 12, 13, 14, 15], fromTen["items"]!.AsArray().Select(m => m!.Seq()));
        Assert.True((bool)fromTen["hasMore"]!);
        Assert.Equal(25, (long)fromTen["maxSeq"]!);

        var beforeTen = await Server.Get(b, $"/api/conversations/{conversationId}/messages?before=10&limit=4").Expect(HttpStatusCode.OK);
        Assert.Equal([6L, 7, 8, 9], beforeTen["items"]!.AsArray().Select(m => m!.Seq()));
        Assert.True((bool)beforeTen["hasMore"]!);
        var oldest = await Server.Get(b, $"/api/conversations/{conversationId}/messages?before=3&limit=4").Expect(HttpStatusCode.OK);
        Assert.Equal([1L, 2], oldest["items"]!.AsArray().Select(m => m!.Seq()));
        Assert.False((bool)oldest["hasMore"]!);

        await Server.Get(b, $"/api/conversations/{conversationId}/messages?after=-1").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(b, $"/api/conversations/{conversationId}/messages?after=1&before=5").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Get(b, $"/api/conversations/{conversationId}/messages?after=x").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Unread_counts_exclude_own_messages_and_read_moves_forward_only()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, conversationId, "1");
        await Server.SendTextAsync(a, conversationId, "2");
        await Server.SendTextAsync(b, conversationId, "3");
        await Server.SendTextAsync(a, conversationId, "4");

        var forB = await Server.ConversationAsync(b, conversationId);
        Assert.Equal(3, (long)forB["readSeq"]!); // sending read up to b's own message
        Assert.Equal(1, (long)forB["unreadCount"]!);
        var forA = await Server.ConversationAsync(a, conversationId);
        Assert.Equal(4, (long)forA["readSeq"]!);
        Assert.Equal(0, (long)forA["unreadCount"]!);
        Assert.Equal("4", (string?)forA["lastMessage"]!["content"]!["text"]);

        await Server.Post(b, $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 4 }).Expect(HttpStatusCode.NoContent);
        Assert.Equal(0, (long)(await Server.ConversationAsync(b, conversationId))["unreadCount"]!);
        await Server.Post(b, $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 1 }).Expect(HttpStatusCode.NoContent);
        Assert.Equal(4, (long)(await Server.ConversationAsync(b, conversationId))["readSeq"]!);
        // beyond the end is clamped
        await Server.Post(b, $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 999 }).Expect(HttpStatusCode.NoContent);
        Assert.Equal(4, (long)(await Server.ConversationAsync(b, conversationId))["readSeq"]!);
        await Server.Post(b, $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = -1 }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Conversations_list_most_recent_first_with_state()
    {
        var me = await Server.RegisterAsync();
        var friends = await Server.RegisterManyAsync(3);
        var ids = new List<string>();
        foreach (var friend in friends)
        {
            await Server.MakeFriendsAsync(me, friend);
            ids.Add(await Server.DirectAsync(me, friend));
        }

        var sentAt = new Dictionary<string, long>();
        foreach (var (friend, conversation, text) in new[] { (1, 1, "first"), (0, 0, "second"), (2, 2, "third"), (1, 1, "fourth") })
        {
            sentAt[ids[conversation]] = (long)(await Server.SendTextAsync(friends[friend], ids[conversation], text))["sentAt"]!;
        }

        // Most recent activity first; sends in the same millisecond tie, and ties go by conversation id, newest first.
        var expected = ids.OrderByDescending(id => sentAt[id]).ThenByDescending(long.Parse).ToList();
        var list = await Server.AllItemsAsync(me, "/api/conversations", limit: 2);
        Assert.Equal(expected, list.Select(c => c.Id()));
        Assert.True(sentAt[ids[1]] >= sentAt[ids[2]] && sentAt[ids[2]] >= sentAt[ids[0]], "send times follow the order of the sends");
        var fourth = list.Single(c => c.Id() == ids[1]);
        Assert.Equal(2, (long)fourth["unreadCount"]!);
        Assert.Equal("fourth", (string?)fourth["lastMessage"]!["content"]!["text"]);
        Assert.Equal(friends[1].Id, (string?)fourth["peer"]!["id"]);
    }

    [Fact]
    public async Task Mentions_mark_the_conversation_until_read()
    {
        var owner = await Server.RegisterAsync();
        var members = await Server.RegisterManyAsync(2);
        var group = await Server.CreateGroupAsync(owner, null, members);
        var conversationId = (string)group["conversationId"]!;
        await Server.Post(members[0], $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = "m1", ["type"] = "text", ["content"] = new JsonObject { ["text"] = "hey" }, ["mentions"] = SocialApi.IdArray(members[1]),
        }).Expect(HttpStatusCode.Created);
        Assert.True((bool)(await Server.ConversationAsync(members[1], conversationId))["mentioned"]!);
        Assert.False((bool)(await Server.ConversationAsync(owner, conversationId))["mentioned"]!);

        // ["all"] is for owner and admins
        await Server.Post(members[0], $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = "m2", ["type"] = "text", ["content"] = new JsonObject { ["text"] = "all" }, ["mentions"] = SocialApi.Strings("all"),
        }).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.Post(owner, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = "m3", ["type"] = "text", ["content"] = new JsonObject { ["text"] = "all" }, ["mentions"] = SocialApi.Strings("all"),
        }).Expect(HttpStatusCode.Created);
        Assert.True((bool)(await Server.ConversationAsync(members[0], conversationId))["mentioned"]!);

        await Server.Post(members[1], $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 2 }).Expect(HttpStatusCode.NoContent);
        Assert.False((bool)(await Server.ConversationAsync(members[1], conversationId))["mentioned"]!);
    }

    [Fact]
    public async Task Every_type_is_validated()
    {
        var (a, _, conversationId) = await Server.FriendsWithConversationAsync();
        async Task<HttpResponseMessage> Send(string type, JsonNode content) =>
            await Server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject { ["clientMsgId"] = Guid.NewGuid().ToString("N"), ["type"] = type, ["content"] = content });

        (await Send("location", new JsonObject { ["latitude"] = 52.5, ["longitude"] = 13.4, ["title"] = "Berlin" })).EnsureSuccessStatusCode();
        (await Send("link", new JsonObject { ["url"] = "https://example.com/a", ["title"] = "A" })).EnsureSuccessStatusCode();
        (await Send("custom", new JsonObject { ["anything"] = new JsonArray(1, 2, 3) })).EnsureSuccessStatusCode();

        var refused = new (string Type, JsonNode Content)[]
        {
            ("text", new JsonObject()),
            ("text", new JsonObject { ["text"] = "" }),
            ("text", new JsonObject { ["text"] = 5 }),
            ("text", new JsonObject { ["text"] = new string('x', 16 * 1024 + 1) }),
            ("image", new JsonObject { ["width"] = 10 }),
            ("image", new JsonObject { ["fileId"] = "123", ["width"] = -1 }),
            ("file", new JsonObject { ["fileId"] = "123", ["size"] = 5 }),
            ("audio", new JsonObject { ["fileId"] = "123" }),
            ("video", new JsonObject { ["fileId"] = "nope" }),
            ("location", new JsonObject { ["latitude"] = 91, ["longitude"] = 0 }),
            ("location", new JsonObject { ["latitude"] = 0 }),
            ("link", new JsonObject { ["url"] = "javascript:alert(1)" }),
            ("link", new JsonObject { ["url"] = "https://example.com", ["imageFileId"] = 7 }),
            ("sticker", new JsonObject { ["id"] = 1 }),
            ("custom", new JsonArray()),
        };
        foreach (var (type, content) in refused)
        {
            using var response = await Send(type, content);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{type} {content.ToJsonString()} gave {(int)response.StatusCode}");
            Assert.Equal("invalid", (string?)(await response.Json())["code"]);
        }

        // a referenced file must be one the sender may use (no stored file is, before the files feature)
        await Send("image", new JsonObject { ["fileId"] = "123456" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        var big = new JsonObject { ["blob"] = new string('x', 65 * 1024) };
        await Send("custom", big).ExpectProblem(HttpStatusCode.RequestEntityTooLarge, "too_large");
        await Server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject { ["type"] = "text", ["content"] = new JsonObject { ["text"] = "no id" } })
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Content_strings_with_NUL_or_a_lone_surrogate_are_refused_as_on_the_socket()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        async Task<HttpResponseMessage> SendRaw(string type, string contentJson)
        {
            var body = $$"""{"clientMsgId":"{{Guid.NewGuid():N}}","type":"{{type}}","content":{{contentJson}}}""";
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/conversations/{conversationId}/messages")
            {
                Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", a.AccessToken);
            return await Server.Http.SendAsync(request);
        }

        // Escapes only: JSON text cannot carry a raw NUL or an unpaired surrogate any other way.
        var refused = new (string Type, string Content)[]
        {
            ("text", """{"text":"a\ud800b"}"""),
            ("text", """{"text":"trailing \udbff"}"""),
            ("text", """{"text":"\udc00 first"}"""),
            ("text", """{"text":"a\u0000b"}"""),
            ("file", """{"fileId":"123","name":"x\ud800.png","size":1}"""),
            ("link", """{"url":"https://example.com","title":"\udfff"}"""),
            ("custom", """{"deep":{"list":["ok","\ud83d"]}}"""),
            ("custom", """{"key\u0000":1}"""),
            ("custom", """{"\ud800":1}"""),
        };
        foreach (var (type, content) in refused)
        {
            var problem = await SendRaw(type, content).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
            Assert.True(problem["errors"]?["content"] is not null, $"{content}: {problem.ToJsonString()}");
        }

        // An escaped pair is one character, and other escapes are ordinary text.
        var pair = await SendRaw("text", """{"text":"smile \ud83d\ude00 \" \\ \n \u00e9"}""").Expect(HttpStatusCode.Created);
        Assert.Equal("smile \U0001F600 \" \\ \n é", (string?)pair["content"]!["text"]);
        Assert.Single(await Server.CatchUpAsync(b, conversationId));
    }

    [Fact]
    public async Task Non_members_are_refused_everywhere()
    {
        var (a, _, conversationId) = await Server.FriendsWithConversationAsync();
        await Server.SendTextAsync(a, conversationId, "private");
        var outsider = await Server.RegisterAsync();
        var paths = new[]
        {
            (HttpMethod.Get, $"/api/conversations/{conversationId}", (JsonNode?)null),
            (HttpMethod.Get, $"/api/conversations/{conversationId}/messages?after=0", null),
            (HttpMethod.Post, $"/api/conversations/{conversationId}/messages", new JsonObject { ["clientMsgId"] = "x", ["type"] = "text", ["content"] = new JsonObject { ["text"] = "hi" } }),
            (HttpMethod.Post, $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 1 }),
            (HttpMethod.Post, $"/api/conversations/{conversationId}/messages/1/recall", null),
            (HttpMethod.Delete, $"/api/conversations/{conversationId}/messages/1", null),
            (HttpMethod.Get, $"/api/conversations/{conversationId}/messages/1/receipts", null),
        };
        foreach (var (method, path, body) in paths)
        {
            await Server.Send(method, path, outsider.AccessToken, body).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        }

        Assert.DoesNotContain(conversationId, (await Server.AllItemsAsync(outsider, "/api/conversations")).Select(c => c.Id()));
        await Server.Get(outsider, "/api/conversations/999999").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Get(outsider, "/api/conversations/nope").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Group_members_see_messages_from_joining_on_and_nothing_after_leaving()
    {
        var owner = await Server.RegisterAsync();
        var early = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, null, early);
        var groupId = group.Id();
        var conversationId = (string)group["conversationId"]!;
        await Server.SendTextAsync(owner, conversationId, "before");

        var late = await Server.RegisterAsync();
        await Server.JoinAsync(late, groupId);
        var lateView = await Server.ConversationAsync(late, conversationId);
        Assert.Equal(0, (long)lateView["unreadCount"]!);
        Assert.Null(lateView["lastMessage"]);
        Assert.Empty(await Server.CatchUpAsync(late, conversationId));
        await Server.Get(late, $"/api/conversations/{conversationId}/messages/1/receipts").ExpectProblem(HttpStatusCode.NotFound, "not_found");

        await Server.SendTextAsync(owner, conversationId, "after");
        Assert.Equal(["after"], (await Server.CatchUpAsync(late, conversationId)).Select(m => (string)m["content"]!["text"]!));
        Assert.Equal(2, (await Server.CatchUpAsync(early, conversationId)).Count);

        await Server.Post(early, $"/api/groups/{groupId}/leave").Expect(HttpStatusCode.NoContent);
        await Server.SendTextAsync(owner, conversationId, "gone");
        await Server.Get(early, $"/api/conversations/{conversationId}/messages?after=0").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        await Server.SendText(early, conversationId, "still here?").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        Assert.DoesNotContain(conversationId, (await Server.AllItemsAsync(early, "/api/conversations")).Select(c => c.Id()));
    }

    [Fact]
    public async Task Muted_members_blocked_users_and_unfriended_peers_cannot_send()
    {
        var owner = await Server.RegisterAsync();
        var member = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, null, member);
        var conversationId = (string)group["conversationId"]!;
        var until = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await Server.Patch(owner, $"/api/groups/{group.Id()}/members/{member.Id}", new JsonObject { ["mutedUntil"] = until }).Expect(HttpStatusCode.OK);
        await Server.SendText(member, conversationId, "let me talk").ExpectProblem(HttpStatusCode.Forbidden, "muted");

        var (a, b, direct) = await Server.FriendsWithConversationAsync();
        await Server.Put(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        await Server.SendText(a, direct, "hello?").ExpectProblem(HttpStatusCode.Forbidden, "blocked");
        await Server.Delete(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        await Server.SendTextAsync(a, direct, "hello again");
        await Server.Delete(b, $"/api/friends/{a.Id}").Expect(HttpStatusCode.NoContent);
        await Server.SendText(a, direct, "friends?").ExpectProblem(HttpStatusCode.Forbidden, "not_friends");
        // history stays readable
        Assert.Single(await Server.CatchUpAsync(a, direct));
    }

    [Fact]
    public async Task Delete_for_me_hides_only_for_me_and_receipts_tell_who_read()
    {
        var owner = await Server.RegisterAsync();
        var members = await Server.RegisterManyAsync(2);
        var group = await Server.CreateGroupAsync(owner, null, members);
        var conversationId = (string)group["conversationId"]!;
        await Server.SendTextAsync(owner, conversationId, "one");
        await Server.SendTextAsync(owner, conversationId, "two");

        await Server.Delete(members[0], $"/api/conversations/{conversationId}/messages/1").Expect(HttpStatusCode.NoContent);
        Assert.Equal([2L], (await Server.CatchUpAsync(members[0], conversationId)).Select(m => m.Seq()));
        Assert.Equal([1L, 2], (await Server.CatchUpAsync(members[1], conversationId)).Select(m => m.Seq()));
        await Server.Delete(members[0], $"/api/conversations/{conversationId}/messages/99").ExpectProblem(HttpStatusCode.NotFound, "not_found");

        await Server.Post(members[1], $"/api/conversations/{conversationId}/read", new JsonObject { ["seq"] = 2 }).Expect(HttpStatusCode.NoContent);
        var receipts = await Server.Get(owner, $"/api/conversations/{conversationId}/messages/2/receipts").Expect(HttpStatusCode.OK);
        Assert.Equal([members[1].Id], receipts["readBy"]!.AsArray().Select(x => (string)x!));
        Assert.Equal([members[0].Id], receipts["unreadBy"]!.AsArray().Select(x => (string)x!));
    }

    [Fact]
    public async Task Group_admins_recall_any_message_members_only_their_own()
    {
        var owner = await Server.RegisterAsync();
        var members = await Server.RegisterManyAsync(2);
        var group = await Server.CreateGroupAsync(owner, null, members);
        var conversationId = (string)group["conversationId"]!;
        await Server.SendTextAsync(members[0], conversationId, "mine");
        await Server.Post(members[1], $"/api/conversations/{conversationId}/messages/1/recall").ExpectProblem(HttpStatusCode.Forbidden, "forbidden");
        var recalled = await Server.Post(owner, $"/api/conversations/{conversationId}/messages/1/recall").Expect(HttpStatusCode.OK);
        Assert.True((bool)recalled["recalled"]!);
        Assert.Null(recalled["content"]);
        var seen = (await Server.CatchUpAsync(members[1], conversationId)).Single();
        Assert.True((bool)seen["recalled"]!);
        Assert.Null(seen["content"]);
        Assert.Equal(1, seen.Seq());
    }

    [Fact]
    public async Task Joins_and_leaves_during_sends_in_a_temporary_group_all_succeed()
    {
        var owner = await Server.RegisterAsync();
        var senders = await Server.RegisterManyAsync(3);
        var group = await Server.CreateGroupAsync(owner, new JsonObject { ["temporary"] = true, ["idleTtlSeconds"] = 3600 }, senders);
        var conversationId = (string)group["conversationId"]!;
        var joiners = await Server.RegisterManyAsync(12);

        var sending = senders.Select(async s =>
        {
            for (var i = 0; i < 25; i++)
            {
                await Server.SendTextAsync(s, conversationId, "x" + i);
            }
        });
        var joining = joiners.Select(async j =>
        {
            await Server.JoinAsync(j, group.Id());
            await Server.Post(j, $"/api/groups/{group.Id()}/leave").Expect(HttpStatusCode.NoContent);
            await Server.JoinAsync(j, group.Id());
        });
        await Task.WhenAll(sending.Concat(joining));

        Assert.Equal(75, (await Server.CatchUpAsync(owner, conversationId)).Count);
        Assert.Equal(1 + senders.Length + joiners.Length, (int)(await Server.GroupAsync(owner, group.Id()))["memberCount"]!);
    }
}
