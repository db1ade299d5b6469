using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Parley.Client;
using Parley.Tests.Infrastructure;
using Tokens = Parley.Client.Tokens;

namespace Parley.Tests.Client;

public sealed class ClientTestsSqlite(SqliteFixture fixture) : ClientTests(fixture), IClassFixture<SqliteFixture>;

public sealed class ClientTestsPostgres(PostgresFixture fixture) : ClientTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>
/// Parley.Client against the real server: HTTP calls with token refresh, the WebSocket's ref-correlated
/// requests and pushes, and <see cref="MessageTracker"/>'s catch-up and deduplication.
/// </summary>
public abstract class ClientTests(ServerFixture fixture) : BackendTests(fixture)
{
    private const string Password = "correct horse battery";

    private readonly List<ParleyClient> _clients = [];
    private readonly List<ParleySocket> _sockets = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public override async ValueTask DisposeAsync()
    {
        foreach (var socket in _sockets)
        {
            await socket.DisposeAsync();
        }

        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await base.DisposeAsync();
    }

    // ---- accounts and tokens ----

    [Fact]
    public async Task Register_login_and_me_and_a_wrong_password_is_invalid_credentials()
    {
        var username = Api.NewUsername("cl");
        var alice = NewClient();
        var registered = await alice.RegisterAsync(username, Password, "Alice", "alice@example.com", "laptop", Ct);
        Assert.Equal(username, registered.User.Username);
        Assert.Equal("Alice", registered.User.Nickname);
        Assert.Equal(registered.User.Id, alice.UserId);
        Assert.Equal(registered.DeviceId, alice.DeviceId);
        Assert.Same(registered.Tokens, alice.Tokens);
        Assert.True(registered.Tokens.AccessTokenExpiresAt > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.True(registered.Tokens.RefreshTokenExpiresAt > registered.Tokens.AccessTokenExpiresAt);

        var me = await alice.MeAsync(Ct);
        Assert.Equal(registered.User.Id, me.Id);
        Assert.Equal(username, me.Username);
        Assert.Equal("alice@example.com", me.Email);

        var phone = NewClient();
        var login = await phone.LoginAsync(username.ToUpperInvariant(), Password, "phone", Ct);
        Assert.Equal(registered.User.Id, login.User.Id);
        Assert.NotEqual(registered.DeviceId, login.DeviceId);
        Assert.Equal(registered.User.Id, (await phone.MeAsync(Ct)).Id);

        var wrong = NewClient();
        var error = await Assert.ThrowsAsync<ParleyApiException>(() => wrong.LoginAsync(username, "not the password", cancellationToken: Ct));
        Assert.Equal("invalid_credentials", error.Code);
        Assert.Equal(HttpStatusCode.Unauthorized, error.Status);
        Assert.Null(wrong.Tokens);
        Assert.Null(wrong.UserId);
        var unknown = await Assert.ThrowsAsync<ParleyApiException>(() => wrong.LoginAsync(Api.NewUsername("nobody"), Password, cancellationToken: Ct));
        Assert.Equal("invalid_credentials", unknown.Code);
        await Assert.ThrowsAsync<InvalidOperationException>(() => wrong.MeAsync(Ct)); // not signed in: no call at all

        var taken = await Assert.ThrowsAsync<ParleyApiException>(() => NewClient().RegisterAsync(username, Password, cancellationToken: Ct));
        Assert.Equal("username_taken", taken.Code);
        Assert.Equal(HttpStatusCode.Conflict, taken.Status);
    }

    [Fact]
    public async Task Refresh_gives_a_new_pair_and_using_the_old_refresh_token_again_is_token_reused()
    {
        var alice = await RegisterAsync();
        var old = alice.Tokens!;
        var changed = new List<Tokens>();
        alice.TokensChanged += changed.Add;

        var fresh = await alice.RefreshAsync(Ct);
        Assert.NotEqual(old.RefreshToken, fresh.RefreshToken);
        Assert.Same(fresh, alice.Tokens);
        Assert.Equal([fresh], changed);
        Assert.Equal(alice.UserId, (await alice.MeAsync(Ct)).Id);

        // A second client resuming the saved (now spent) session: presenting the retired token is reuse.
        var stale = NewClient();
        stale.UseSession(alice.UserId!, alice.DeviceId!, old);
        var reused = await Assert.ThrowsAsync<ParleyApiException>(() => stale.RefreshAsync(Ct));
        Assert.Equal("token_reused", reused.Code);
        Assert.Equal(HttpStatusCode.Unauthorized, reused.Status);

        // ... which revokes the whole device session, the fresh pair included.
        var revoked = await Assert.ThrowsAsync<ParleyApiException>(() => alice.MeAsync(Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, revoked.Status);
        var refreshRevoked = await Assert.ThrowsAsync<ParleyApiException>(() => alice.RefreshAsync(Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, refreshRevoked.Status);
        Assert.Single(changed);
    }

    [Fact]
    public async Task An_access_token_about_to_expire_is_refreshed_before_the_call()
    {
        var alice = await RegisterAsync();
        var old = alice.Tokens!;
        var changed = new List<Tokens>();
        alice.TokensChanged += changed.Add;
        var expiresAt = old.AccessTokenExpiresAt;
        alice.Now = () => expiresAt - 30_000; // 30 s left: inside the client's refresh margin

        // bounded: a refresh that waited on itself would hang here rather than fail
        Assert.Equal(alice.UserId, (await alice.MeAsync(Ct).WaitAsync(EventLog.Timeout, Ct)).Id);
        var fresh = Assert.Single(changed);
        Assert.Same(fresh, alice.Tokens);
        Assert.NotEqual(old.RefreshToken, fresh.RefreshToken);

        Assert.True(fresh.AccessTokenExpiresAt >= expiresAt);

        // with the real clock the new token has about ten minutes left: no second refresh
        alice.Now = () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.Equal(alice.UserId, (await alice.MeAsync(Ct)).Id);
        Assert.Single(changed);
        Assert.Same(fresh, alice.Tokens);

        // the old refresh token is spent
        var stale = NewClient();
        stale.UseSession(alice.UserId!, alice.DeviceId!, old);
        Assert.Equal("token_reused", (await Assert.ThrowsAsync<ParleyApiException>(() => stale.RefreshAsync(Ct))).Code);
    }

    // ---- friends, conversations and messages over HTTP ----

    [Fact]
    public async Task Friends_and_a_direct_conversation_with_history_both_ways()
    {
        var alice = await RegisterAsync();
        var bob = await RegisterAsync();

        var notFriends = await Assert.ThrowsAsync<ParleyApiException>(() => alice.DirectConversationAsync(bob.UserId!, Ct));
        Assert.Equal("not_friends", notFriends.Code);
        Assert.Equal(HttpStatusCode.Forbidden, notFriends.Status);

        var request = await alice.SendFriendRequestAsync(bob.UserId!, "hello there", Ct);
        Assert.Equal("pending", request.Status);
        Assert.Equal(alice.UserId, request.From.Id);
        Assert.Equal(bob.UserId, request.To.Id);
        Assert.Equal("hello there", request.Message);

        var incoming = await bob.FriendRequestsAsync("incoming", cancellationToken: Ct);
        var seen = Assert.Single(incoming.Items);
        Assert.Equal(request.Id, seen.Id);
        Assert.Equal(alice.UserId, seen.From.Id);
        Assert.Null(incoming.NextCursor);
        Assert.Equal(request.Id, Assert.Single((await alice.FriendRequestsAsync("outgoing", cancellationToken: Ct)).Items).Id);
        Assert.Empty((await alice.FriendRequestsAsync("incoming", cancellationToken: Ct)).Items);

        var accepted = await bob.AcceptFriendRequestAsync(request.Id, Ct);
        Assert.Equal("accepted", accepted.Status);
        Assert.Empty((await bob.FriendRequestsAsync("incoming", cancellationToken: Ct)).Items);
        Assert.Equal(bob.UserId, Assert.Single((await alice.FriendsAsync(cancellationToken: Ct)).Items).User.Id);
        Assert.Equal(alice.UserId, Assert.Single((await bob.FriendsAsync(cancellationToken: Ct)).Items).User.Id);

        var conversation = await alice.DirectConversationAsync(bob.UserId!, Ct);
        Assert.Equal("direct", conversation.Type);
        Assert.Equal(bob.UserId, conversation.Peer?.Id);
        Assert.Null(conversation.Group);
        Assert.Equal(0, conversation.MaxSeq);
        Assert.Null(conversation.LastMessage);
        Assert.Equal(conversation.Id, (await bob.DirectConversationAsync(alice.UserId!, Ct)).Id);

        var sent = new List<Message>();
        for (var i = 1; i <= 5; i++)
        {
            sent.Add(await alice.SendTextAsync(conversation.Id, "m" + i, "cm-" + i, Ct));
        }

        Assert.Equal([1L, 2, 3, 4, 5], sent.Select(m => m.Seq));
        Assert.All(sent, m => Assert.Equal(alice.UserId, m.SenderId));
        Assert.All(sent, m => Assert.Equal(conversation.Id, m.ConversationId));
        Assert.Equal("cm-3", sent[2].ClientMsgId);

        // a retry with the same clientMsgId returns the original, not a sixth message
        var retry = await alice.SendTextAsync(conversation.Id, "m3 again", "cm-3", Ct);
        Assert.Equal(3, retry.Seq);
        Assert.Equal("m3", Text(retry));

        var forBob = await bob.ConversationAsync(conversation.Id, Ct);
        Assert.Equal(5, forBob.MaxSeq);
        Assert.Equal(5, forBob.UnreadCount);
        Assert.Equal(5, forBob.LastMessage?.Seq);
        Assert.Equal(alice.UserId, forBob.Peer?.Id);

        // after=: ascending pages from the start
        var after0 = await bob.MessagesAfterAsync(conversation.Id, 0, 2, Ct);
        Assert.Equal([1L, 2], after0.Items.Select(m => m.Seq));
        Assert.True(after0.HasMore);
        Assert.Equal(5, after0.MaxSeq);
        var after2 = await bob.MessagesAfterAsync(conversation.Id, 2, 2, Ct);
        Assert.Equal(["m3", "m4"], after2.Items.Select(Text));
        Assert.True(after2.HasMore);
        var after4 = await bob.MessagesAfterAsync(conversation.Id, 4, 2, Ct);
        Assert.Equal([5L], after4.Items.Select(m => m.Seq));
        Assert.False(after4.HasMore);
        Assert.Empty((await bob.MessagesAfterAsync(conversation.Id, 5, cancellationToken: Ct)).Items);

        // before=: the N before a seq, ascending, scrolling back
        var before6 = await bob.MessagesBeforeAsync(conversation.Id, 6, 2, Ct);
        Assert.Equal([4L, 5], before6.Items.Select(m => m.Seq));
        Assert.True(before6.HasMore);
        var before4 = await bob.MessagesBeforeAsync(conversation.Id, 4, 2, Ct);
        Assert.Equal(["m2", "m3"], before4.Items.Select(Text));
        Assert.True(before4.HasMore);
        var before2 = await bob.MessagesBeforeAsync(conversation.Id, 2, 2, Ct);
        Assert.Equal([1L], before2.Items.Select(m => m.Seq));
        Assert.False(before2.HasMore);

        await bob.MarkReadAsync(conversation.Id, 5, Ct);
        var read = await bob.ConversationAsync(conversation.Id, Ct);
        Assert.Equal(5, read.ReadSeq);
        Assert.Equal(0, read.UnreadCount);
        Assert.Equal([bob.UserId!], (await alice.ReceiptsAsync(conversation.Id, 5, Ct)).ReadBy);
    }

    // ---- the WebSocket ----

    [Fact]
    public async Task A_socket_send_returns_the_stored_message_and_the_peer_gets_the_same_one_pushed()
    {
        var (alice, bob, conversationId) = await FriendsWithConversationAsync();
        var alicePhone = await OtherDeviceAsync(alice, "phone");
        var aliceLog = new EventLog();
        var phoneLog = new EventLog();
        var bobLog = new EventLog();
        var aliceSocket = await ConnectAsync(alice, aliceLog);
        await ConnectAsync(alicePhone, phoneLog);
        await ConnectAsync(bob, bobLog);
        Assert.Equal(alice.UserId, aliceSocket.Hello.UserId);
        Assert.Equal(alice.DeviceId, aliceSocket.Hello.DeviceId);
        Assert.True(aliceSocket.Hello.HeartbeatMs > 0);
        Assert.True(aliceSocket.IsOpen);

        var sent = await aliceSocket.SendTextAsync(conversationId, "hi bob", "ws-1", Ct);
        Assert.Equal(1, sent.Seq);
        Assert.Equal("ws-1", sent.ClientMsgId);
        Assert.Equal(alice.UserId, sent.SenderId);
        Assert.Equal("text", sent.Type);
        Assert.Equal("hi bob", Text(sent));

        foreach (var log in new[] { bobLog, phoneLog }) // the peer and the sender's other device
        {
            var pushed = await log.MessageAsync(conversationId, 1);
            Assert.Equal("hi bob", Text(pushed));
            Assert.Equal("ws-1", pushed.ClientMsgId);
            Assert.Equal(alice.UserId, pushed.SenderId);
            Assert.Equal(sent.SentAt, pushed.SentAt);
        }

        // the retry gets the original back and makes no second message
        var retry = await aliceSocket.SendAsync(conversationId, "text", Content("""{"text":"hi bob (retry)"}"""), "ws-1", cancellationToken: Ct);
        Assert.Equal(1, retry.Seq);
        Assert.Equal("hi bob", Text(retry));
        var next = await aliceSocket.SendTextAsync(conversationId, "second", cancellationToken: Ct);
        Assert.Equal(2, next.Seq);
        Assert.Equal("second", Text(await bobLog.MessageAsync(conversationId, 2)));
        Assert.Equal([1L, 2], bobLog.PushedSeqs(conversationId)); // pushes come in seq order: nothing else came between

        // the sending connection gets "sent", not a push of its own messages; an HTTP send by the peer is pushed to it
        var fromBob = await bob.SendTextAsync(conversationId, "hello alice", cancellationToken: Ct);
        Assert.Equal("hello alice", Text(await aliceLog.MessageAsync(conversationId, fromBob.Seq)));
        Assert.Equal([3L], aliceLog.PushedSeqs(conversationId));
        Assert.Equal([1L, 2, 3], (await bob.MessagesAfterAsync(conversationId, 0, cancellationToken: Ct)).Items.Select(m => m.Seq));
    }

    [Fact]
    public async Task Error_answers_throw_with_the_contract_code_and_the_socket_stays_usable()
    {
        var (alice, bob, conversationId) = await FriendsWithConversationAsync();
        var bobLog = new EventLog();
        await ConnectAsync(bob, bobLog);
        var socket = await ConnectAsync(alice, new EventLog());

        var missing = await Assert.ThrowsAsync<ParleyApiException>(() => socket.SendTextAsync("999999999999", "anyone?", cancellationToken: Ct));
        Assert.Equal("not_found", missing.Code);
        Assert.Equal(0, (int)missing.Status); // a frame, not an HTTP answer

        var empty = await Assert.ThrowsAsync<ParleyApiException>(() => socket.SendAsync(conversationId, "text", Content("{}"), cancellationToken: Ct));
        Assert.Equal("invalid", empty.Code);
        Assert.Equal("invalid", (await Assert.ThrowsAsync<ParleyApiException>(() => socket.SendTextAsync(conversationId, "", cancellationToken: Ct))).Code);
        Assert.Equal("invalid", (await Assert.ThrowsAsync<ParleyApiException>(() => socket.SendAsync(conversationId, "sticker", Content("""{"id":1}"""), cancellationToken: Ct))).Code);

        var carol = await RegisterAsync();
        var dave = await RegisterAsync();
        await MakeFriendsAsync(carol, dave);
        var notMine = (await carol.DirectConversationAsync(dave.UserId!, Ct)).Id;
        Assert.Equal("forbidden", (await Assert.ThrowsAsync<ParleyApiException>(() => socket.SendTextAsync(notMine, "let me in", cancellationToken: Ct))).Code);
        Assert.Equal("forbidden", (await Assert.ThrowsAsync<ParleyApiException>(() => socket.SyncAsync(notMine, 0, cancellationToken: Ct))).Code);
        Assert.Equal("not_found", (await Assert.ThrowsAsync<ParleyApiException>(() => socket.SyncAsync("999999999999", 0, cancellationToken: Ct))).Code);

        // nothing was stored, and the socket still works
        Assert.True(socket.IsOpen);
        var ok = await socket.SendTextAsync(conversationId, "still here", cancellationToken: Ct);
        Assert.Equal(1, ok.Seq);
        Assert.Equal("still here", Text(await bobLog.MessageAsync(conversationId, 1)));
        var page = await socket.SyncAsync(conversationId, 0, cancellationToken: Ct);
        Assert.Equal([1L], page.Items.Select(m => m.Seq));
        Assert.Equal(0, (await carol.ConversationAsync(notMine, Ct)).MaxSeq);
    }

    [Fact]
    public async Task Concurrent_requests_on_one_socket_each_get_their_own_answer()
    {
        var (alice, _, conversationId) = await FriendsWithConversationAsync();
        var socket = await ConnectAsync(alice, new EventLog());

        var sends = Enumerable.Range(1, 20)
            .Select(i => (Id: $"c-{i}", Text: $"message {i}", Task: socket.SendTextAsync(conversationId, $"message {i}", $"c-{i}", Ct)))
            .ToList();
        var syncs = Enumerable.Range(0, 5).Select(_ => socket.SyncAsync(conversationId, 0, cancellationToken: Ct)).ToList();
        var failure = socket.SendTextAsync("999999999999", "nowhere", cancellationToken: Ct);

        var seqs = new List<long>();
        foreach (var (id, text, task) in sends)
        {
            var message = await task;
            Assert.Equal(id, message.ClientMsgId);
            Assert.Equal(text, Text(message));
            seqs.Add(message.Seq);
        }

        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), seqs.Order());
        foreach (var sync in syncs)
        {
            var page = await sync;
            Assert.All(page.Items, m => Assert.Equal(conversationId, m.ConversationId));
        }

        Assert.Equal("not_found", (await Assert.ThrowsAsync<ParleyApiException>(() => failure)).Code);
        Assert.Equal(20, (await socket.SyncAsync(conversationId, 0, cancellationToken: Ct)).Items.Count);
    }

    [Fact]
    public async Task Sync_pages_with_has_more()
    {
        var (alice, bob, conversationId) = await FriendsWithConversationAsync();
        for (var i = 1; i <= 5; i++)
        {
            await alice.SendTextAsync(conversationId, "m" + i, cancellationToken: Ct);
        }

        var socket = await ConnectAsync(bob, new EventLog());
        var first = await socket.SyncAsync(conversationId, 0, 2, Ct);
        Assert.Equal([1L, 2], first.Items.Select(m => m.Seq));
        Assert.True(first.HasMore);
        Assert.Equal(5, first.MaxSeq);
        var second = await socket.SyncAsync(conversationId, first.Items[^1].Seq, 2, Ct);
        Assert.Equal(["m3", "m4"], second.Items.Select(Text));
        Assert.True(second.HasMore);
        var last = await socket.SyncAsync(conversationId, second.Items[^1].Seq, 2, Ct);
        Assert.Equal([5L], last.Items.Select(m => m.Seq));
        Assert.False(last.HasMore);
        Assert.Equal(5, last.MaxSeq);
        var none = await socket.SyncAsync(conversationId, 5, 2, Ct);
        Assert.Empty(none.Items);
        Assert.False(none.HasMore);
    }

    [Fact]
    public async Task Typing_and_read_reach_the_peer_and_the_readers_other_devices()
    {
        var (alice, bob, conversationId) = await FriendsWithConversationAsync();
        var bobTablet = await OtherDeviceAsync(bob, "tablet");
        var aliceLog = new EventLog();
        var bobLog = new EventLog();
        var tabletLog = new EventLog();
        var aliceSocket = await ConnectAsync(alice, aliceLog);
        var bobSocket = await ConnectAsync(bob, bobLog);
        await ConnectAsync(bobTablet, tabletLog);

        var sent = await aliceSocket.SendTextAsync(conversationId, "read me", cancellationToken: Ct);
        await bobLog.MessageAsync(conversationId, sent.Seq);

        await bobSocket.ReadAsync(conversationId, sent.Seq, Ct);
        var read = await aliceLog.WaitAsync<ReadEvent>(r => r.ConversationId == conversationId);
        Assert.Equal(bob.UserId, read.UserId);
        Assert.Equal(sent.Seq, read.Seq);
        var onTablet = await tabletLog.WaitAsync<ReadEvent>(r => r.ConversationId == conversationId);
        Assert.Equal(bob.UserId, onTablet.UserId);
        Assert.Equal(sent.Seq, onTablet.Seq);
        var forBob = await bob.ConversationAsync(conversationId, Ct);
        Assert.Equal(sent.Seq, forBob.ReadSeq);
        Assert.Equal(0, forBob.UnreadCount);
        Assert.Contains(bob.UserId!, (await alice.ReceiptsAsync(conversationId, sent.Seq, Ct)).ReadBy);

        await aliceSocket.TypingAsync(conversationId, Ct);
        var typing = await bobLog.WaitAsync<TypingEvent>(t => t.ConversationId == conversationId);
        Assert.Equal(alice.UserId, typing.UserId);
        Assert.Equal(alice.UserId, (await tabletLog.WaitAsync<TypingEvent>(t => t.ConversationId == conversationId)).UserId);

        // ack is per device and stored in frame order: a sync answered after it sees it
        await bobSocket.AckAsync(conversationId, sent.Seq, Ct);
        await bobSocket.SyncAsync(conversationId, sent.Seq, cancellationToken: Ct);
        Assert.Equal(sent.Seq, (await bob.ConversationAsync(conversationId, Ct)).AckSeq);
        Assert.Equal(0, (await bobTablet.ConversationAsync(conversationId, Ct)).AckSeq);
    }

    [Fact]
    public async Task Logging_out_closes_the_socket_with_4001_and_requests_fail_instead_of_hanging()
    {
        var (alice, _, conversationId) = await FriendsWithConversationAsync();
        var alicePhone = await OtherDeviceAsync(alice, "phone");
        var log = new EventLog();
        var socket = await ConnectAsync(alice, log);
        var phoneSocket = await ConnectAsync(alicePhone, new EventLog());
        var accessToken = alice.Tokens!.AccessToken;
        var (userId, deviceId, tokens) = (alice.UserId!, alice.DeviceId!, alice.Tokens!);

        await alice.LogoutAsync(Ct);
        Assert.Null(alice.Tokens);
        // Sent after the server closed the session's sockets: it is never answered, so it must fail (not hang),
        // either while waiting or at once if the close was already seen.
        var lateSync = socket.SyncAsync(conversationId, 0, cancellationToken: Ct);

        var closed = await log.WaitAsync<ClosedEvent>();
        Assert.Equal(4001, closed.CloseStatus);
        Assert.Equal(4001, (await socket.Closed.WaitAsync(EventLog.Timeout, Ct)).CloseStatus);
        Assert.False(socket.IsOpen);
        await Assert.ThrowsAsync<WebSocketException>(() => lateSync.WaitAsync(EventLog.Timeout, Ct));
        await Assert.ThrowsAsync<WebSocketException>(() => socket.SendTextAsync(conversationId, "too late", cancellationToken: Ct).WaitAsync(EventLog.Timeout, Ct));
        Assert.Single(log.All<ClosedEvent>());

        // the other device's session lives on
        Assert.True(phoneSocket.IsOpen);
        var sent = await phoneSocket.SendTextAsync(conversationId, "from the phone", cancellationToken: Ct);
        Assert.Equal(1, sent.Seq);

        // the revoked session's tokens are refused, over HTTP and on the WebSocket upgrade
        var stale = NewClient();
        stale.UseSession(userId, deviceId, tokens);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Assert.ThrowsAsync<ParleyApiException>(() => stale.MeAsync(Ct))).Status);
        var refused = await Assert.ThrowsAsync<ParleyApiException>(() => ParleySocket.ConnectAsync(Server.BaseUri, accessToken, cancellationToken: Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
        Assert.Equal("unauthorized", refused.Code);
    }

    [Fact]
    public async Task A_request_waiting_when_the_server_closes_the_socket_fails_with_the_close()
    {
        var (alice, _, conversationId) = await FriendsWithConversationAsync();
        var log = new EventLog();
        var socket = await ConnectAsync(alice, log);

        // A frame over 128 KiB is never answered: the server closes with 1009 instead.
        var huge = Content("{\"blob\":\"" + new string('x', 130 * 1024) + "\"}");
        var pending = socket.SendAsync(conversationId, "custom", huge, cancellationToken: Ct);
        await Assert.ThrowsAsync<WebSocketException>(() => pending.WaitAsync(EventLog.Timeout, Ct));
        Assert.Equal((int)WebSocketCloseStatus.MessageTooBig, (await log.WaitAsync<ClosedEvent>()).CloseStatus);
        Assert.False(socket.IsOpen);
        Assert.Equal(0, (await alice.ConversationAsync(conversationId, Ct)).MaxSeq);

        // a new socket works
        var again = await ConnectAsync(alice, new EventLog());
        Assert.Equal(1, (await again.SendTextAsync(conversationId, "smaller", cancellationToken: Ct)).Seq);
    }

    [Fact]
    public async Task Closing_the_socket_ends_it_cleanly()
    {
        var (alice, _, conversationId) = await FriendsWithConversationAsync();
        var log = new EventLog();
        var socket = await ConnectAsync(alice, log);
        await socket.CloseAsync(Ct);
        var closed = await log.WaitAsync<ClosedEvent>();
        Assert.Equal((int)WebSocketCloseStatus.NormalClosure, closed.CloseStatus);
        Assert.Null(closed.Error);
        Assert.False(socket.IsOpen);
        await Assert.ThrowsAsync<WebSocketException>(() => socket.SyncAsync(conversationId, 0, cancellationToken: Ct).WaitAsync(EventLog.Timeout, Ct));
    }

    // ---- MessageTracker ----

    [Fact]
    public async Task The_tracker_accepts_a_message_once_whether_it_came_by_push_or_by_catch_up()
    {
        var (alice, bob, conversationId) = await FriendsWithConversationAsync();
        var tracker = new MessageTracker();
        var bobLog = new EventLog();
        await ConnectAsync(bob, bobLog);

        for (var i = 1; i <= 3; i++)
        {
            await alice.SendTextAsync(conversationId, "m" + i, cancellationToken: Ct);
        }

        // catch-up first: it holds all three
        var caughtUp = await tracker.CatchUpAsync(bob, Ct);
        Assert.Equal([1L, 2, 3], caughtUp.Select(m => m.Seq));
        Assert.Equal(["m1", "m2", "m3"], caughtUp.Select(Text));
        Assert.Equal(3, tracker.Held(conversationId));

        // then the pushes of the same messages: duplicates
        for (var seq = 1; seq <= 3; seq++)
        {
            Assert.False(tracker.Accept(await bobLog.MessageAsync(conversationId, seq)));
        }

        // push first this time: then catch-up brings nothing new
        var fourth = await alice.SendTextAsync(conversationId, "m4", cancellationToken: Ct);
        Assert.True(tracker.Accept(await bobLog.MessageAsync(conversationId, fourth.Seq)));
        Assert.False(tracker.Accept(fourth));
        Assert.Empty(await tracker.CatchUpAsync(bob, Ct));
        Assert.Equal(4, tracker.Held(conversationId));
        Assert.False(tracker.HasGap(conversationId));

        // a device that resumes from a stored position fetches only what follows it
        var resumed = new MessageTracker();
        resumed.Resume(conversationId, 2);
        Assert.Equal([3L, 4], (await resumed.CatchUpAsync(bob, Ct)).Select(m => m.Seq));
    }

    [Fact]
    public async Task A_device_that_was_offline_catches_up_every_message_exactly_once_in_order()
    {
        var (alice, bob, withAlice) = await FriendsWithConversationAsync();
        var carol = await RegisterAsync();
        await MakeFriendsAsync(carol, bob);
        var withCarol = (await carol.DirectConversationAsync(bob.UserId!, Ct)).Id;

        var laptop = await OtherDeviceAsync(bob, "laptop");
        var tracker = new MessageTracker();
        var texts = new Dictionary<(string, long), string>();
        for (var i = 1; i <= 2; i++)
        {
            var m = await alice.SendTextAsync(withAlice, "before " + i, cancellationToken: Ct);
            texts[(withAlice, m.Seq)] = Text(m)!;
        }

        Assert.Equal([1L, 2], (await tracker.CatchUpAsync(laptop, Ct)).Select(m => m.Seq));

        // the laptop is offline (no socket) while more than a page of messages is sent, in two conversations
        const int Offline = 205;
        for (var i = 1; i <= Offline; i++)
        {
            var m = await alice.SendTextAsync(withAlice, "offline " + i, cancellationToken: Ct);
            texts[(withAlice, m.Seq)] = Text(m)!;
        }

        for (var i = 1; i <= 3; i++)
        {
            var m = await carol.SendTextAsync(withCarol, "carol " + i, cancellationToken: Ct);
            texts[(withCarol, m.Seq)] = Text(m)!;
        }

        // back online: pushes go to the tracker while the catch-up runs and more messages arrive
        var pushedFresh = new List<Message>();
        var log = new EventLog();
        await ConnectAsync(laptop, e =>
        {
            if (e is MessageEvent pushed && tracker.Accept(pushed.Message))
            {
                lock (pushedFresh)
                {
                    pushedFresh.Add(pushed.Message);
                }
            }

            log.Add(e);
        });
        var live = Task.Run(
            async () =>
            {
                var sent = new List<Message>();
                for (var i = 1; i <= 5; i++)
                {
                    sent.Add(await alice.SendTextAsync(withAlice, "live " + i, cancellationToken: Ct));
                }

                return sent;
            },
            Ct);
        var caughtUp = await tracker.CatchUpAsync(laptop, Ct);
        foreach (var m in await live)
        {
            texts[(withAlice, m.Seq)] = Text(m)!;
        }

        var lastSeq = 2 + Offline + 5;
        await log.MessageAsync(withAlice, lastSeq); // the last push has come, so every earlier one has too

        // every message after what the laptop held, each once, by push or by catch-up, with its content
        List<Message> fresh;
        lock (pushedFresh)
        {
            fresh = [.. caughtUp, .. pushedFresh];
        }

        var keys = fresh.Select(m => (m.ConversationId, m.Seq)).ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Equal(Enumerable.Range(3, lastSeq - 2).Select(s => (long)s), fresh.Where(m => m.ConversationId == withAlice).Select(m => m.Seq).Order());
        Assert.Equal([1L, 2, 3], fresh.Where(m => m.ConversationId == withCarol).Select(m => m.Seq).Order());
        Assert.All(fresh, m => Assert.Equal(texts[(m.ConversationId, m.Seq)], Text(m)));

        // catch-up returns each conversation's messages in seq order
        foreach (var conversation in new[] { withAlice, withCarol })
        {
            var seqs = caughtUp.Where(m => m.ConversationId == conversation).Select(m => m.Seq).ToList();
            Assert.Equal(seqs.Order(), seqs);
        }

        Assert.True(caughtUp.Count(m => m.ConversationId == withAlice) >= Offline); // more than a page: hasMore was followed
        Assert.Equal(lastSeq, tracker.Held(withAlice));
        Assert.Equal(3, tracker.Held(withCarol));
        Assert.False(tracker.HasGap(withAlice));
        Assert.Empty(await tracker.CatchUpAsync(laptop, Ct));
    }

    [Fact]
    public async Task A_push_that_skips_a_seq_is_a_gap_until_filled()
    {
        var (alice, bob, conversationId) = await FriendsWithConversationAsync();
        for (var i = 1; i <= 3; i++)
        {
            await alice.SendTextAsync(conversationId, "m" + i, cancellationToken: Ct);
        }

        // over HTTP, one message per page
        var tracker = new MessageTracker();
        Assert.True(tracker.Accept(conversationId, 1));
        Assert.False(tracker.HasGap(conversationId));
        Assert.True(tracker.Accept(conversationId, 3));
        Assert.True(tracker.HasGap(conversationId));
        Assert.Equal(1, tracker.Held(conversationId));
        Assert.False(tracker.Accept(conversationId, 3));

        var asked = new List<long>();
        var filled = await tracker.FillGapAsync(
            conversationId,
            (id, after, ct) =>
            {
                asked.Add(after);
                return bob.MessagesAfterAsync(id, after, 1, ct);
            },
            Ct);
        Assert.Equal([2L], filled.Select(m => m.Seq));
        Assert.Equal("m2", Text(filled[0]));
        Assert.Equal(1, asked[0]);
        Assert.False(tracker.HasGap(conversationId));
        Assert.Equal(3, tracker.Held(conversationId));
        Assert.False(tracker.Accept(conversationId, 2));

        // over the socket's sync frames
        var socket = await ConnectAsync(bob, new EventLog());
        var viaSync = new MessageTracker();
        viaSync.Accept(conversationId, 1);
        viaSync.Accept(conversationId, 3);
        var synced = await viaSync.FillGapAsync(conversationId, (id, after, ct) => socket.SyncAsync(id, after, 200, ct), Ct);
        Assert.Equal([2L], synced.Select(m => m.Seq));
        Assert.False(viaSync.HasGap(conversationId));
        Assert.Equal(3, viaSync.Held(conversationId));
    }

    // ---- files ----

    [Fact]
    public async Task Upload_and_download_return_the_same_bytes()
    {
        var (alice, bob, conversationId) = await FriendsWithConversationAsync();
        var bytes = Encoding.UTF8.GetBytes("hello from the client " + Guid.NewGuid().ToString("N") + "\n");

        UploadedFile file;
        using (var upload = new MemoryStream(bytes))
        {
            file = await alice.UploadAsync(upload, "note.txt", Ct);
        }

        Assert.Equal("note.txt", file.Name);
        Assert.Equal(bytes.Length, file.Size);
        Assert.StartsWith("text/plain", file.ContentType, StringComparison.Ordinal);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), file.Sha256);
        Assert.False(file.HasThumbnail);

        Assert.Equal(bytes, await DownloadAsync(alice, file.Id));

        // nobody else may read it until a message shares it
        var hidden = await Assert.ThrowsAsync<ParleyApiException>(() => DownloadAsync(bob, file.Id));
        Assert.Equal(HttpStatusCode.NotFound, hidden.Status);
        Assert.Equal("not_found", hidden.Code);
        using (var content = JsonDocument.Parse($$"""{"fileId":"{{file.Id}}","name":"note.txt","size":{{bytes.Length}}}"""))
        {
            var message = await alice.SendMessageAsync(conversationId, "file", content.RootElement, cancellationToken: Ct);
            Assert.Equal(file.Id, message.Content?.GetProperty("fileId").GetString());
        }

        Assert.Equal(bytes, await DownloadAsync(bob, file.Id));
        Assert.Equal("not_found", (await Assert.ThrowsAsync<ParleyApiException>(() => DownloadAsync(bob, "999999999999"))).Code);
    }

    // ---- helpers ----

    private static string? Text(Message message) =>
        message.Content is { ValueKind: JsonValueKind.Object } content && content.TryGetProperty("text", out var text) ? text.GetString() : null;

    private static JsonElement Content(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static async Task<byte[]> DownloadAsync(ParleyClient client, string fileId)
    {
        await using var stream = await client.DownloadAsync(fileId, cancellationToken: Ct);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Ct);
        return copy.ToArray();
    }

    private ParleyClient NewClient()
    {
        var client = new ParleyClient(Server.BaseUri);
        _clients.Add(client);
        return client;
    }

    private async Task<ParleyClient> RegisterAsync()
    {
        var client = NewClient();
        await client.RegisterAsync(Api.NewUsername("cl"), Password, cancellationToken: Ct);
        return client;
    }

    /// <summary>The same user signed in on another device (a second device session).</summary>
    private async Task<ParleyClient> OtherDeviceAsync(ParleyClient client, string device)
    {
        var me = await client.MeAsync(Ct);
        var other = NewClient();
        await other.LoginAsync(me.Username, Password, device, Ct);
        Assert.NotEqual(client.DeviceId, other.DeviceId);
        return other;
    }

    private static async Task MakeFriendsAsync(ParleyClient from, ParleyClient to)
    {
        var request = await from.SendFriendRequestAsync(to.UserId!, cancellationToken: Ct);
        await to.AcceptFriendRequestAsync(request.Id, Ct);
    }

    private async Task<(ParleyClient A, ParleyClient B, string ConversationId)> FriendsWithConversationAsync()
    {
        var a = await RegisterAsync();
        var b = await RegisterAsync();
        await MakeFriendsAsync(a, b);
        return (a, b, (await a.DirectConversationAsync(b.UserId!, Ct)).Id);
    }

    private Task<ParleySocket> ConnectAsync(ParleyClient client, EventLog log) => ConnectAsync(client, log.Add);

    private async Task<ParleySocket> ConnectAsync(ParleyClient client, Action<ServerEvent> onEvent)
    {
        var socket = await client.ConnectAsync(new ParleySocketOptions { OnEvent = onEvent }, Ct);
        _sockets.Add(socket);
        return socket;
    }
}
