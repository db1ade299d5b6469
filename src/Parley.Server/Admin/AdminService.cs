using Microsoft.Extensions.Options;
using Parley.Protocol;
using Parley.Server.Accounts;
using Parley.Server.Http;
using Parley.Server.Messaging;
using Parley.Server.Moderation;
using Parley.Server.Realtime;
using Parley.Storage;
using Parley.Storage.Accounts;
using Parley.Storage.Admin;
using Parley.Storage.Messaging;

namespace Parley.Server.Admin;

/// <summary>
/// The app server's calls (/api/admin/*): importing users, signing them in, logging them out, disabling them,
/// sending in their name, stats and the reports queue. Every effect goes through the same stores, session guard
/// (revocation closes sockets with 4001) and message sender as the users' own calls.
/// </summary>
public sealed partial class AdminService(
    UserStore users,
    SessionStore sessions,
    SessionGuard guard,
    AccountService accounts,
    PasswordHashing passwords,
    Xmpp.Sasl.ScramKeys scramKeys,
    MessageStore messages,
    MessageSender messageSender,
    ReportStore reports,
    AdminCountsStore counts,
    ConnectionRegistry connections,
    Moderator moderation,
    IdGenerator ids,
    TimeProvider time,
    ILogger<AdminService> logger,
    Cluster.ClusterPresence? presence = null)
{
    public const int MaxExternalId = 128;

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    public async Task<AdminUser> ImportAsync(ImportUserRequest request, CancellationToken cancellationToken)
    {
        var v = new Validation();
        AccountRules.CheckUsername(v, request.Username);
        if (request.Password is not null)
        {
            AccountRules.CheckPassword(v, "password", request.Password);
        }

        var nickname = request.Nickname is null ? request.Username : AccountRules.CheckNickname(v, request.Nickname);
        // Taken as given, never trimmed: the app server looks users up by exactly this id, so " h1\t" and "h1"
        // must not silently become the same one.
        var externalId = request.ExternalId;
        if (externalId is not null && !IsValidExternalId(externalId))
        {
            v.Add("externalId", $"must be 1-{MaxExternalId} characters without control, format or line-separator characters or leading or trailing whitespace");
        }

        v.ThrowIfInvalid();
        nickname = moderation.Active ? moderation.Apply("nickname", nickname!) : nickname;
        if (await users.UsernameExistsAsync(request.Username!, cancellationToken))
        {
            throw UsernameTaken();
        }

        if (externalId is not null && await users.FindByExternalIdAsync(externalId, cancellationToken) is not null)
        {
            throw ExternalIdTaken();
        }

        if (!string.Equals(nickname, request.Username, StringComparison.OrdinalIgnoreCase) && await users.FindByUsernameAsync(nickname!, cancellationToken) is not null)
        {
            throw ApiException.Invalid("nickname", AccountService.NicknameIsAUsername);
        }

        // Without a password the stored hash is empty: no password ever verifies against it (login answers 401
        // invalid_credentials after the same work as a wrong password), so the user signs in only through the token call.
        var hash = request.Password is null ? "" : await passwords.HashAsync(request.Password, cancellationToken);
        var scram = request.Password is null ? null : await scramKeys.MakeAsync(request.Password, cancellationToken);
        var user = new UserRow
        {
            Id = ids.Next(),
            Username = request.Username!,
            Nickname = nickname!,
            CreatedAt = Now,
            PasswordHash = hash,
            ExternalId = externalId,
        };
        if (!await users.CreateAsync(user, scram, cancellationToken))
        {
            // Lost a race on one of the two unique keys: say which.
            throw await users.UsernameExistsAsync(user.Username, cancellationToken) ? UsernameTaken() : ExternalIdTaken();
        }

        LogImported(logger, user.Id);
        return AdminUser.From(user);
    }

    internal static bool IsValidExternalId(string id) =>
        id.Length is > 0 and <= MaxExternalId && !char.IsWhiteSpace(id[0]) && !char.IsWhiteSpace(id[^1]) && !id.Any(Invisible);

    /// <summary>Control and format characters (zero-width, bidirectional overrides) and line or paragraph separators.</summary>
    private static bool Invisible(char c) =>
        char.IsControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format
            or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator;

    public async Task<ListResponse<AdminUser>> ListAsync(string q, string? externalId, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var v = new Validation();
        if (q.Length > AccountRules.MaxSearchText)
        {
            v.Add("q", $"must be at most {AccountRules.MaxSearchText} characters");
        }

        if (externalId is { Length: > MaxExternalId })
        {
            v.Add("externalId", $"must be at most {MaxExternalId} characters");
        }

        v.ThrowIfInvalid();
        var found = await users.AdminSearchAsync(q, externalId, Paging.Id(cursor), limit + 1, cancellationToken);
        return Paging.Page(found, limit, AdminUser.From, u => Ids.Format(u.Id));
    }

    public async Task<AuthResponse> IssueTokensAsync(string id, TokenRequest request, CancellationToken cancellationToken)
    {
        var v = new Validation();
        var device = AccountRules.CheckDevice(v, request.Device);
        v.ThrowIfInvalid();
        var user = await UserAsync(id, cancellationToken);
        var response = await accounts.IssueSessionAsync(user, device, cancellationToken);
        LogTokensIssued(logger, user.Id);
        return response;
    }

    public Task LogoutAsync(string id, CancellationToken cancellationToken) => RevokeAllAsync(id, "admin_logout", null, cancellationToken);

    public Task SetDisabledAsync(string id, bool disabled, CancellationToken cancellationToken) =>
        RevokeAllAsync(id, "disabled", disabled, cancellationToken);

    private async Task RevokeAllAsync(string id, string reason, bool? disabled, CancellationToken cancellationToken)
    {
        var userId = Ids.TryParse(id, out var parsed) ? parsed : throw ApiException.NotFound("User");
        var revoked = await sessions.RevokeAllAsync(userId, reason, disabled, Now, cancellationToken) ?? throw ApiException.NotFound("User");
        // After commit: the guard refuses the sessions' access tokens from now on and the gateway closes their sockets (4001).
        guard.MarkRevoked(revoked);
        LogRevoked(logger, userId, reason, revoked.Count);
    }

    public async Task<Result<SentMessage>> SendAsync(AdminMessageRequest body, CancellationToken cancellationToken)
    {
        var v = new Validation();
        var from = ParseId(v, "from", body.From, required: true);
        var to = ParseId(v, "to", body.To, required: false);
        var conversation = ParseId(v, "conversationId", body.ConversationId, required: false);
        if ((to is null) == (conversation is null) && v.IsValid)
        {
            v.Add("to", "give exactly one of to and conversationId");
        }

        if (from is not null && from == to)
        {
            v.Add("to", "must be another user than from");
        }

        if (!SendCommand.TryCreate(conversation ?? 0, body.ClientMsgId, body.Type, body.Content, body.ReplyTo, body.Mentions, out var command, out var problems))
        {
            foreach (var (member, problem) in problems!)
            {
                v.Add(member, problem);
            }
        }

        if (v.ToRefusal() is { } invalid)
        {
            return invalid;
        }

        var sender = await users.GetAsync(from!.Value, cancellationToken);
        if (sender is null)
        {
            return Refusal.NotFound("User (from)");
        }

        // A retry is answered before anything else happens (no direct conversation opened, no hook asked): the
        // original when it was sent to the same place, else 409, whatever changed since.
        if (await messages.FindByClientIdAsync(sender.Id, command!.ClientMsgId, cancellationToken) is { } original)
        {
            var same = to is { } peer
                ? (await messages.GetConversationAsync(original.ConversationId, cancellationToken))?.PeerOf(sender.Id) == peer
                : original.ConversationId == conversation;
            return same ? (Result<SentMessage>)new SentMessage(new CommittedMessage(original), false) : MessageSender.ClientMsgIdUsedElsewhere;
        }

        // A disabled user sends nothing, not even in the app server's name; a disabled recipient's messages are
        // stored as for anyone offline (they read them once enabled).
        if (sender.DisabledAt is not null)
        {
            return SenderDisabled;
        }

        if (to is { } peerId)
        {
            if (await users.GetAsync(peerId, cancellationToken) is null)
            {
                return Refusal.NotFound("User (to)");
            }

            // Opened without the friendship rule; the block rule is the sender's, on the conversation's view.
            var direct = await messages.GetOrCreateDirectAsync(from.Value, peerId, ids.Next(), Now, cancellationToken);
            command = command with { ConversationId = direct.Id };
        }

        return await messageSender.SendAsSystemAsync(from.Value, command, cancellationToken);
    }

    private static readonly Refusal SenderDisabled = Refusal.Forbidden("from: this user is disabled.", ErrorCodes.Disabled);

    public async Task<AdminStats> StatsAsync(CancellationToken cancellationToken)
    {
        var stored = await counts.CountAsync(Now - (24 * 3600 * 1000), cancellationToken);
        // Cluster mode: every live node's users and sockets, from Redis; while Redis does not answer, this node's own.
        var (online, open) = presence is not null && await presence.ClusterCountsAsync(connections.Count) is { } cluster
            ? cluster
            : (connections.UserCount, connections.Count);
        return new AdminStats(stored.Users, online, open, stored.Groups, stored.MessagesSince);
    }

    public async Task<ListResponse<ReportDto>> ReportsAsync(string status, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var state = status switch
        {
            "" or "open" => ReportState.Open,
            "resolved" => ReportState.Resolved,
            "all" => ReportState.All,
            _ => throw ApiException.Invalid("status", "must be open, resolved or all"),
        };
        var rows = await reports.ListAsync(state, Paging.Id(cursor, long.MaxValue), limit + 1, cancellationToken);
        return Paging.Page(rows, limit, ReportDto.From, r => Ids.Format(r.Id));
    }

    public async Task<ReportDto> ResolveAsync(string id, ResolveBody body, CancellationToken cancellationToken)
    {
        var note = body.Note?.Trim();
        if (note is { Length: > 1000 })
        {
            throw ApiException.Invalid("note", "must be at most 1000 characters");
        }

        var reportId = Ids.TryParse(id, out var parsed) ? parsed : throw ApiException.NotFound("Report");
        var row = await reports.ResolveAsync(reportId, string.IsNullOrEmpty(note) ? null : note, Now, cancellationToken) ?? throw ApiException.NotFound("Report");
        return ReportDto.From(row);
    }

    private async Task<UserRow> UserAsync(string id, CancellationToken cancellationToken) =>
        (Ids.TryParse(id, out var userId) ? await users.GetAsync(userId, cancellationToken) : null) ?? throw ApiException.NotFound("User");

    private static long? ParseId(Validation v, string field, string? text, bool required)
    {
        if (text is null)
        {
            if (required)
            {
                v.Add(field, "is required");
            }

            return null;
        }

        if (Ids.TryParse(text, out var id))
        {
            return id;
        }

        v.Add(field, "must be an id");
        return null;
    }

    private static ApiException UsernameTaken() => new(409, ErrorCodes.UsernameTaken, "That username is taken.");

    private static ApiException ExternalIdTaken() => new(409, ErrorCodes.Conflict, "externalId: another user has this externalId.");

    [LoggerMessage(Level = LogLevel.Information, Message = "Admin: user {UserId} imported")]
    private static partial void LogImported(ILogger logger, long userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Admin: a device session issued for user {UserId}")]
    private static partial void LogTokensIssued(ILogger logger, long userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Admin: user {UserId} {Reason}; {Count} sessions revoked")]
    private static partial void LogRevoked(ILogger logger, long userId, string reason, int count);
}
