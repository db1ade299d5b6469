using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Parley.Client;

/// <summary>A user's public profile (<c>email</c> only on one's own).</summary>
public sealed record User(string Id, string Username, string Nickname, string Bio, string? AvatarFileId, IReadOnlyList<string> Tags, long CreatedAt, string? Email = null);

/// <summary>An access and refresh token pair with their expiry times (epoch ms).</summary>
public sealed record Tokens(string AccessToken, long AccessTokenExpiresAt, string RefreshToken, long RefreshTokenExpiresAt);

/// <summary>The answer to register and login.</summary>
public sealed record AuthResult(User User, Tokens Tokens, string DeviceId);

/// <summary>A page of a list: <c>{items, nextCursor}</c>.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);

/// <summary>A stored message. <see cref="Content"/> is the content object (null once recalled).</summary>
public sealed record Message(
    string ConversationId,
    long Seq,
    string ClientMsgId,
    string SenderId,
    string Type,
    JsonElement? Content,
    long? ReplyTo,
    IReadOnlyList<string> Mentions,
    long SentAt,
    bool Recalled)
{
    /// <summary>The content, typed by <see cref="Type"/> (pattern-match on it); null once recalled.</summary>
    public MessageContent? GetContent() => MessageContent.From(Type, Content);

    /// <summary>The text of a <c>text</c> message; null for any other type and once recalled.</summary>
    public string? AsText() => TryGetText(out var text) ? text.Text : null;

    public bool TryGetText([NotNullWhen(true)] out TextContent? content) => TryGet(out content);

    public bool TryGetImage([NotNullWhen(true)] out ImageContent? content) => TryGet(out content);

    public bool TryGetFile([NotNullWhen(true)] out FileContent? content) => TryGet(out content);

    public bool TryGetAudio([NotNullWhen(true)] out AudioContent? content) => TryGet(out content);

    public bool TryGetVideo([NotNullWhen(true)] out VideoContent? content) => TryGet(out content);

    public bool TryGetLocation([NotNullWhen(true)] out LocationContent? content) => TryGet(out content);

    public bool TryGetLink([NotNullWhen(true)] out LinkContent? content) => TryGet(out content);

    public bool TryGetCustom([NotNullWhen(true)] out CustomContent? content) => TryGet(out content);

    public bool TryGetCall([NotNullWhen(true)] out CallContent? content) => TryGet(out content);

    private bool TryGet<T>([NotNullWhen(true)] out T? content)
        where T : MessageContent
    {
        content = GetContent() as T;
        return content is not null;
    }
}

/// <summary>A page of history: ascending, <c>hasMore</c> when more follow in the asked direction.</summary>
public sealed record MessagePage(IReadOnlyList<Message> Items, bool HasMore, long MaxSeq);

/// <summary>A group's id, name and avatar as a conversation carries it.</summary>
public sealed record GroupRef(string Id, string Name, string? AvatarFileId = null);

/// <summary>A conversation as the caller sees it.</summary>
public sealed record Conversation(
    string Id,
    string Type,
    User? Peer,
    GroupRef? Group,
    long MaxSeq,
    long ReadSeq,
    long AckSeq,
    long UnreadCount,
    bool Mentioned,
    Message? LastMessage,
    bool Muted = false,
    long? PeerReadSeq = null)
{
    /// <summary>
    /// Whether the peer has read my message <paramref name="seq"/> of this direct conversation, as of when it was
    /// loaded (later <see cref="ReadEvent"/>s move it on); null for a group (ask for its receipts).
    /// </summary>
    public bool? PeerHasRead(long seq) => PeerReadSeq is { } read ? seq <= read : null;
}

/// <summary>A friend request.</summary>
public sealed record FriendRequest(string Id, User From, User To, string? Message, string Status, long CreatedAt);

/// <summary>A friend with one's remark.</summary>
public sealed record Friend(User User, string? Remark, long Since, bool Online);

/// <summary>A group.</summary>
public sealed record Group(
    string Id,
    string ConversationId,
    string Name,
    string Description,
    IReadOnlyList<string> Tags,
    string Announcement,
    string OwnerId,
    string JoinPolicy,
    string Visibility,
    bool MembersCanInvite,
    int MemberCount,
    bool Temporary,
    long? ExpiresAt,
    long CreatedAt,
    string? AvatarFileId = null);

/// <summary>An uploaded file's record.</summary>
public sealed record UploadedFile(string Id, string Name, long Size, string ContentType, string Sha256, int? Width, int? Height, bool HasThumbnail);

/// <summary>Who has and has not read a message.</summary>
public sealed record Receipts(IReadOnlyList<string> ReadBy, IReadOnlyList<string> UnreadBy);

/// <summary>The server's first frame on a WebSocket.</summary>
public sealed record Hello(string UserId, string DeviceId, long ServerTime, int HeartbeatMs);

/// <summary>The result of a join: <c>joined</c> or <c>pending</c>.</summary>
public sealed record JoinResult(string Status);

internal sealed record ProblemBody(string? Code, string? Title, string? Detail);

internal sealed record RefreshResult(Tokens Tokens);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AuthResult))]
[JsonSerializable(typeof(RefreshResult))]
[JsonSerializable(typeof(User))]
[JsonSerializable(typeof(Page<User>))]
[JsonSerializable(typeof(Message))]
[JsonSerializable(typeof(MessagePage))]
[JsonSerializable(typeof(Conversation))]
[JsonSerializable(typeof(Page<Conversation>))]
[JsonSerializable(typeof(FriendRequest))]
[JsonSerializable(typeof(Page<FriendRequest>))]
[JsonSerializable(typeof(Page<Friend>))]
[JsonSerializable(typeof(Group))]
[JsonSerializable(typeof(Page<Group>))]
[JsonSerializable(typeof(UploadedFile))]
[JsonSerializable(typeof(Receipts))]
[JsonSerializable(typeof(JoinResult))]
[JsonSerializable(typeof(ProblemBody))]
[JsonSerializable(typeof(Dictionary<string, JsonElement>))]
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class ClientJson : JsonSerializerContext;
