using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Events;
using Parley.Server.Messaging;
using Parley.Storage;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

public sealed class PostCommitRouteTestsSqlite() : PostCommitRouteTests(Backend.Sqlite);

public sealed class PostCommitRouteTestsPostgres() : PostCommitRouteTests(Backend.Postgres);

/// <summary>
/// The one post-commit route: messages, recalls, reads, typing hints and notifications leave in the order they were
/// published, only after their change committed, and nothing answered later can overtake them.
/// </summary>
public abstract class PostCommitRouteTests(Backend backend) : OwnServerTests(backend)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_recall_never_reaches_a_device_before_the_message_it_recalls()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var barrier = new Barrier();
        // First among the sinks: while it holds a message, the local fan-out has not delivered it either.
        await using var server = await ParleyServer.StartAsync(store, null, services => services.Insert(0, ServiceDescriptor.Singleton<IPostCommitSink>(barrier)));
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        await using var ws = await WsClient.ConnectAsync(server, b.AccessToken);

        barrier.HoldMessagesOf(SocialApi.Wire(direct));
        var message = await server.SendTextAsync(a, direct, "oops");
        Assert.True(barrier.Holding.Wait(Wait), "the message never reached the route");
        await server.Post(a, $"/api/conversations/{direct}/messages/{message.Seq()}/recall").Expect(HttpStatusCode.OK);

        // The recall was answered; the pong is queued after anything pushed before it, so a recall that had
        // overtaken its message (pushed from the request) would be here already.
        await ws.SendAsync(new JsonObject { ["type"] = "ping" });
        await ws.NextAsync("pong");
        Assert.False(ws.Has("recalled"));
        Assert.False(ws.Has("message"));

        barrier.Release();
        await ws.NextAsync("recalled", where: f => (long)f["seq"]! == message.Seq());
        // Read up to the recall and no further: the message must have come before it.
        Assert.True(ws.Has("message", f => (long)f["message"]!["seq"]! == message.Seq()));
        Assert.Equal(["message", "recalled"], barrier.Seen.ToArray());
    }

    [Fact]
    public async Task Route_events_are_delivered_in_order_and_each_after_its_change_is_visible()
    {
        await using var store = await TestStore.CreateAsync(Backend);
        var probe = new CommitProbe();
        await using var server = await ParleyServer.StartAsync(store, null, services => services.AddSingleton<IPostCommitSink>(probe));
        probe.Server = server;
        var (a, b, direct) = await server.FriendsWithConversationAsync();
        probe.Users[a.Wire()] = a;
        probe.Users[b.Wire()] = b;
        var groupOwner = await server.RegisterAsync();
        probe.Users[groupOwner.Wire()] = groupOwner;

        var first = await server.SendTextAsync(a, direct, "one");
        var second = await server.SendTextAsync(b, direct, "two");
        await server.Post(a, $"/api/conversations/{direct}/read", new JsonObject { ["seq"] = second.Seq() }).Expect(HttpStatusCode.NoContent);
        await server.Post(a, $"/api/conversations/{direct}/messages/{first.Seq()}/recall").Expect(HttpStatusCode.OK);
        await server.CreateGroupAsync(groupOwner, null, a); // the group's membership change and its notification join the same route
        await server.Delete(b, $"/api/friends/{a.Id}").Expect(HttpStatusCode.NoContent); // a pair change, then its notifications
        await server.MakeFriendsAsync(a, b);
        await server.SendTextAsync(a, direct, "sentinel");

        Assert.True(probe.Sentinel.Wait(Wait), "the sentinel never arrived");
        Assert.Empty(probe.Failures);
        Assert.Equal(
            ["message 1", "message 2", "read 2", "recalled 1", "membership", "notify group.invited", "pair", "notify friend.removed", "notify friend.removed", "pair", "message 3"],
            probe.Seen.SkipWhile(e => !e.StartsWith("message", StringComparison.Ordinal))
                .Where(e => !e.StartsWith("presence", StringComparison.Ordinal) && e is not "notify friend.request" and not "notify friend.accepted").ToArray());
    }

    /// <summary>Holds the route at the first message of one conversation until released, and records what passes.</summary>
    private sealed class Barrier : IPostCommitSink
    {
        private readonly ManualResetEventSlim _release = new();
        private long _conversationId;

        public ManualResetEventSlim Holding { get; } = new();

        public ConcurrentQueue<string> Seen { get; } = new();

        public void HoldMessagesOf(long conversationId) => _conversationId = conversationId;

        public void Release() => _release.Set();

        public void Message(CommittedMessage message, IReadOnlyList<(long UserId, long JoinedSeq)> members, long? originConnectionId)
        {
            if (message.Row.ConversationId != _conversationId)
            {
                return;
            }

            Seen.Enqueue("message");
            Holding.Set();
            Assert.True(_release.Wait(Wait), "the test never released the route");
        }

        public void Recalled(long conversationId, long seq, long by, IReadOnlyList<(long UserId, long JoinedSeq)> members)
        {
            if (conversationId == _conversationId)
            {
                Seen.Enqueue("recalled");
            }
        }

        public void Read(long conversationId, long userId, long seq, IReadOnlyList<long> recipients, long? originConnectionId)
        {
        }

        public void Typing(long conversationId, long userId, IReadOnlyList<long> recipients)
        {
        }

        public void Notify(Notification notification)
        {
        }

        public void Presence(long userId, bool online, long? lastSeenAt, IReadOnlyList<long> friends)
        {
        }

        public void SessionsRevoked(IReadOnlyList<long> sessionIds)
        {
        }

        public void MembershipChanged(long conversationId)
        {
        }

        public void PairChanged(long userA, long userB)
        {
        }
    }

    /// <summary>On every event, reads the state back over HTTP (another connection): the change must already be visible.</summary>
    private sealed class CommitProbe : IPostCommitSink
    {
        public ParleyServer? Server { get; set; }

        public ConcurrentDictionary<long, TestUser> Users { get; } = new();

        public ConcurrentQueue<string> Seen { get; } = new();

        public ConcurrentQueue<string> Failures { get; } = new();

        public ManualResetEventSlim Sentinel { get; } = new();

        public void Message(CommittedMessage message, IReadOnlyList<(long UserId, long JoinedSeq)> members, long? originConnectionId)
        {
            var row = message.Row;
            Seen.Enqueue($"message {row.Seq}");
            Check($"message {row.Seq}", members, async user =>
            {
                var items = await Server!.CatchUpAsync(user, Ids.Format(row.ConversationId), row.Seq - 1);
                return items.Any(m => m.Seq() == row.Seq);
            });
            if (row.Seq == 3)
            {
                Sentinel.Set();
            }
        }

        public void Recalled(long conversationId, long seq, long by, IReadOnlyList<(long UserId, long JoinedSeq)> members)
        {
            Seen.Enqueue($"recalled {seq}");
            Check($"recalled {seq}", members, async user =>
                (await Server!.CatchUpAsync(user, Ids.Format(conversationId), seq - 1)).Any(m => m.Seq() == seq && (bool)m["recalled"]!));
        }

        public void Read(long conversationId, long userId, long seq, IReadOnlyList<long> recipients, long? originConnectionId)
        {
            Seen.Enqueue($"read {seq}");
            if (Users.TryGetValue(userId, out var reader))
            {
                var readSeq = (long)Server!.ConversationAsync(reader, Ids.Format(conversationId)).GetAwaiter().GetResult()["readSeq"]!;
                if (readSeq < seq)
                {
                    Failures.Enqueue($"read {seq}: readSeq is {readSeq}");
                }
            }
        }

        public void Typing(long conversationId, long userId, IReadOnlyList<long> recipients) => Seen.Enqueue("typing");

        public void Notify(Notification notification) => Seen.Enqueue($"notify {notification.Kind}");

        public void Presence(long userId, bool online, long? lastSeenAt, IReadOnlyList<long> friends) => Seen.Enqueue("presence");

        public void SessionsRevoked(IReadOnlyList<long> sessionIds) => Seen.Enqueue("revoked");

        public void MembershipChanged(long conversationId) => Seen.Enqueue("membership");

        public void PairChanged(long userA, long userB) => Seen.Enqueue(Users.ContainsKey(userA) && Users.ContainsKey(userB) ? "pair" : "other pair");

        private void Check(string what, IReadOnlyList<(long UserId, long JoinedSeq)> members, Func<TestUser, Task<bool>> visible)
        {
            foreach (var (userId, _) in members)
            {
                if (Users.TryGetValue(userId, out var user) && !visible(user).GetAwaiter().GetResult())
                {
                    Failures.Enqueue($"{what}: not visible to {user.Id}");
                }
            }
        }
    }
}
