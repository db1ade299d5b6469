using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Parley.Client;

/// <summary>
/// Parley's HTTP API for one signed-in device (or none, before register/login). It keeps the device's tokens,
/// refreshes the access token shortly before it expires (refresh tokens are single use: <see cref="TokensChanged"/>
/// tells you when to store the new pair), and turns problem answers into <see cref="ParleyApiException"/>.
/// Safe to use from several threads at once.
/// </summary>
/// <example>
/// <code>
/// using var client = new ParleyClient(new Uri("http://localhost:5080"));
/// await client.LoginAsync("alice", "correct horse battery");
/// var chat = await client.DirectConversationAsync(bobId);
/// await client.SendTextAsync(chat.Id, "hello");
/// await using var socket = await client.ConnectAsync();
/// </code>
/// </example>
public sealed class ParleyClient : IDisposable
{
    private static readonly TimeSpan RefreshAhead = TimeSpan.FromSeconds(60);

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly SemaphoreSlim _refreshLock = new(1, 1);
    private Tokens? _tokens;

    /// <summary>A client of the server at <paramref name="baseUri"/>; <paramref name="handler"/> lets you share one (connection pooling).</summary>
    public ParleyClient(Uri baseUri, HttpMessageHandler? handler = null)
    {
        BaseUri = baseUri;
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = baseUri;
        _http.Timeout = TimeSpan.FromSeconds(100);
        _ownsHttp = true;
    }

    /// <summary>A client using an <see cref="HttpClient"/> you configured (its <c>BaseAddress</c> must be the server).</summary>
    public ParleyClient(HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(http.BaseAddress);
        BaseUri = http.BaseAddress;
        _http = http;
    }

    public Uri BaseUri { get; }

    /// <summary>The signed-in user's id (after register, login or <see cref="UseSession"/>).</summary>
    public string? UserId { get; private set; }

    /// <summary>This device session's id.</summary>
    public string? DeviceId { get; private set; }

    /// <summary>The current token pair.</summary>
    public Tokens? Tokens => _tokens;

    /// <summary>Raised with the new pair after every refresh: store it, the old refresh token is now spent.</summary>
    public event Action<Tokens>? TokensChanged;

    /// <summary>Clock used for token expiry (epoch ms); replaceable for tests.</summary>
    public Func<long> Now { get; set; } = () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    // ---- accounts ----

    public async Task<AuthResult> RegisterAsync(string username, string password, string? nickname = null, string? email = null, string? device = null, CancellationToken cancellationToken = default)
    {
        var result = await SendAsync(HttpMethod.Post, "/api/auth/register", JsonBody.Object(("username", username), ("password", password), ("nickname", nickname), ("email", email), ("device", device)), ClientJson.Default.AuthResult, authenticate: false, cancellationToken);
        UseSession(result.User.Id, result.DeviceId, result.Tokens);
        return result;
    }

    public async Task<AuthResult> LoginAsync(string username, string password, string? device = null, CancellationToken cancellationToken = default)
    {
        var result = await SendAsync(HttpMethod.Post, "/api/auth/login", JsonBody.Object(("username", username), ("password", password), ("device", device)), ClientJson.Default.AuthResult, authenticate: false, cancellationToken);
        UseSession(result.User.Id, result.DeviceId, result.Tokens);
        return result;
    }

    /// <summary>Resumes a device session saved earlier (no call to the server).</summary>
    public void UseSession(string userId, string deviceId, Tokens tokens)
    {
        UserId = userId;
        DeviceId = deviceId;
        _tokens = tokens;
    }

    /// <summary>Exchanges the refresh token for a new pair now (it also happens by itself before expiry).</summary>
    public async Task<Tokens> RefreshAsync(CancellationToken cancellationToken = default)
    {
        var spent = _tokens ?? throw new InvalidOperationException("Not signed in.");
        await _refreshLock.WaitAsync(cancellationToken);
        try
        {
            if (!ReferenceEquals(spent, _tokens))
            {
                return _tokens!; // another caller refreshed meanwhile
            }

            var result = await SendAsync(HttpMethod.Post, "/api/auth/refresh", JsonBody.Object(("refreshToken", spent.RefreshToken)), ClientJson.Default.RefreshResult, authenticate: false, cancellationToken);
            _tokens = result.Tokens;
            TokensChanged?.Invoke(result.Tokens);
            return result.Tokens;
        }
        finally
        {
            _refreshLock.Release();
        }
    }

    /// <summary>Ends this device session (its sockets are closed by the server with 4001).</summary>
    public async Task LogoutAsync(CancellationToken cancellationToken = default)
    {
        if (_tokens is { } tokens)
        {
            await SendAsync(HttpMethod.Post, "/api/auth/logout", JsonBody.Object(("refreshToken", tokens.RefreshToken)), authenticate: false, cancellationToken);
            _tokens = null;
        }
    }

    public Task<User> MeAsync(CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "/api/users/me", null, ClientJson.Default.User, true, cancellationToken);

    /// <summary>Changes the profile; null arguments are left as they are.</summary>
    public Task<User> UpdateProfileAsync(string? nickname = null, string? bio = null, string? avatarFileId = null, IReadOnlyList<string>? tags = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Patch, "/api/users/me", JsonBody.Object(("nickname", nickname), ("bio", bio), ("avatarFileId", avatarFileId), ("tags", tags)), ClientJson.Default.User, true, cancellationToken);

    public Task<User> GetUserAsync(string userId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"/api/users/{Uri.EscapeDataString(userId)}", null, ClientJson.Default.User, true, cancellationToken);

    public Task<Page<User>> SearchUsersAsync(string? query = null, IReadOnlyList<string>? tags = null, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "/api/users/search" + Query(("q", query), ("tags", tags is null ? null : string.Join(',', tags)), ("cursor", cursor), ("limit", limit?.ToString(CultureInfo.InvariantCulture))), null, ClientJson.Default.PageUser, true, cancellationToken);

    // ---- friends ----

    /// <summary>Asks <paramref name="userId"/> to be friends (accepted at once if they asked first).</summary>
    public Task<FriendRequest> SendFriendRequestAsync(string userId, string? message = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, "/api/friends/requests", JsonBody.Object(("userId", userId), ("message", message)), ClientJson.Default.FriendRequest, true, cancellationToken);

    /// <summary>Pending requests, <c>incoming</c> or <c>outgoing</c>.</summary>
    public Task<Page<FriendRequest>> FriendRequestsAsync(string direction = "incoming", string? cursor = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "/api/friends/requests" + Query(("direction", direction), ("cursor", cursor)), null, ClientJson.Default.PageFriendRequest, true, cancellationToken);

    public Task<FriendRequest> AcceptFriendRequestAsync(string requestId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"/api/friends/requests/{Uri.EscapeDataString(requestId)}/accept", null, ClientJson.Default.FriendRequest, true, cancellationToken);

    public Task<FriendRequest> DeclineFriendRequestAsync(string requestId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"/api/friends/requests/{Uri.EscapeDataString(requestId)}/decline", null, ClientJson.Default.FriendRequest, true, cancellationToken);

    public Task<Page<Friend>> FriendsAsync(string? cursor = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "/api/friends" + Query(("cursor", cursor)), null, ClientJson.Default.PageFriend, true, cancellationToken);

    public Task RemoveFriendAsync(string userId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"/api/friends/{Uri.EscapeDataString(userId)}", null, true, cancellationToken);

    public Task BlockAsync(string userId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Put, $"/api/blocks/{Uri.EscapeDataString(userId)}", null, true, cancellationToken);

    public Task UnblockAsync(string userId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"/api/blocks/{Uri.EscapeDataString(userId)}", null, true, cancellationToken);

    // ---- groups ----

    public Task<Group> CreateGroupAsync(string name, IReadOnlyList<string>? memberIds = null, string? joinPolicy = null, string? visibility = null, string? description = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, "/api/groups", JsonBody.Object(("name", name), ("memberIds", memberIds), ("joinPolicy", joinPolicy), ("visibility", visibility), ("description", description)), ClientJson.Default.Group, true, cancellationToken);

    public Task<Group> GetGroupAsync(string groupId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"/api/groups/{Uri.EscapeDataString(groupId)}", null, ClientJson.Default.Group, true, cancellationToken);

    public Task<JoinResult> JoinGroupAsync(string groupId, string? message = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"/api/groups/{Uri.EscapeDataString(groupId)}/join", JsonBody.Object(("message", message)), ClientJson.Default.JoinResult, true, cancellationToken);

    public Task LeaveGroupAsync(string groupId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"/api/groups/{Uri.EscapeDataString(groupId)}/leave", null, true, cancellationToken);

    /// <summary>Adds members (admins; members too when the group lets them invite).</summary>
    public Task AddGroupMembersAsync(string groupId, IReadOnlyList<string> userIds, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"/api/groups/{Uri.EscapeDataString(groupId)}/members", JsonBody.Object(("userIds", userIds)), true, cancellationToken);

    public Task<Page<Group>> MyGroupsAsync(string? cursor = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "/api/groups/mine" + Query(("cursor", cursor)), null, ClientJson.Default.PageGroup, true, cancellationToken);

    // ---- conversations and messages ----

    /// <summary>The direct conversation with <paramref name="userId"/> (created if needed).</summary>
    public Task<Conversation> DirectConversationAsync(string userId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, "/api/conversations/direct", JsonBody.Object(("userId", userId)), ClientJson.Default.Conversation, true, cancellationToken);

    /// <summary>One page of my conversations, most recent activity first.</summary>
    public Task<Page<Conversation>> ConversationsAsync(string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "/api/conversations" + Query(("cursor", cursor), ("limit", limit?.ToString(CultureInfo.InvariantCulture))), null, ClientJson.Default.PageConversation, true, cancellationToken);

    /// <summary>Every conversation, following the cursor to the end.</summary>
    public async Task<IReadOnlyList<Conversation>> AllConversationsAsync(CancellationToken cancellationToken = default)
    {
        var all = new List<Conversation>();
        string? cursor = null;
        do
        {
            var page = await ConversationsAsync(cursor, 200, cancellationToken);
            all.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        return all;
    }

    public Task<Conversation> ConversationAsync(string conversationId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"/api/conversations/{Uri.EscapeDataString(conversationId)}", null, ClientJson.Default.Conversation, true, cancellationToken);

    /// <summary>Messages after <paramref name="afterSeq"/>, ascending (catch-up).</summary>
    public Task<MessagePage> MessagesAfterAsync(string conversationId, long afterSeq, int limit = 200, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"/api/conversations/{Uri.EscapeDataString(conversationId)}/messages" + Query(("after", afterSeq.ToString(CultureInfo.InvariantCulture)), ("limit", limit.ToString(CultureInfo.InvariantCulture))), null, ClientJson.Default.MessagePage, true, cancellationToken);

    /// <summary>The <paramref name="limit"/> messages before <paramref name="beforeSeq"/>, ascending (scrollback).</summary>
    public Task<MessagePage> MessagesBeforeAsync(string conversationId, long beforeSeq, int limit = 50, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"/api/conversations/{Uri.EscapeDataString(conversationId)}/messages" + Query(("before", beforeSeq.ToString(CultureInfo.InvariantCulture)), ("limit", limit.ToString(CultureInfo.InvariantCulture))), null, ClientJson.Default.MessagePage, true, cancellationToken);

    /// <summary>
    /// Sends a message over HTTP. Retrying with the same <paramref name="clientMsgId"/> is safe: the server
    /// returns the message it stored the first time.
    /// </summary>
    public Task<Message> SendMessageAsync(string conversationId, string type, JsonElement content, string? clientMsgId = null, long? replyTo = null, IReadOnlyList<string>? mentions = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"/api/conversations/{Uri.EscapeDataString(conversationId)}/messages",
            JsonBody.Object(("clientMsgId", clientMsgId ?? NewClientMsgId()), ("type", type), ("content", content), ("replyTo", replyTo), ("mentions", mentions)),
            ClientJson.Default.Message, true, cancellationToken);

    public Task<Message> SendTextAsync(string conversationId, string text, string? clientMsgId = null, CancellationToken cancellationToken = default) =>
        SendMessageAsync(conversationId, "text", JsonBody.Text(text), clientMsgId, cancellationToken: cancellationToken);

    /// <summary>Sends typed content (<see cref="TextContent"/>, <see cref="ImageContent"/>, ...) over HTTP; retries as above.</summary>
    public Task<Message> SendMessageAsync(string conversationId, MessageContent content, string? clientMsgId = null, long? replyTo = null, IReadOnlyList<string>? mentions = null, CancellationToken cancellationToken = default) =>
        SendMessageAsync(conversationId, content.Type, content.ToJson(), clientMsgId, replyTo, mentions, cancellationToken);

    public Task MarkReadAsync(string conversationId, long seq, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"/api/conversations/{Uri.EscapeDataString(conversationId)}/read", JsonBody.Object(("seq", seq)), true, cancellationToken);

    public Task<Message> RecallAsync(string conversationId, long seq, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"/api/conversations/{Uri.EscapeDataString(conversationId)}/messages/{seq}/recall", null, ClientJson.Default.Message, true, cancellationToken);

    /// <summary>Hides a message for me only.</summary>
    public Task DeleteForMeAsync(string conversationId, long seq, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"/api/conversations/{Uri.EscapeDataString(conversationId)}/messages/{seq}", null, true, cancellationToken);

    public Task<Receipts> ReceiptsAsync(string conversationId, long seq, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"/api/conversations/{Uri.EscapeDataString(conversationId)}/messages/{seq}/receipts", null, ClientJson.Default.Receipts, true, cancellationToken);

    // ---- files ----

    /// <summary>Uploads a file (streamed; the server sniffs its type from the bytes).</summary>
    public async Task<UploadedFile> UploadAsync(Stream content, string fileName, CancellationToken cancellationToken = default)
    {
        using var form = new MultipartFormDataContent();
        var part = new StreamContent(content);
        part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(part, "file", fileName);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/files") { Content = form };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await AccessTokenAsync(cancellationToken));
        return await SendAsync(request, ClientJson.Default.UploadedFile, cancellationToken);
    }

    /// <summary>Downloads a file (or its thumbnail); dispose the stream when done.</summary>
    public async Task<Stream> DownloadAsync(string fileId, bool thumbnail = false, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/files/{Uri.EscapeDataString(fileId)}" + (thumbnail ? "/thumbnail" : ""));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await AccessTokenAsync(cancellationToken));
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            using (response)
            {
                throw await ErrorAsync(response, cancellationToken);
            }
        }

        return await response.Content.ReadAsStreamAsync(cancellationToken);
    }

    // ---- WebSocket ----

    /// <summary>Opens this device's WebSocket (waits for <c>hello</c>).</summary>
    public async Task<ParleySocket> ConnectAsync(ParleySocketOptions? options = null, CancellationToken cancellationToken = default) =>
        await ParleySocket.ConnectAsync(BaseUri, await AccessTokenAsync(cancellationToken), options, cancellationToken);

    /// <summary>A current access token, refreshed first when it is about to expire.</summary>
    public async Task<string> AccessTokenAsync(CancellationToken cancellationToken = default)
    {
        var tokens = _tokens ?? throw new InvalidOperationException("Not signed in: register, log in or UseSession first.");
        if (tokens.AccessTokenExpiresAt - Now() < RefreshAhead.TotalMilliseconds)
        {
            tokens = await RefreshAsync(cancellationToken);
        }

        return tokens.AccessToken;
    }

    /// <summary>A fresh client message id (a GUID without dashes).</summary>
    public static string NewClientMsgId() => Guid.NewGuid().ToString("N");

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }

        _refreshLock.Dispose();
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, byte[]? body, JsonTypeInfo<T> type, bool authenticate, CancellationToken cancellationToken)
    {
        using var request = await RequestAsync(method, path, body, authenticate, cancellationToken);
        return await SendAsync(request, type, cancellationToken);
    }

    private async Task SendAsync(HttpMethod method, string path, byte[]? body, bool authenticate, CancellationToken cancellationToken)
    {
        using var request = await RequestAsync(method, path, body, authenticate, cancellationToken);
        using var response = await _http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, cancellationToken);
        }
    }

    private async Task<T> SendAsync<T>(HttpRequestMessage request, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        using var response = await _http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, cancellationToken);
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        return await JsonSerializer.DeserializeAsync(stream, type, cancellationToken)
            ?? throw new ParleyApiException(response.StatusCode, "invalid_response", "The server answered with an empty body.");
    }

    private async Task<HttpRequestMessage> RequestAsync(HttpMethod method, string path, byte[]? body, bool authenticate, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(method, path);
        if (authenticate)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await AccessTokenAsync(cancellationToken));
        }

        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        return request;
    }

    private static async Task<ParleyApiException> ErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        ProblemBody? problem = null;
        try
        {
            problem = await response.Content.ReadFromJsonAsync(ClientJson.Default.ProblemBody, cancellationToken);
        }
        catch (JsonException)
        {
            // not a problem document
        }

        return new ParleyApiException(
            response.StatusCode,
            problem?.Code ?? (response.StatusCode == HttpStatusCode.Unauthorized ? "unauthorized" : "http_" + (int)response.StatusCode),
            problem?.Detail ?? problem?.Title ?? response.ReasonPhrase ?? "");
    }

    private static string Query(params (string Name, string? Value)[] parameters)
    {
        var parts = parameters.Where(p => p.Value is not null).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }
}
