using System.Net;
using Parley.Storage.Messaging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Cluster;

/// <summary>
/// The commit decides (cluster mode's answer to a node whose cached view is stale): on PostgreSQL every membership
/// change of a group and every friendship or block change of a pair moves the conversation's members version in its
/// own transaction, and the message writer stores a message checked against an older version not at all. Driven
/// deterministically through the store of one PostgreSQL server, standing in for a node that has not heard yet.
/// </summary>
public sealed class BusCommitCheckTests : IAsyncLifetime
{
    private TestStore? _store;
    private ParleyServer? _server;

    private ParleyServer Server => _server ?? throw new InvalidOperationException("no server");

    public async ValueTask InitializeAsync()
    {
        Assert.SkipUnless(TestStore.PostgresAdminConnectionString is not null, TestStore.SkipReason);
        _store = await TestStore.CreateAsync(Backend.Postgres);
        _server = await ParleyServer.StartAsync(_store);
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    private MessageStore Messages => Server.Service<MessageStore>();

    private async Task<long> VersionAsync(string conversationId) =>
        (await Messages.LoadViewAsync(SocialApi.Wire(conversationId), CancellationToken.None))!.MembersVersion;

    private static NewMessage Text(string conversationId, TestUser sender, long membersVersion) =>
        new(SocialApi.Wire(conversationId), sender.Wire(), Guid.NewGuid().ToString("N"), "text", """{"text":"x"}""", null, null, [], false, 1, [])
        {
            MembersVersion = membersVersion,
        };

    private async Task<AppendResult> AppendAsync(NewMessage message) => (await Messages.AppendAsync([message], CancellationToken.None))[0];

    [Fact]
    public async Task A_message_checked_before_a_member_was_removed_is_not_stored()
    {
        var owner = await Server.RegisterAsync();
        var member = await Server.RegisterAsync();
        var stays = await Server.RegisterAsync();
        var group = await Server.CreateGroupAsync(owner, null, member, stays);
        var conversation = (string)group["conversationId"]!;
        var before = await VersionAsync(conversation);

        await Server.Delete(owner, $"/api/groups/{group.Id()}/members/{member.Id}").Expect(HttpStatusCode.NoContent);
        var after = await VersionAsync(conversation);
        Assert.True(after > before);

        Assert.Null((await AppendAsync(Text(conversation, stays, before))).Message); // the stale node's send
        var stored = await AppendAsync(Text(conversation, stays, after)); // after reloading
        Assert.True(stored.Created);
        Assert.True((await AppendAsync(Text(conversation, stays, -1))).Created); // one node: not checked
    }

    [Fact]
    public async Task A_message_checked_before_a_block_is_not_stored_and_unblocking_moves_the_version_again()
    {
        var (x, y, conversation) = await Server.FriendsWithConversationAsync();
        var before = await VersionAsync(conversation);

        await Server.Put(y, $"/api/blocks/{x.Id}").Expect(HttpStatusCode.NoContent);
        var blocked = await VersionAsync(conversation);
        Assert.True(blocked > before);
        Assert.Null((await AppendAsync(Text(conversation, x, before))).Message);

        await Server.Delete(y, $"/api/blocks/{x.Id}").Expect(HttpStatusCode.NoContent);
        Assert.True(await VersionAsync(conversation) > blocked);
        await Server.Delete(x, $"/api/friends/{y.Id}").Expect(HttpStatusCode.NoContent);
        var unfriended = await VersionAsync(conversation);
        Assert.Null((await AppendAsync(Text(conversation, x, blocked))).Message);
        Assert.True((await AppendAsync(Text(conversation, x, unfriended))).Created);
    }

    [Fact]
    public async Task A_retry_of_a_stored_message_returns_the_original_whatever_the_version()
    {
        var (x, _, conversation) = await Server.FriendsWithConversationAsync();
        var version = await VersionAsync(conversation);
        var first = Text(conversation, x, version);
        var stored = await AppendAsync(first);
        Assert.True(stored.Created);

        var retry = await AppendAsync(first with { MembersVersion = version - 1 });
        Assert.False(retry.Created);
        Assert.Equal(stored.Message!.Seq, retry.Message!.Seq);
    }
}
