using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Events;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Social;

public sealed class EventsAfterCommitTestsSqlite() : EventsAfterCommitTests(Backend.Sqlite);

public sealed class EventsAfterCommitTestsPostgres() : EventsAfterCommitTests(Backend.Postgres);

/// <summary>
/// Every <c>notify</c> kind is published only once its change has committed: a sink that, on each event, reads
/// the state back over HTTP (another connection) as each user it concerns must already see the change.
/// </summary>
public abstract class EventsAfterCommitTests(Backend backend) : OwnServerTests(backend)
{
    private static readonly string[] AllKinds =
    [
        NotifyKinds.FriendRequest, NotifyKinds.FriendAccepted, NotifyKinds.FriendRemoved, NotifyKinds.GroupInvited,
        NotifyKinds.GroupJoined, NotifyKinds.GroupLeft, NotifyKinds.GroupRemoved, NotifyKinds.GroupUpdated,
        NotifyKinds.GroupRole, NotifyKinds.GroupRequest, NotifyKinds.GroupDissolved, NotifyKinds.UserUpdated,
    ];

    [Fact]
    public async Task Every_notify_kind_is_published_after_its_change_is_visible_to_the_users_concerned()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var probe = new CommitProbe();
        await using var server = await ParleyServer.StartAsync(store, null, services => services.AddSingleton<INotificationSink>(probe));
        probe.Start(server);

        async Task<TestUser> Register()
        {
            var user = await server.RegisterAsync();
            probe.Users[user.Wire()] = user;
            return user;
        }

        var a = await Register();
        var b = await Register();
        var c = await Register();
        var d = await Register();
        var e = await Register();

        // friends: request, accept, remove, and a mutual request that accepts at once
        var request = await server.SendFriendRequestAsync(a, b);
        await server.Post(b, $"/api/friends/requests/{request.Id()}/accept").Expect(HttpStatusCode.OK);
        await server.Delete(a, $"/api/friends/{b.Id}").Expect(HttpStatusCode.NoContent);
        await server.SendFriendRequestAsync(e, a);
        await server.RequestFriend(a, e).Expect(HttpStatusCode.OK);

        // groups: every kind
        var groupId = (await server.CreateGroupAsync(a, null, b)).Id();
        await server.JoinAsync(c, groupId);
        // a profile change: its user, their friend e and their co-members b and c
        await server.Patch(a, "/api/users/me", new JsonObject { ["nickname"] = "Renamed A" }).Expect(HttpStatusCode.OK);
        await server.Patch(a, $"/api/groups/{groupId}", new JsonObject { ["name"] = "Renamed", ["announcement"] = "news" }).Expect(HttpStatusCode.OK);
        await server.PromoteAsync(a, groupId, b);
        await server.Patch(b, $"/api/groups/{groupId}/members/{c.Id}", new JsonObject { ["mutedUntil"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds() })
            .Expect(HttpStatusCode.OK);
        await server.Post(c, $"/api/groups/{groupId}/leave").Expect(HttpStatusCode.NoContent);
        await server.Post(b, $"/api/groups/{groupId}/members", new JsonObject { ["userIds"] = SocialApi.IdArray(c) }).Expect(HttpStatusCode.OK);
        await server.Delete(a, $"/api/groups/{groupId}/members/{c.Id}").Expect(HttpStatusCode.NoContent);
        await server.Patch(a, $"/api/groups/{groupId}", new JsonObject { ["joinPolicy"] = "approval" }).Expect(HttpStatusCode.OK);
        Assert.Equal("pending", (string?)(await server.JoinAsync(d, groupId, "hi"))["status"]);
        var joinRequest = Assert.Single(await server.AllItemsAsync(b, $"/api/groups/{groupId}/requests"));
        await server.Post(b, $"/api/groups/{groupId}/requests/{joinRequest.Id()}/approve").Expect(HttpStatusCode.OK);
        await server.Delete(a, $"/api/groups/{groupId}").Expect(HttpStatusCode.NoContent);

        Assert.Empty(probe.Failures);
        Assert.Equal(AllKinds.Order(), probe.Seen.Select(n => n.Kind).Distinct().Order());
        Assert.All(probe.Seen, n => Assert.NotEmpty(n.UserIds));
    }

    /// <summary>On every event, checks over HTTP that each user it concerns already sees the change.</summary>
    private sealed class CommitProbe : INotificationSink
    {
        private ParleyServer? _server;

        public ConcurrentDictionary<long, TestUser> Users { get; } = new();

        public ConcurrentQueue<string> Failures { get; } = new();

        public ConcurrentQueue<Notification> Seen { get; } = new();

        public void Start(ParleyServer server)
        {
            _server = server;
        }

        public void Publish(Notification notification)
        {
            Seen.Enqueue(notification);
            if (_server is null)
            {
                return;
            }

            try
            {
                // Publish is synchronous and runs before the response is sent: the request waits for this check.
                var failure = Task.Run(() => CheckAsync(notification)).WaitAsync(TimeSpan.FromSeconds(20)).GetAwaiter().GetResult();
                if (failure is not null)
                {
                    Failures.Enqueue($"{notification.Kind} {notification.Data.GetRawText()}: {failure}");
                }
            }
            catch (Exception e) when (e is TimeoutException or HttpRequestException or InvalidOperationException or KeyNotFoundException)
            {
                Failures.Enqueue($"{notification.Kind}: the check failed: {e.GetType().Name} {e.Message}");
            }
        }

        private async Task<string?> CheckAsync(Notification n)
        {
            var data = n.DataNode();
            switch (n.Kind)
            {
                case NotifyKinds.FriendRequest:
                    foreach (var user in Concerned(n))
                    {
                        var incoming = await ItemsAsync(user, "/api/friends/requests?direction=incoming&limit=200");
                        if (!incoming.Any(r => r["id"]?.GetValue<string>() == n.Str("id")))
                        {
                            return "the recipient does not see the request";
                        }
                    }

                    return null;

                case NotifyKinds.FriendAccepted:
                {
                    var from = User(n.Str("fromUserId"));
                    var to = User(n.Str("toUserId"));
                    if (!(await FriendIdsAsync(from)).Contains(to.Id) || !(await FriendIdsAsync(to)).Contains(from.Id))
                    {
                        return "the friendship is not visible on both sides";
                    }

                    return null;
                }

                case NotifyKinds.FriendRemoved:
                    foreach (var user in Concerned(n))
                    {
                        if ((await FriendIdsAsync(user)).Contains(n.Str("userId") ?? ""))
                        {
                            return $"user {user.Id} still sees the friendship";
                        }
                    }

                    return null;

                case NotifyKinds.GroupInvited:
                    foreach (var user in Concerned(n))
                    {
                        var (status, _) = await GetAsync(user, $"/api/groups/{n.Str("group")}");
                        if (status != HttpStatusCode.OK)
                        {
                            return $"invited user {user.Id} cannot read the group ({(int)status})";
                        }
                    }

                    return null;

                case NotifyKinds.GroupJoined:
                {
                    var (status, _) = await GetAsync(User(n.Str("userId")), $"/api/groups/{n.Str("groupId")}");
                    return status == HttpStatusCode.OK ? null : $"the joiner cannot read the group ({(int)status})";
                }

                case NotifyKinds.GroupLeft:
                case NotifyKinds.GroupRemoved:
                {
                    var (status, _) = await GetAsync(User(n.Str("userId")), $"/api/groups/{n.Str("groupId")}");
                    return status == HttpStatusCode.OK ? "the user who is gone can still read the group" : null;
                }

                case NotifyKinds.GroupUpdated:
                    foreach (var user in Concerned(n))
                    {
                        var (status, group) = await GetAsync(user, $"/api/groups/{n.Str("group")}");
                        if (status != HttpStatusCode.OK
                            || (string?)group?["name"] != (string?)data["group"]?["name"]
                            || (string?)group?["announcement"] != (string?)data["group"]?["announcement"]
                            || (string?)group?["joinPolicy"] != (string?)data["group"]?["joinPolicy"])
                        {
                            return $"user {user.Id} reads {(int)status} {group?.ToJsonString()}";
                        }
                    }

                    return null;

                case NotifyKinds.GroupRole:
                {
                    var members = await ItemsAsync(User(n.Str("userId")), $"/api/groups/{n.Str("groupId")}/members?limit=200");
                    var entry = members.SingleOrDefault(m => m["user"]?["id"]?.GetValue<string>() == n.Str("userId"));
                    if (entry is null || (string?)entry["role"] != n.Str("role") || entry["mutedUntil"]?.ToJsonString() != data["mutedUntil"]?.ToJsonString())
                    {
                        return $"the member list shows {entry?.ToJsonString()}";
                    }

                    return null;
                }

                case NotifyKinds.GroupRequest:
                    foreach (var user in Concerned(n))
                    {
                        var requests = await ItemsAsync(user, $"/api/groups/{n.Str("groupId")}/requests?limit=200");
                        if (!requests.Any(r => r["id"]?.GetValue<string>() == n.Str("id")))
                        {
                            return $"manager {user.Id} does not see the request";
                        }
                    }

                    return null;

                case NotifyKinds.GroupDissolved:
                    foreach (var user in Concerned(n))
                    {
                        var (status, _) = await GetAsync(user, $"/api/groups/{n.Str("groupId")}");
                        if (status != HttpStatusCode.NotFound)
                        {
                            return $"user {user.Id} still reads the group ({(int)status})";
                        }
                    }

                    return null;

                case NotifyKinds.UserUpdated:
                    foreach (var user in Concerned(n))
                    {
                        var (status, profile) = await GetAsync(user, $"/api/users/{n.Str("user")}");
                        if (status != HttpStatusCode.OK || (string?)profile?["nickname"] != (string?)data["user"]?["nickname"])
                        {
                            return $"user {user.Id} reads {(int)status} {profile?.ToJsonString()}";
                        }
                    }

                    return null;

                default:
                    return "unknown kind";
            }
        }

        private TestUser User(string? id) => Users[SocialApi.Wire(id ?? throw new InvalidOperationException("no user id in the data"))];

        private IEnumerable<TestUser> Concerned(Notification n) => n.UserIds.Select(id => Users[id]);

        private async Task<List<string>> FriendIdsAsync(TestUser user) =>
            (await ItemsAsync(user, "/api/friends?limit=200")).Select(f => (string)f["user"]!["id"]!).ToList();

        private async Task<List<JsonNode>> ItemsAsync(TestUser user, string path)
        {
            var (status, body) = await GetAsync(user, path);
            if (status != HttpStatusCode.OK || body is null)
            {
                throw new InvalidOperationException($"GET {path} answered {(int)status}");
            }

            return body["items"]!.AsArray().Select(i => i!).ToList();
        }

        private async Task<(HttpStatusCode Status, JsonNode? Body)> GetAsync(TestUser user, string path)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", user.AccessToken);
            using var response = await _server!.Http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
        }
    }
}
