using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Parley.Protocol;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Admin;

public sealed class AdminTestsSqlite(AdminSqliteFixture fixture) : AdminTests(fixture), IClassFixture<AdminSqliteFixture>;

public sealed class AdminTestsPostgres(AdminPostgresFixture fixture) : AdminTests(fixture), IClassFixture<AdminPostgresFixture>;

/// <summary>The app-server API (/api/admin/*), reports, and the blocked-words filter in reject mode.</summary>
public abstract class AdminTests(AdminFixture fixture) : IAsyncLifetime
{
    protected ParleyServer Server => fixture.Server;

    public ValueTask InitializeAsync()
    {
        Assert.SkipUnless(fixture.Available, TestStore.SkipReason);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    private async Task<JsonNode> ImportAsync(string? externalId = null, string? password = null, string? nickname = null)
    {
        var body = new JsonObject { ["username"] = Api.NewUsername("imp") };
        if (externalId is not null)
        {
            body["externalId"] = externalId;
        }

        if (password is not null)
        {
            body["password"] = password;
        }

        if (nickname is not null)
        {
            body["nickname"] = nickname;
        }

        return await Server.Admin(HttpMethod.Post, "/api/admin/users", body).Expect(HttpStatusCode.Created);
    }

    private async Task<TestUser> SignInAsync(JsonNode user, string? device = null)
    {
        var json = await Server.Admin(HttpMethod.Post, $"/api/admin/users/{user.Id()}/tokens", new JsonObject { ["device"] = device }).Expect(HttpStatusCode.OK);
        return new TestUser(user.Id(), (string)user["username"]!, "", (string)json["deviceId"]!, (string)json["tokens"]!["accessToken"]!, (string)json["tokens"]!["refreshToken"]!);
    }

    [Fact]
    public async Task Admin_calls_need_the_key_in_the_header()
    {
        await Server.Admin(HttpMethod.Get, "/api/admin/stats", key: null).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Admin(HttpMethod.Get, "/api/admin/stats", key: "wrong-key-wrong-key-wrong-key").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Admin(HttpMethod.Get, "/api/admin/stats", key: AdminFixture.Key + "x").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Admin(HttpMethod.Get, "/api/admin/stats", key: "").ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Admin(HttpMethod.Get, $"/api/admin/stats?X-Api-Key={AdminFixture.Key}&apiKey={AdminFixture.Key}", key: null).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        // The header twice (even both right) is refused: one key, one answer.
        var twice = new HttpRequestMessage(HttpMethod.Get, "/api/admin/stats");
        twice.Headers.TryAddWithoutValidation("X-Api-Key", [AdminFixture.Key, AdminFixture.Key]);
        await Server.Http.SendAsync(twice).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        // An unauthenticated body is not read: a huge one is a 401, not a 413 or a 500.
        var huge = new HttpRequestMessage(HttpMethod.Post, "/api/admin/users") { Content = new StringContent(new string('x', 4 * 1024 * 1024), System.Text.Encoding.UTF8, "application/json") };
        await Server.Http.SendAsync(huge).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        // A user's bearer token is no admin key.
        var user = await Server.RegisterAsync();
        await Server.Send(HttpMethod.Get, "/api/admin/stats", user.AccessToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");

        await Server.Admin(HttpMethod.Get, "/api/admin/stats").Expect(HttpStatusCode.OK);
        await Server.Admin(HttpMethod.Get, "/api/admin/stats", key: AdminFixture.OtherKey).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_huge_authenticated_body_is_413()
    {
        var huge = new HttpRequestMessage(HttpMethod.Post, "/api/admin/users") { Content = new StringContent("{\"username\":\"" + new string('x', 2 * 1024 * 1024) + "\"}", System.Text.Encoding.UTF8, "application/json") };
        huge.Headers.Add("X-Api-Key", AdminFixture.Key);
        await Server.Http.SendAsync(huge).ExpectProblem(HttpStatusCode.RequestEntityTooLarge, "too_large");
    }

    [Fact]
    public async Task Hostile_bodies_to_every_admin_call_are_never_a_500()
    {
        var user = await ImportAsync();
        string[] paths =
        [
            "/api/admin/users", $"/api/admin/users/{user.Id()}/tokens", "/api/admin/messages", "/api/admin/reports/1/resolve",
            $"/api/admin/users/{user.Id()}/logout", $"/api/admin/users/{user.Id()}/disable", $"/api/admin/users/{user.Id()}/enable",
        ];
        string[] bodies =
        [
            "", "null", "[]", "\"x\"", "{", "{}", "{\"username\":5}", "{\"username\":null,\"password\":[]}",
            "{\"username\":\"\\ud800\"}", "{\"username\":\"a\",\"username\":\"b\"}", "{\"externalId\":\"\\u0000\"}",
            "{\"from\":\"-1\",\"to\":\"99999999999999999999\",\"clientMsgId\":\"x\",\"type\":\"text\",\"content\":{\"text\":\"hi\"}}",
            $"{{\"from\":\"{user.Id()}\",\"to\":\"{user.Id()}\",\"clientMsgId\":\"x\",\"type\":\"text\",\"content\":[]}}",
            $"{{\"from\":\"{user.Id()}\",\"conversationId\":\"1\",\"clientMsgId\":\"\",\"type\":\"text\",\"content\":{{\"text\":\"\"}}}}",
            "{\"device\":\"" + new string('d', 5000) + "\"}", "{\"note\":" + new string('[', 200) + new string(']', 200) + "}",
            "{\"seq\":\"3\",\"replyTo\":1e400,\"mentions\":[1,2]}",
        ];
        foreach (var path in paths)
        {
            foreach (var body in bodies)
            {
                var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
                request.Headers.Add("X-Api-Key", AdminFixture.Key);
                using var response = await Server.Http.SendAsync(request);
                Assert.True((int)response.StatusCode < 500, $"{path} {body}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }
    }

    [Fact]
    public async Task The_openapi_document_has_the_api_key_scheme_on_admin_calls()
    {
        var document = await Server.Http.GetFromJsonAsync<JsonNode>("/openapi/v1.json");
        var scheme = document!["components"]!["securitySchemes"]!["ApiKey"]!;
        Assert.Equal("apiKey", (string?)scheme["type"]);
        Assert.Equal("header", (string?)scheme["in"]);
        Assert.Equal("X-Api-Key", (string?)scheme["name"]);
        var stats = document["paths"]!["/api/admin/stats"]!["get"]!;
        Assert.NotNull(stats["security"]![0]!["ApiKey"]);
        Assert.Null(stats["security"]![0]!["Bearer"]);
        Assert.NotNull(document["paths"]!["/api/conversations/{id}/messages/{seq}/report"]);
    }

    [Fact]
    public async Task Import_with_external_id_list_and_search()
    {
        var externalId = "crm-" + Guid.NewGuid().ToString("N");
        var user = await ImportAsync(externalId, nickname: "Imported One");
        Assert.Equal(externalId, (string?)user["externalId"]);
        Assert.Equal("Imported One", (string?)user["nickname"]);
        Assert.False((bool)user["disabled"]!);

        await Server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = (string)user["username"]! })
            .ExpectProblem(HttpStatusCode.Conflict, "username_taken");
        var taken = await Server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = Api.NewUsername(), ["externalId"] = externalId })
            .ExpectProblem(HttpStatusCode.Conflict, "conflict");
        Assert.Contains("externalId", (string?)taken["detail"], StringComparison.Ordinal);
        await Server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = "x" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = Api.NewUsername(), ["externalId"] = new string('e', 129) })
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = Api.NewUsername(), ["password"] = "short" })
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        var byExternal = await Server.Admin(HttpMethod.Get, $"/api/admin/users?externalId={externalId}").Expect(HttpStatusCode.OK);
        var item = Assert.Single(byExternal["items"]!.AsArray())!;
        Assert.Equal(user.Id(), item.Id());
        Assert.Equal(externalId, (string?)item["externalId"]);
        Assert.False((bool)item["disabled"]!);

        var byName = await Server.Admin(HttpMethod.Get, $"/api/admin/users?q={((string?)user["username"])!.ToUpperInvariant()}").Expect(HttpStatusCode.OK);
        Assert.Equal(user.Id(), Assert.Single(byName["items"]!.AsArray())!.Id());
        var none = await Server.Admin(HttpMethod.Get, "/api/admin/users?externalId=no-such-id").Expect(HttpStatusCode.OK);
        Assert.Empty(none["items"]!.AsArray());
        Assert.Null(none["nextCursor"]);
        await Server.Admin(HttpMethod.Get, "/api/admin/users?cursor=nope").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task A_user_without_a_password_signs_in_only_through_the_token_call()
    {
        var user = await ImportAsync();
        await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = (string)user["username"]!, ["password"] = "" })
            .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = (string)user["username"]!, ["password"] = "anything at all" })
            .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");

        var signedIn = await SignInAsync(user, "crm-web");
        var me = await Server.Me(signedIn.AccessToken).Expect(HttpStatusCode.OK);
        Assert.Equal(user.Id(), me.Id());
        // A real device session: its refresh token rotates like a login's.
        var refreshed = await Server.Refresh(signedIn.RefreshToken).Expect(HttpStatusCode.OK);
        await Server.Me((string)refreshed["tokens"]!["accessToken"]!).Expect(HttpStatusCode.OK);
        await Server.Refresh(signedIn.RefreshToken).ExpectProblem(HttpStatusCode.Unauthorized, "token_reused");

        await Server.Admin(HttpMethod.Post, "/api/admin/users/123/tokens", new JsonObject()).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Admin(HttpMethod.Post, "/api/admin/users/nope/tokens").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Logout_revokes_every_session_and_closes_sockets_with_4001()
    {
        var user = await ImportAsync();
        var one = await SignInAsync(user);
        var two = await SignInAsync(user);
        await using var socket = await WsClient.ConnectAsync(Server, one.AccessToken);

        await Server.Admin(HttpMethod.Post, $"/api/admin/users/{user.Id()}/logout").Expect(HttpStatusCode.NoContent);
        Assert.Equal(CloseCodes.SessionRevoked, await socket.ClosedAsync());
        await Server.Me(one.AccessToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Me(two.AccessToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Refresh(two.RefreshToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        // Not disabled: a new session works.
        await Server.Me((await SignInAsync(user)).AccessToken).Expect(HttpStatusCode.OK);
        await Server.Admin(HttpMethod.Post, "/api/admin/users/99999/logout").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task A_disabled_user_is_logged_out_and_cannot_log_in_or_refresh_until_enabled()
    {
        var password = "correct horse battery";
        var user = await ImportAsync(password: password);
        var username = (string)user["username"]!;
        var session = await Server.LoginAsync(username, password);
        await using var socket = await WsClient.ConnectAsync(Server, session.AccessToken);

        await Server.Admin(HttpMethod.Post, $"/api/admin/users/{user.Id()}/disable").Expect(HttpStatusCode.NoContent);
        Assert.Equal(CloseCodes.SessionRevoked, await socket.ClosedAsync());
        await Server.Me(session.AccessToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Refresh(session.RefreshToken).ExpectProblem(HttpStatusCode.Forbidden, "disabled");
        await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = username, ["password"] = password })
            .ExpectProblem(HttpStatusCode.Forbidden, "disabled");
        // A wrong password says nothing about the account.
        await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = username, ["password"] = "wrong password!" })
            .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        await Server.Admin(HttpMethod.Post, $"/api/admin/users/{user.Id()}/tokens").ExpectProblem(HttpStatusCode.Forbidden, "disabled");
        var listed = await Server.Admin(HttpMethod.Get, $"/api/admin/users?q={username}").Expect(HttpStatusCode.OK);
        Assert.True((bool)listed["items"]![0]!["disabled"]!);
        await WsClient.RefusedAsync(Server, session.AccessToken);

        await Server.Admin(HttpMethod.Post, $"/api/admin/users/{user.Id()}/enable").Expect(HttpStatusCode.NoContent);
        var again = await Server.LoginAsync(username, password);
        await Server.Me(again.AccessToken).Expect(HttpStatusCode.OK);
        // The sessions revoked by the disable stay revoked.
        await Server.Refresh(session.RefreshToken).ExpectProblem(HttpStatusCode.Unauthorized, "unauthorized");
        await Server.Admin(HttpMethod.Post, "/api/admin/users/99999/disable").ExpectProblem(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task System_messages_open_a_direct_conversation_without_friendship_and_are_idempotent()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        await using var socket = await WsClient.ConnectAsync(Server, b.AccessToken);
        var clientMsgId = Guid.NewGuid().ToString("N");
        var body = new JsonObject
        {
            ["from"] = a.Id,
            ["to"] = b.Id,
            ["clientMsgId"] = clientMsgId,
            ["type"] = "text",
            ["content"] = new JsonObject { ["text"] = "Your order has shipped" },
        };
        var sent = await Server.Admin(HttpMethod.Post, "/api/admin/messages", body).Expect(HttpStatusCode.Created);
        Assert.Equal(a.Id, (string?)sent["senderId"]);
        Assert.Equal(1, sent.Seq());
        var conversationId = (string)sent["conversationId"]!;
        var pushed = await socket.NextAsync("message", where: f => (string?)f["message"]?["conversationId"] == conversationId);
        Assert.Equal("Your order has shipped", (string?)pushed["message"]!["content"]!["text"]);

        // The same clientMsgId again: the original, not a second message.
        var again = await Server.Admin(HttpMethod.Post, "/api/admin/messages", body.DeepClone()).Expect(HttpStatusCode.OK);
        Assert.Equal(1, again.Seq());
        var history = await Server.CatchUpAsync(b, conversationId);
        Assert.Single(history);

        // Still not friends: the users themselves cannot send there.
        await Server.SendText(a, conversationId, "hi").ExpectProblem(HttpStatusCode.Forbidden, "not_friends");

        // Blocks apply.
        await Server.Put(b, $"/api/blocks/{a.Id}").Expect(HttpStatusCode.NoContent);
        body["clientMsgId"] = Guid.NewGuid().ToString("N");
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", body.DeepClone()).ExpectProblem(HttpStatusCode.Forbidden, "blocked");
    }

    [Fact]
    public async Task System_messages_into_a_group_need_the_sender_to_be_a_member()
    {
        var owner = await Server.RegisterAsync();
        var outsider = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner);
        var conversationId = (string)group["conversationId"]!;
        JsonObject Body(TestUser from) => new()
        {
            ["from"] = from.Id,
            ["conversationId"] = conversationId,
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["type"] = "text",
            ["content"] = new JsonObject { ["text"] = "Maintenance tonight" },
        };
        var sent = await Server.Admin(HttpMethod.Post, "/api/admin/messages", Body(owner)).Expect(HttpStatusCode.Created);
        Assert.Equal(conversationId, (string?)sent["conversationId"]);
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", Body(outsider)).ExpectProblem(HttpStatusCode.Forbidden, "forbidden");

        // Bad requests are 400s and 404s, never 500s.
        var both = Body(owner);
        both["to"] = outsider.Id;
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", both).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var neither = Body(owner);
        neither.Remove("conversationId");
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", neither).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var unknown = Body(owner);
        unknown["from"] = "424242";
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", unknown).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        var noConversation = Body(owner);
        noConversation["conversationId"] = "424242";
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", noConversation).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        var badType = Body(owner);
        badType["type"] = "nope";
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", badType).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        var self = Body(owner);
        self.Remove("conversationId");
        self["to"] = owner.Id;
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", self).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task Stats_count_users_connections_groups_and_recent_messages()
    {
        var (a, _, conversationId) = await Server.FriendsWithConversationAsync();
        await Server.CreateGroupAsync(a);
        await Server.SendTextAsync(a, conversationId, "counted");
        await using var socket = await WsClient.ConnectAsync(Server, a.AccessToken);
        var stats = await Server.Admin(HttpMethod.Get, "/api/admin/stats").Expect(HttpStatusCode.OK);
        Assert.True((long)stats["users"]! >= 2);
        Assert.True((long)stats["onlineUsers"]! >= 1);
        Assert.True((long)stats["connections"]! >= 1);
        Assert.True((long)stats["groups"]! >= 1);
        Assert.True((long)stats["messagesLast24h"]! >= 1);
    }

    [Fact]
    public async Task Members_report_messages_they_can_see_and_admins_resolve_them()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var message = await Server.SendTextAsync(a, conversationId, "something nasty");
        var path = $"/api/conversations/{conversationId}/messages/{message.Seq()}/report";
        await Server.Post(b, path, new JsonObject { ["reason"] = "harassment" }).Expect(HttpStatusCode.NoContent);
        // Reporting again changes nothing.
        await Server.Post(b, path, new JsonObject { ["reason"] = "harassment, again" }).Expect(HttpStatusCode.NoContent);

        var stranger = await Server.RegisterAsync();
        await Server.Post(stranger, path, new JsonObject { ["reason"] = "nosy" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(a, path, new JsonObject { ["reason"] = "my own" }).ExpectProblem(HttpStatusCode.BadRequest, "invalid"); // its sender recalls it instead
        await Server.Post(b, $"/api/conversations/{conversationId}/messages/99/report", new JsonObject { ["reason"] = "x" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(b, $"/api/conversations/{conversationId}/messages/0/report", new JsonObject { ["reason"] = "x" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(b, $"/api/conversations/nope/messages/1/report", new JsonObject { ["reason"] = "x" }).ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Post(b, path, new JsonObject { ["reason"] = "  " }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(b, path, new JsonObject { ["reason"] = new string('r', 501) }).ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        await Server.Post(b, path, new JsonObject()).ExpectProblem(HttpStatusCode.BadRequest, "invalid");

        var open = await Server.Admin(HttpMethod.Get, "/api/admin/reports?limit=200").Expect(HttpStatusCode.OK);
        var mine = open["items"]!.AsArray().Where(r => (string?)r!["conversationId"] == conversationId).ToList();
        var report = Assert.Single(mine)!;
        Assert.Equal("open", (string?)report["status"]);
        Assert.Equal(b.Id, (string?)report["reporterId"]);
        Assert.Equal(a.Id, (string?)report["senderId"]);
        Assert.Equal("harassment", (string?)report["reason"]);
        Assert.Equal("something nasty", (string?)report["content"]!["text"]);

        var resolved = await Server.Admin(HttpMethod.Post, $"/api/admin/reports/{report.Id()}/resolve", new JsonObject { ["note"] = "warned" }).Expect(HttpStatusCode.OK);
        Assert.Equal("resolved", (string?)resolved["status"]);
        Assert.Equal("warned", (string?)resolved["resolvedNote"]);
        await Server.Admin(HttpMethod.Post, $"/api/admin/reports/{report.Id()}/resolve").Expect(HttpStatusCode.OK);
        var stillOpen = await Server.AllAdminReportsAsync("open");
        Assert.DoesNotContain(stillOpen, r => r.Id() == report.Id());
        Assert.Contains(await Server.AllAdminReportsAsync("resolved"), r => r.Id() == report.Id());
        await Server.Admin(HttpMethod.Post, "/api/admin/reports/12345/resolve").ExpectProblem(HttpStatusCode.NotFound, "not_found");
        await Server.Admin(HttpMethod.Get, "/api/admin/reports?status=weird").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
    }

    [Fact]
    public async Task A_member_sees_only_messages_from_joining_on_and_reports_are_limited_per_hour()
    {
        var owner = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner);
        var conversationId = (string)group["conversationId"]!;
        var before = await Server.SendTextAsync(owner, conversationId, "before you came");
        var late = await Server.RegisterAsync();
        await Server.JoinAsync(late, group.Id());
        await Server.Post(late, $"/api/conversations/{conversationId}/messages/{before.Seq()}/report", new JsonObject { ["reason"] = "x" })
            .ExpectProblem(HttpStatusCode.NotFound, "not_found");

        for (var i = 0; i < AdminFixture.ReportsPerHour; i++)
        {
            var m = await Server.SendTextAsync(owner, conversationId, "spam " + i);
            await Server.Post(late, $"/api/conversations/{conversationId}/messages/{m.Seq()}/report", new JsonObject { ["reason"] = "spam" }).Expect(HttpStatusCode.NoContent);
        }

        var one = await Server.SendTextAsync(owner, conversationId, "one too many");
        await Server.Post(late, $"/api/conversations/{conversationId}/messages/{one.Seq()}/report", new JsonObject { ["reason"] = "spam" })
            .ExpectProblem(HttpStatusCode.TooManyRequests, "rate_limited");
    }

    [Fact]
    public async Task An_external_id_is_taken_as_given_and_whitespace_at_its_ends_control_or_invisible_characters_are_refused()
    {
        foreach (var bad in new[] { " h1\t", "h1 ", " h1", "h\u00011", "h1\n", "", "\u3000h1", "h\u200b1", "h\u202e1", "h\u20281", "h\u00ad1" })
        {
            var refused = await Server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = Api.NewUsername(), ["externalId"] = bad })
                .ExpectProblem(HttpStatusCode.BadRequest, "invalid");
            Assert.Contains("externalId", refused.ToJsonString(), StringComparison.Ordinal);
        }

        var inner = "h 1 " + Guid.NewGuid().ToString("N")[..8] + "x";
        Assert.Equal(inner, (string?)(await ImportAsync(inner))["externalId"]);
    }

    [Fact]
    public async Task An_admin_send_refused_as_a_clientMsgId_used_elsewhere_opens_no_direct_conversation()
    {
        var a = await Server.RegisterAsync();
        var b = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(a);
        var clientMsgId = Guid.NewGuid().ToString("N");
        JsonObject Body() => new() { ["from"] = a.Id, ["clientMsgId"] = clientMsgId, ["type"] = "text", ["content"] = new JsonObject { ["text"] = "notice" } };
        var inGroup = Body();
        inGroup["conversationId"] = (string)group["conversationId"]!;
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", inGroup).Expect(HttpStatusCode.Created);
        var toB = Body();
        toB["to"] = b.Id;
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", toB).ExpectProblem(HttpStatusCode.Conflict, "conflict");
        Assert.Equal(0, await DirectConversationsAsync(a.Id, b.Id));

        // A retry into the same direct conversation is the original.
        toB["clientMsgId"] = Guid.NewGuid().ToString("N");
        var sent = await Server.Admin(HttpMethod.Post, "/api/admin/messages", toB.DeepClone()).Expect(HttpStatusCode.Created);
        var again = await Server.Admin(HttpMethod.Post, "/api/admin/messages", toB.DeepClone()).Expect(HttpStatusCode.OK);
        Assert.Equal((string?)sent["conversationId"], (string?)again["conversationId"]);
        Assert.Equal(1, await DirectConversationsAsync(a.Id, b.Id));
    }

    private async Task<long> DirectConversationsAsync(string userA, string userB)
    {
        var (x, y) = (long.Parse(userA, System.Globalization.CultureInfo.InvariantCulture), long.Parse(userB, System.Globalization.CultureInfo.InvariantCulture));
        await using var connection = await Server.Service<Parley.Storage.Database>().OpenAsync(CancellationToken.None);
        return await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "SELECT COUNT(*) FROM conversations WHERE type = 'direct' AND user_low = @low AND user_high = @high", new { low = Math.Min(x, y), high = Math.Max(x, y) });
    }

    [Fact]
    public async Task A_disabled_user_sends_no_admin_message_but_still_receives_them()
    {
        var from = await ImportAsync();
        var to = await ImportAsync();
        JsonObject Body(JsonNode sender, JsonNode recipient) => new()
        {
            ["from"] = sender.Id(), ["to"] = recipient.Id(), ["clientMsgId"] = Guid.NewGuid().ToString("N"), ["type"] = "text", ["content"] = new JsonObject { ["text"] = "hi" },
        };
        await Server.Admin(HttpMethod.Post, $"/api/admin/users/{to.Id()}/disable").Expect(HttpStatusCode.NoContent);
        var stored = await Server.Admin(HttpMethod.Post, "/api/admin/messages", Body(from, to)).Expect(HttpStatusCode.Created);
        Assert.Equal(from.Id(), (string?)stored["senderId"]);

        await Server.Admin(HttpMethod.Post, $"/api/admin/users/{from.Id()}/disable").Expect(HttpStatusCode.NoContent);
        await Server.Admin(HttpMethod.Post, "/api/admin/messages", Body(from, to)).ExpectProblem(HttpStatusCode.Forbidden, "disabled");
    }

    [Fact]
    public async Task Every_admin_list_clamps_a_limit_above_200_as_the_rest_of_the_api_does()
    {
        var prefix = "clamp-" + Guid.NewGuid().ToString("N")[..8];
        for (var i = 0; i < 201; i++)
        {
            await Server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = $"{prefix}{i}" }).Expect(HttpStatusCode.Created);
        }

        var page = await Server.Admin(HttpMethod.Get, $"/api/admin/users?q={prefix}&limit=100000").Expect(HttpStatusCode.OK);
        Assert.Equal(200, page["items"]!.AsArray().Count);
        Assert.NotNull((string?)page["nextCursor"]);
        foreach (var path in new[] { "/api/admin/users", "/api/admin/reports" })
        {
            await Server.Admin(HttpMethod.Get, path + "?limit=201").Expect(HttpStatusCode.OK);
            await Server.Admin(HttpMethod.Get, path + "?limit=0").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
            await Server.Admin(HttpMethod.Get, path + "?limit=-1").ExpectProblem(HttpStatusCode.BadRequest, "invalid");
        }
    }

    [Fact]
    public async Task A_report_keeps_what_was_reported_after_a_recall_and_a_recalled_message_cannot_be_reported()
    {
        var (a, b, conversationId) = await Server.FriendsWithConversationAsync();
        var message = await Server.SendTextAsync(a, conversationId, "evidence");
        await Server.Post(b, $"/api/conversations/{conversationId}/messages/{message.Seq()}/report", new JsonObject { ["reason"] = "abuse" }).Expect(HttpStatusCode.NoContent);
        await Server.Post(a, $"/api/conversations/{conversationId}/messages/{message.Seq()}/recall").Expect(HttpStatusCode.OK);
        var report = Assert.Single(await Server.AllAdminReportsAsync("open"), r => (string?)r["conversationId"] == conversationId)!;
        Assert.Equal("evidence", (string?)report["content"]!["text"]);
        Assert.Equal(a.Id, (string?)report["senderId"]);

        var second = await Server.SendTextAsync(a, conversationId, "gone before anyone reports it");
        await Server.Post(a, $"/api/conversations/{conversationId}/messages/{second.Seq()}/recall").Expect(HttpStatusCode.OK);
        await Server.Post(b, $"/api/conversations/{conversationId}/messages/{second.Seq()}/report", new JsonObject { ["reason"] = "abuse" }).ExpectProblem(HttpStatusCode.Conflict, "conflict");
        Assert.Single(await Server.AllAdminReportsAsync("all"), r => (string?)r["conversationId"] == conversationId);
    }

    [Fact]
    public async Task An_unknown_username_costs_a_hash_check_at_the_same_parameters_as_a_real_one()
    {
        var passwords = Server.Service<Parley.Server.Accounts.PasswordHashing>();
        var user = await ImportAsync(password: "correct horse battery");
        var before = passwords.DummyChecks;
        await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = Api.NewUsername("ghost"), ["password"] = "correct horse battery" })
            .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        Assert.Equal(before + 1, passwords.DummyChecks);
        await Server.Send(HttpMethod.Post, "/api/auth/login", body: new JsonObject { ["username"] = (string)user["username"]!, ["password"] = "wrong horse battery" })
            .ExpectProblem(HttpStatusCode.Unauthorized, "invalid_credentials");
        Assert.Equal(before + 1, passwords.DummyChecks); // a real user's wrong password: their own hash, not the dummy

        var stored = await Server.Service<Parley.Storage.Accounts.UserStore>().GetAsync(long.Parse(user.Id(), System.Globalization.CultureInfo.InvariantCulture), CancellationToken.None);
        Assert.True(Parley.Server.Accounts.PasswordHashing.TryReadParameters(stored!.PasswordHash, out var m, out var t));
        Assert.True(Parley.Server.Accounts.PasswordHashing.TryReadParameters(passwords.DummyHash, out var dm, out var dt));
        Assert.Equal((m, t), (dm, dt));
    }

    [Fact]
    public async Task Blocked_words_reject_text_nicknames_group_names_and_announcements()
    {
        var (a, _, conversationId) = await Server.FriendsWithConversationAsync();
        await Server.SendText(a, conversationId, "this has a BadWord in it").ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        await Server.SendText(a, conversationId, "你说的是坏话吧").ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        await Server.SendText(a, conversationId, "a bad   phrase? no: a BAD PHRASE!").ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        // Latin words match whole words only: "class" holds "ass" but is no match.
        await Server.SendTextAsync(a, conversationId, "first class, badwords and bad phrases");
        // Only text messages are filtered: a link's title is not.
        await Server.Post(a, $"/api/conversations/{conversationId}/messages", new JsonObject
        {
            ["clientMsgId"] = Guid.NewGuid().ToString("N"),
            ["type"] = "custom",
            ["content"] = new JsonObject { ["note"] = "badword" },
        }).Expect(HttpStatusCode.Created);

        // Over the WebSocket too.
        await using (var socket = await WsClient.ConnectAsync(Server, a.AccessToken))
        {
            await socket.SendAsync(new JsonObject
            {
                ["type"] = "send",
                ["ref"] = "r1",
                ["conversationId"] = conversationId,
                ["clientMsgId"] = Guid.NewGuid().ToString("N"),
                ["msgType"] = "text",
                ["content"] = new JsonObject { ["text"] = "ass" },
            });
            var error = await socket.NextAsync("error");
            Assert.Equal("rejected", (string?)error["code"]);
        }

        await Server.Send(HttpMethod.Post, "/api/auth/register", body: new JsonObject { ["username"] = Api.NewUsername(), ["password"] = "correct horse battery", ["nickname"] = "Mr Badword" })
            .ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        await Server.Patch(a, "/api/users/me", new JsonObject { ["nickname"] = "坏话王" }).ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        await Server.Admin(HttpMethod.Post, "/api/admin/users", new JsonObject { ["username"] = Api.NewUsername(), ["nickname"] = "ass" }).ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        await Server.Post(a, "/api/groups", new JsonObject { ["name"] = "Badword club" }).ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        await Server.Post(a, "/api/groups", new JsonObject { ["name"] = "Fine", ["announcement"] = "read: 坏话" }).ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        var group = await Server.CreateGroupAsync(a, new JsonObject { ["name"] = "Classy" });
        await Server.Patch(a, $"/api/groups/{group.Id()}", new JsonObject { ["name"] = "bad phrase" }).ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        await Server.Patch(a, $"/api/groups/{group.Id()}", new JsonObject { ["announcement"] = "BADWORD" }).ExpectProblem(HttpStatusCode.Forbidden, "rejected");
        await Server.Patch(a, $"/api/groups/{group.Id()}", new JsonObject { ["announcement"] = "all good" }).Expect(HttpStatusCode.OK);
    }
}

public static class AdminReports
{
    public static async Task<List<JsonNode>> AllAdminReportsAsync(this ApiHost server, string status)
    {
        var all = new List<JsonNode>();
        string? cursor = null;
        for (var page = 0; page < 1000; page++)
        {
            var json = await server.Admin(HttpMethod.Get, $"/api/admin/reports?status={status}&limit=200" + (cursor is null ? "" : "&cursor=" + cursor)).Expect(HttpStatusCode.OK);
            all.AddRange(json["items"]!.AsArray().Select(i => i!.DeepClone()));
            cursor = (string?)json["nextCursor"];
            if (cursor is null)
            {
                return all;
            }
        }

        throw new InvalidOperationException("too many pages");
    }
}
