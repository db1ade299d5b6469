using System.Data.Common;
using Dapper;
using Parley.Storage.Webhooks;
using Parley.Storage.Postgres;
using Parley.Storage.Sqlite;

namespace Parley.Storage.Messaging;

/// <summary>
/// Conversations, their messages and each member's and device's position in them. Appends assign the
/// conversation's next seq inside the transaction that stores the message, so seqs are dense and in
/// commit order; several appends share one transaction (group commit).
/// </summary>
public sealed class MessageStore(Database database) : IDisposable
{
    private readonly SqliteMessageAppender? _sqlite = database.Provider == StorageProvider.Sqlite ? new(database) : null;
    private readonly PostgresMessageAppender? _postgres = database.Provider == StorageProvider.Postgres ? new(database) : null;

    public void Dispose() => _sqlite?.Dispose();

    private const string MessageColumns = AppendBatch.MessageColumns;

    private const string ConversationColumns = "id, type, group_id, user_low, user_high, max_seq, last_activity_at, created_at";

    private const string MemberViewSelect =
        """
        SELECT c.id, c.type, c.group_id, c.user_low, c.user_high, c.max_seq, c.last_activity_at,
               m.joined_seq, m.read_seq, m.mention_seq, CAST(m.muted AS BIGINT) AS muted,
               COALESCE((SELECT a.ack_seq FROM device_acks a WHERE a.session_id = @sessionId AND a.conversation_id = c.id), 0) AS ack_seq,
               (SELECT COUNT(*) FROM messages x WHERE x.conversation_id = c.id AND x.seq > m.read_seq AND x.sender_id <> @userId) AS unread_count,
               CASE WHEN c.type = 'direct' THEN (SELECT MAX(p.read_seq) FROM conversation_members p WHERE p.conversation_id = c.id AND p.user_id <> @userId) END AS peer_read_seq
        FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
        """;

    /// <summary>
    /// Appends the messages in one transaction (the database's own appender: <c>Storage/Sqlite</c>,
    /// <c>Storage/Postgres</c>). Results are in the batch's order. A message whose (sender, clientMsgId) is
    /// already stored, in the database or earlier in the batch, is not stored again: its result is the original
    /// with Created false. A message whose sender is no longer a member when the batch commits is not stored:
    /// its Message is null. The others are stored with the conversation's next seqs, dense and in batch order,
    /// with the files they reference and the mentions they make; each sender's read marker moves to their
    /// last message.
    /// </summary>
    public Task<AppendResult[]> AppendAsync(IReadOnlyList<NewMessage> batch, CancellationToken cancellationToken) =>
        batch.Count == 0 ? Task.FromResult(System.Array.Empty<AppendResult>())
        : _sqlite is not null ? _sqlite.AppendAsync(batch, cancellationToken)
        : _postgres!.AppendAsync(batch, cancellationToken);

    public async Task<ConversationRow?> GetConversationAsync(long conversationId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ConversationRow>(new CommandDefinition(
            $"SELECT {ConversationColumns} FROM conversations WHERE id = @conversationId", new { conversationId }, cancellationToken: cancellationToken));
    }

    /// <summary>The direct conversation of two users, if it exists (nothing is created).</summary>
    public async Task<ConversationRow?> FindDirectAsync(long userA, long userB, CancellationToken cancellationToken)
    {
        var (low, high) = userA < userB ? (userA, userB) : (userB, userA);
        await using var connection = await database.OpenAsync(cancellationToken);
        return await FindDirectAsync(connection, null, low, high, cancellationToken);
    }

    /// <summary>The direct conversation of two users, created on first use.</summary>
    public async Task<ConversationRow> GetOrCreateDirectAsync(long userA, long userB, long newId, long now, CancellationToken cancellationToken)
    {
        var (low, high) = userA < userB ? (userA, userB) : (userB, userA);
        await using var connection = await database.OpenAsync(cancellationToken);
        var existing = await FindDirectAsync(connection, null, low, high, cancellationToken);
        if (existing is not null)
        {
            return existing;
        }

        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO conversations (id, type, user_low, user_high, max_seq, last_activity_at, created_at) VALUES (@newId, 'direct', @low, @high, 0, @now, @now) ON CONFLICT DO NOTHING",
            new { newId, low, high, now },
            transaction,
            cancellationToken: cancellationToken));
        if (inserted == 1)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO conversation_members (conversation_id, user_id, joined_seq, read_seq) VALUES (@newId, @low, 0, 0), (@newId, @high, 0, 0)",
                new { newId, low, high },
                transaction,
                cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
        return await FindDirectAsync(connection, null, low, high, cancellationToken)
            ?? throw new InvalidOperationException("The direct conversation vanished after it was created.");
    }

    /// <summary>
    /// Everything the send path and the ack, read and typing checks need of a conversation, in one round trip (two
    /// statements): the conversation (with its group's visibility and whether it is temporary; for a direct one the
    /// friendship and blocks between its two users) and every member with their join position, role and mute. Null
    /// when the conversation does not exist. Cached by the caller against <see cref="MembershipVersions"/>; the
    /// committing transaction still re-checks membership.
    /// </summary>
    public async Task<ConversationViewRow?> LoadViewAsync(long conversationId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var results = await connection.QueryMultipleAsync(new CommandDefinition(
            """
            SELECT c.id, c.type, c.group_id, c.user_low, c.user_high, c.max_seq, c.members_version, g.visibility, g.temporary,
                   CASE WHEN c.type = 'direct' AND EXISTS (SELECT 1 FROM friendships f WHERE f.user_id = c.user_low AND f.friend_id = c.user_high) THEN 1 ELSE 0 END AS low_friends_high,
                   CASE WHEN c.type = 'direct' AND EXISTS (SELECT 1 FROM friendships f WHERE f.user_id = c.user_high AND f.friend_id = c.user_low) THEN 1 ELSE 0 END AS high_friends_low,
                   CASE WHEN c.type = 'direct' AND EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = c.user_low AND b.blocked_id = c.user_high) THEN 1 ELSE 0 END AS low_blocks_high,
                   CASE WHEN c.type = 'direct' AND EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = c.user_high AND b.blocked_id = c.user_low) THEN 1 ELSE 0 END AS high_blocks_low
            FROM conversations c LEFT JOIN groups g ON g.id = c.group_id
            WHERE c.id = @conversationId;
            SELECT m.user_id, m.joined_seq, gm.role, gm.muted_until
            FROM conversation_members m
            JOIN conversations c ON c.id = m.conversation_id
            LEFT JOIN group_members gm ON gm.group_id = c.group_id AND gm.user_id = m.user_id
            WHERE m.conversation_id = @conversationId
            ORDER BY m.user_id
            """,
            new { conversationId },
            cancellationToken: cancellationToken));
        var conversation = await results.ReadSingleOrDefaultAsync<ConversationViewRow>();
        var members = (await results.ReadAsync<ViewMemberRow>()).AsList();
        if (conversation is not null)
        {
            conversation.Members = members;
        }

        return conversation;
    }

    /// <summary>The conversation's latest seq (0 when it has none or does not exist).</summary>
    public async Task<long> MaxSeqAsync(long conversationId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT max_seq FROM conversations WHERE id = @conversationId", new { conversationId }, cancellationToken: cancellationToken)) ?? 0;
    }

    /// <summary>Marks activity of temporary groups (one statement per group, after the appends' commits).</summary>
    public async Task TouchTemporaryGroupsAsync(IReadOnlyCollection<KeyValuePair<long, long>> lastSentAt, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        foreach (var (conversationId, now) in lastSentAt)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE groups SET last_activity_at = @now, expires_at = @now + idle_ttl_seconds * 1000 WHERE conversation_id = @conversationId AND temporary = 1 AND last_activity_at < @now",
                new { conversationId, now },
                cancellationToken: cancellationToken));
        }
    }

    /// <summary>The conversation as <paramref name="userId"/> (on device <paramref name="sessionId"/>) sees it; null when not a member.</summary>
    public async Task<MemberConversationRow?> GetForMemberAsync(long conversationId, long userId, long sessionId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<MemberConversationRow>(new CommandDefinition(
            MemberViewSelect + " WHERE m.user_id = @userId AND c.id = @conversationId",
            new { conversationId, userId, sessionId },
            cancellationToken: cancellationToken));
    }

    /// <summary>Sets the member's own mute of the conversation (no offline notifications for it); false when they are no member.</summary>
    public async Task<bool> SetMutedAsync(long conversationId, long userId, bool muted, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE conversation_members SET muted = @value WHERE conversation_id = @conversationId AND user_id = @userId",
            new { conversationId, userId, value = muted ? 1 : 0 },
            cancellationToken: cancellationToken)) == 1;
    }

    /// <summary>The user's conversations, most recent activity first, after the (activity, id) position given.</summary>
    public async Task<IReadOnlyList<MemberConversationRow>> ListForMemberAsync(long userId, long sessionId, long beforeActivity, long beforeId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<MemberConversationRow>(new CommandDefinition(
            MemberViewSelect + """
             WHERE m.user_id = @userId AND (c.last_activity_at < @beforeActivity OR (c.last_activity_at = @beforeActivity AND c.id < @beforeId))
             ORDER BY c.last_activity_at DESC, c.id DESC LIMIT @limit
            """,
            new { userId, sessionId, beforeActivity, beforeId, limit },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>The newest message of each conversation, by conversation id.</summary>
    public async Task<IReadOnlyDictionary<long, MessageRow>> LastMessagesAsync(IReadOnlyList<long> conversationIds, CancellationToken cancellationToken)
    {
        if (conversationIds.Count == 0)
        {
            return new Dictionary<long, MessageRow>();
        }

        var (list, parameters) = Sql.InList("c", conversationIds);
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<MessageRow>(new CommandDefinition(
            $"SELECT {Sql.Prefixed(MessageColumns, "x")} FROM messages x JOIN conversations c ON c.id = x.conversation_id AND x.seq = c.max_seq WHERE c.id IN ({list})",
            parameters,
            cancellationToken: cancellationToken));
        return rows.ToDictionary(r => r.ConversationId);
    }

    /// <summary>
    /// Messages visible to the user (seq above <paramref name="visibleAfter"/>, not deleted for them), ascending:
    /// after <paramref name="afterSeq"/>, or when <paramref name="beforeSeq"/> is given the last ones before it.
    /// At most <paramref name="limit"/> rows and about <paramref name="maxBytes"/> of JSON, but always at least one
    /// row so a reader makes progress. Rows are read one at a time and the read stops at the budget, so a page of
    /// big messages never holds more than one row over it in memory.
    /// </summary>
    public async Task<(IReadOnlyList<MessageRow> Rows, bool HasMore)> ReadAsync(long conversationId, long userId, long visibleAfter, long afterSeq, long? beforeSeq, int limit, long maxBytes, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        const string Visible = "conversation_id = @conversationId AND seq > @visibleAfter AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.user_id = @userId AND h.conversation_id = messages.conversation_id AND h.seq = messages.seq)";
        var read = limit + 1; // one more than the page says whether there is more
        var sql = beforeSeq is not null
            ? $"SELECT {MessageColumns} FROM messages WHERE {Visible} AND seq < @before ORDER BY seq DESC LIMIT @read"
            : $"SELECT {MessageColumns} FROM messages WHERE {Visible} AND seq > @afterSeq ORDER BY seq LIMIT @read";
        var rows = new List<MessageRow>();
        var bytes = 0L;
        var hasMore = false;
        await foreach (var row in connection.QueryUnbufferedAsync<MessageRow>(sql, new { conversationId, userId, visibleAfter, afterSeq, before = beforeSeq, read }).WithCancellation(cancellationToken))
        {
            var size = row.ApproximateJsonBytes();
            if (rows.Count == limit || (rows.Count > 0 && bytes + size > maxBytes))
            {
                hasMore = true;
                break;
            }

            rows.Add(row);
            bytes += size;
        }

        if (beforeSeq is not null)
        {
            rows.Reverse();
        }

        return (rows, hasMore);
    }

    /// <summary>The message a sender stored under this client id, if any.</summary>
    public async Task<MessageRow?> FindByClientIdAsync(long senderId, string clientMsgId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<MessageRow>(new CommandDefinition(
            $"SELECT {MessageColumns} FROM messages WHERE sender_id = @senderId AND client_msg_id = @clientMsgId",
            new { senderId, clientMsgId },
            cancellationToken: cancellationToken));
    }

    public async Task<MessageRow?> GetMessageAsync(long conversationId, long seq, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<MessageRow>(new CommandDefinition(
            $"SELECT {MessageColumns} FROM messages WHERE conversation_id = @conversationId AND seq = @seq",
            new { conversationId, seq },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Recalls a message (its content is dropped, its seq stays); false when already recalled or absent. The
    /// files it referenced are no longer readable through it.
    /// </summary>
    public async Task<bool> RecallAsync(long conversationId, long seq, long by, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);
        var recalled = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE messages SET content = NULL, recalled_at = @now, recalled_by = @by WHERE conversation_id = @conversationId AND seq = @seq AND recalled_at IS NULL",
            new { conversationId, seq, by, now },
            transaction,
            cancellationToken: cancellationToken)) == 1;
        if (recalled)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM message_files WHERE conversation_id = @conversationId AND seq = @seq",
                new { conversationId, seq },
                transaction,
                cancellationToken: cancellationToken));
            await database.Outbox.AddAsync(connection, transaction, WebhookOutbox.MessageRecalled, conversationId, now, w =>
            {
                WebhookOutbox.WriteId(w, "conversationId", conversationId);
                w.WriteNumber("seq", seq);
                WebhookOutbox.WriteId(w, "recalledBy", by);
                w.WriteNumber("recalledAt", now);
            }, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return recalled;
    }

    public async Task HideAsync(long userId, long conversationId, long seq, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO message_hides (user_id, conversation_id, seq) VALUES (@userId, @conversationId, @seq) ON CONFLICT DO NOTHING",
            new { userId, conversationId, seq },
            cancellationToken: cancellationToken));
    }

    /// <summary>Moves the user's read marker forward to <paramref name="seq"/>; false when it was already there or beyond.</summary>
    public async Task<bool> MarkReadAsync(long conversationId, long userId, long seq, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE conversation_members SET read_seq = @seq WHERE conversation_id = @conversationId AND user_id = @userId AND read_seq < @seq",
            new { conversationId, userId, seq },
            cancellationToken: cancellationToken)) == 1;
    }

    /// <summary>Moves a device's cumulative ack forward (never back).</summary>
    public async Task AckAsync(long sessionId, long conversationId, long seq, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO device_acks (session_id, conversation_id, ack_seq) VALUES (@sessionId, @conversationId, @seq)
            ON CONFLICT (session_id, conversation_id) DO UPDATE SET ack_seq = excluded.ack_seq WHERE device_acks.ack_seq < excluded.ack_seq
            """,
            new { sessionId, conversationId, seq },
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Of <paramref name="userIds"/> (at most a few hundred per call), each one's groups of at least
    /// <paramref name="minMembers"/> members, by the group's member count (kept in the transaction of every join and
    /// leave): cluster mode, the conversation channels a node subscribes to for the users it holds.
    /// </summary>
    public async Task<IReadOnlyList<(long UserId, long ConversationId)>> BigGroupsOfAsync(IReadOnlyList<long> userIds, int minMembers, CancellationToken cancellationToken)
    {
        if (userIds.Count == 0)
        {
            return [];
        }

        var (list, parameters) = Sql.InList("u", userIds);
        parameters.Add("minMembers", minMembers);
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<(long, long)>(new CommandDefinition(
            $"SELECT m.user_id, m.conversation_id FROM conversation_members m JOIN groups g ON g.conversation_id = m.conversation_id WHERE m.user_id IN ({list}) AND g.member_count >= @minMembers",
            parameters,
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>A group conversation's member count (the group's); null when it is not a group's (or does not exist).</summary>
    public async Task<int?> GroupMemberCountAsync(long conversationId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<int?>(new CommandDefinition(
            "SELECT member_count FROM groups WHERE conversation_id = @conversationId", new { conversationId }, cancellationToken: cancellationToken));
    }

    /// <summary>Every member with their join and read positions (receipts; fanning out a batch of messages).</summary>
    public async Task<IReadOnlyList<(long UserId, long JoinedSeq, long ReadSeq)>> MemberPositionsAsync(long conversationId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<(long, long, long)>(new CommandDefinition(
            "SELECT user_id, joined_seq, read_seq FROM conversation_members WHERE conversation_id = @conversationId ORDER BY user_id",
            new { conversationId },
            cancellationToken: cancellationToken))).AsList();
    }

    /// <summary>
    /// Deletes up to <paramref name="batch"/> messages sent before <paramref name="cutoff"/> (retention). Seqs are
    /// never reused: max_seq stays where it is, so later messages keep counting up.
    /// </summary>
    public async Task<int> DeleteSentBeforeAsync(long cutoff, int batch, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await Database.BeginWriteAsync(connection, cancellationToken);

        // Files referenced only by expired messages stop being readable through them (and may then be swept).
        await connection.ExecuteAsync(new CommandDefinition(
            """
            DELETE FROM message_files WHERE EXISTS (SELECT 1 FROM messages m
                WHERE m.conversation_id = message_files.conversation_id AND m.seq = message_files.seq AND m.sent_at < @cutoff)
            """,
            new { cutoff },
            transaction,
            cancellationToken: cancellationToken));
        var deleted = await connection.ExecuteAsync(new CommandDefinition(
            """
            DELETE FROM messages WHERE (conversation_id, seq) IN
                (SELECT conversation_id, seq FROM messages WHERE sent_at < @cutoff LIMIT @batch)
            """,
            new { cutoff, batch },
            transaction,
            cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return deleted;
    }

    private static Task<ConversationRow?> FindDirectAsync(DbConnection connection, DbTransaction? transaction, long low, long high, CancellationToken cancellationToken) =>
        connection.QuerySingleOrDefaultAsync<ConversationRow>(new CommandDefinition(
            $"SELECT {ConversationColumns} FROM conversations WHERE type = 'direct' AND user_low = @low AND user_high = @high",
            new { low, high },
            transaction,
            cancellationToken: cancellationToken));
}
