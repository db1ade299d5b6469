using System.Text.Json;
using Parley.Client;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Client;

/// <summary>Typed message content: each contract type read from JSON, written back, and missing fields refused.</summary>
public sealed class MessageContentTests
{
    private static JsonElement Json(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static Message Of(string type, string? content) =>
        new("1", 1, "c", "2", type, content is null ? null : Json(content), null, [], 0, content is null);

    [Fact]
    public void Every_contract_type_reads_as_its_record()
    {
        Assert.Equal(new TextContent("hi"), Of("text", """{"text":"hi"}""").GetContent());
        Assert.Equal("hi", Of("text", """{"text":"hi"}""").AsText());
        Assert.True(Of("image", """{"fileId":"9","width":40,"height":30}""").TryGetImage(out var image));
        Assert.Equal(new ImageContent("9", 40, 30), image);
        Assert.Equal(new ImageContent("9"), Of("image", """{"fileId":"9"}""").GetContent());
        Assert.Equal(new FileContent("9", "a.pdf", 1234), Of("file", """{"fileId":"9","name":"a.pdf","size":1234}""").GetContent());
        Assert.Equal(new AudioContent("9", 5000), Of("audio", """{"fileId":"9","durationMs":5000}""").GetContent());
        Assert.Equal(new VideoContent("9", 7000, 640, 480), Of("video", """{"fileId":"9","durationMs":7000,"width":640,"height":480}""").GetContent());
        Assert.Equal(new LocationContent(52.5, 13.4, "Berlin"), Of("location", """{"latitude":52.5,"longitude":13.4,"title":"Berlin"}""").GetContent());
        Assert.Equal(new LinkContent("https://example.com/", "Example", null, "7"), Of("link", """{"url":"https://example.com/","title":"Example","imageFileId":"7"}""").GetContent());
        Assert.Equal(new CallContent("c1", "video", "completed", 61000), Of("call", """{"callId":"c1","media":"video","outcome":"completed","durationMs":61000}""").GetContent());
        Assert.True(Of("custom", """{"kind":"order","id":42}""").TryGetCustom(out var custom));
        Assert.Equal(42, custom.Data.GetProperty("id").GetInt32());
        var unknown = Assert.IsType<UnknownContent>(Of("sticker", """{"pack":"x"}""").GetContent());
        Assert.Equal("sticker", unknown.Type);
    }

    [Fact]
    public void Recalled_other_types_and_missing_required_fields_give_nothing()
    {
        Assert.Null(Of("text", null).GetContent());
        Assert.Null(Of("text", null).AsText());
        Assert.False(Of("image", """{"fileId":"9"}""").TryGetText(out _));
        Assert.Null(Of("image", """{"fileId":"9"}""").AsText());
        Assert.Null(Of("image", """{"width":3}""").GetContent());
        Assert.Null(Of("text", """{"text":null}""").GetContent());
        Assert.Null(Of("file", """{"fileId":"9","name":"a.pdf"}""").GetContent());
        Assert.Null(Of("location", """{"latitude":"north","longitude":1}""").GetContent());
    }

    [Fact]
    public void Writing_leaves_out_what_is_not_set()
    {
        Assert.Equal("""{"fileId":"9"}""", new ImageContent("9").ToJson().GetRawText());
        Assert.Equal("""{"url":"https://example.com/","title":"t"}""", new LinkContent("https://example.com/", "t").ToJson().GetRawText());
        Assert.Equal("""{"latitude":1.5,"longitude":-2}""", new LocationContent(1.5, -2).ToJson().GetRawText());
        Assert.Equal("text", new TextContent("x").Type);
    }
}

public sealed class ClientContentTestsSqlite(SqliteFixture fixture) : ClientContentTests(fixture), IClassFixture<SqliteFixture>;

public sealed class ClientContentTestsPostgres(PostgresFixture fixture) : ClientContentTests(fixture), IClassFixture<PostgresFixture>;

/// <summary>Typed content, <c>peerReadSeq</c> and <c>user.updated</c> through Parley.Client against a real server.</summary>
public abstract class ClientContentTests(ServerFixture fixture) : BackendTests(fixture)
{
    private const string Password = "correct horse battery";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<ParleyClient> RegisterAsync(string prefix)
    {
        var client = new ParleyClient(Server.BaseUri);
        await client.RegisterAsync(Api.NewUsername(prefix), Password, cancellationToken: Ct);
        return client;
    }

    private static async Task BefriendAsync(ParleyClient a, ParleyClient b)
    {
        var request = await a.SendFriendRequestAsync(b.UserId!, cancellationToken: Ct);
        await b.AcceptFriendRequestAsync(request.Id, Ct);
    }

    [Fact]
    public async Task Typed_content_goes_out_and_comes_back_as_sent_over_http_and_the_socket()
    {
        using var alice = await RegisterAsync("ca");
        using var bob = await RegisterAsync("cb");
        await BefriendAsync(alice, bob);
        var chat = await alice.DirectConversationAsync(bob.UserId!, Ct);
        var upload = await alice.UploadAsync(new MemoryStream(TestImages.Png(40, 30)), "pic.png", Ct);

        MessageContent[] contents =
        [
            new TextContent("typed hello"),
            new ImageContent(upload.Id, 40, 30),
            new FileContent(upload.Id, "pic.png", upload.Size),
            new LocationContent(48.8566, 2.3522, "Paris"),
            new LinkContent("https://example.com/page", "A page"),
            new CustomContent(JsonDocument.Parse("""{"kind":"order","id":42}""").RootElement.Clone()),
        ];
        foreach (var content in contents)
        {
            var sent = await alice.SendMessageAsync(chat.Id, content, cancellationToken: Ct);
            Assert.Equal(content.Type, sent.Type);
            var back = (await bob.MessagesAfterAsync(chat.Id, sent.Seq - 1, 1, Ct)).Items.Single();
            var read = back.GetContent();
            if (content is CustomContent custom)
            {
                Assert.Equal(42, Assert.IsType<CustomContent>(read).Data.GetProperty("id").GetInt32());
                Assert.Equal(custom.Data.GetRawText(), ((CustomContent)read).Data.GetRawText());
            }
            else
            {
                Assert.Equal(content, read);
            }
        }

        await using var socket = await bob.ConnectAsync(cancellationToken: Ct);
        var overSocket = await socket.SendAsync(chat.Id, new LocationContent(1, 2), cancellationToken: Ct);
        Assert.True(overSocket.TryGetLocation(out var location));
        Assert.Equal(new LocationContent(1, 2), location);
    }

    [Fact]
    public async Task A_reload_knows_the_peers_read_marker_and_a_rename_arrives_as_UserUpdatedEvent()
    {
        using var alice = await RegisterAsync("ra");
        using var bob = await RegisterAsync("rb");
        await BefriendAsync(alice, bob);
        var chat = await alice.DirectConversationAsync(bob.UserId!, Ct);
        Assert.Equal(0, chat.PeerReadSeq);
        var first = await alice.SendTextAsync(chat.Id, "one", cancellationToken: Ct);
        var second = await alice.SendTextAsync(chat.Id, "two", cancellationToken: Ct);
        await bob.MarkReadAsync(chat.Id, first.Seq, Ct);

        var reloaded = (await alice.AllConversationsAsync(Ct)).Single(c => c.Id == chat.Id);
        Assert.Equal(first.Seq, reloaded.PeerReadSeq);
        Assert.True(reloaded.PeerHasRead(first.Seq));
        Assert.False(reloaded.PeerHasRead(second.Seq));
        Assert.False(reloaded.Muted);

        var group = await alice.CreateGroupAsync("readers", [bob.UserId!], cancellationToken: Ct);
        var groupConversation = await alice.ConversationAsync(group.ConversationId, Ct);
        Assert.Null(groupConversation.PeerReadSeq);
        Assert.Null(groupConversation.PeerHasRead(1));
        Assert.Equal(group.Id, groupConversation.Group!.Id);

        var events = new EventLog();
        await using var socket = await bob.ConnectAsync(new ParleySocketOptions { OnEvent = events.Add }, Ct);
        await alice.UpdateProfileAsync(nickname: "Alice Again", cancellationToken: Ct);
        var updated = await events.WaitAsync<UserUpdatedEvent>().WaitAsync(EventLog.Timeout, Ct);
        Assert.Equal(alice.UserId, updated.User.Id);
        Assert.Equal("Alice Again", updated.User.Nickname);
        Assert.Equal("user.updated", updated.Kind);
        Assert.Contains(events.All<NotifyEvent>(), n => n is UserUpdatedEvent); // still a NotifyEvent for handlers of every kind
    }
}
