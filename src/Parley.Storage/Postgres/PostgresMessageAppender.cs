using Npgsql;
using NpgsqlTypes;
using Parley.Storage.Messaging;

namespace Parley.Storage.Postgres;

/// <summary>
/// The message writer on PostgreSQL, where several Parley nodes may write the same conversations at once and
/// the database assigns the seq in the committing transaction. A batch is one round trip whatever its size
/// and content: one prepared batch of BEGIN, two statements and COMMIT (the commit in the same round trip halves
/// the round trips, and the wake-ups of both processes, of a single-message batch).
/// <list type="number">
/// <item>Lock the batch's conversations in id order (FOR NO KEY UPDATE, so foreign-key checks of acks and
/// members are not blocked): every writer takes them in that order, so two nodes' batches queue instead of
/// deadlocking, and whoever comes second sees the first's seqs and clientMsgIds.</item>
/// <item>One statement (data-modifying CTEs over unnest()ed arrays, its snapshot taken after the locks):
/// clientMsgIds already stored are returned as they are; senders still members get their messages, numbered
/// after the conversation's max_seq in batch order, with one max_seq bump per conversation; the files they
/// reference; and one update per member row for the sender's read marker and the mentions.</item>
/// </list>
/// A message checked against a conversation view (cluster mode: <see cref="NewMessage.MembersVersion"/>) is stored
/// only while the conversation row still holds that version: a node whose view is older than a change committed on
/// another node (a removal, a block) gets nothing stored, reloads and checks again. Every such change moves the
/// version in its own transaction, and the version is read here after the row lock, so the commit decides.
/// A clientMsgId repeated within the batch is sent once; its repeats return the original.
/// </summary>
internal sealed class PostgresMessageAppender(Database database)
{
    private const string LockSql = "SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE";

    private const string AppendSql = AppendCtes + AppendResults;

    /// <summary>With webhooks wanting message.created: the same statement with the outbox rows inserted by one more CTE.</summary>
    private const string AppendWithOutboxSql =
        AppendCtes
        + ","
        + """

        o AS (
            INSERT INTO webhook_outbox (type, stream, conversation_id, seq, created_at, next_attempt_at)
            SELECT 'message.created', conv, conv, seq, sent_at, sent_at FROM s ORDER BY idx)
        """
        + AppendResults;

    private const string AppendCtes =
        $"""
        WITH b0 AS (
            SELECT * FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bigint[], $10::boolean[], $15::bigint[])
                AS b(idx, conv, sender, cmid, type, content, reply_to, mentions, sent_at, mention_all, members_version)),
        e AS (
            SELECT b0.idx, x.conversation_id, x.seq, x.sender_id, x.client_msg_id, x.type, x.content, x.reply_to, x.mentions, x.sent_at, x.recalled_at, x.recalled_by
            FROM b0 JOIN messages x ON x.sender_id = b0.sender AND x.client_msg_id = b0.cmid),
        b AS (
            SELECT b0.*,
                   row_number() OVER w AS k,
                   count(*) OVER (PARTITION BY b0.conv) AS n,
                   last_value(b0.sent_at) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_at
            FROM b0
            WHERE NOT EXISTS (SELECT 1 FROM e WHERE e.idx = b0.idx)
              AND EXISTS (SELECT 1 FROM conversation_members m WHERE m.conversation_id = b0.conv AND m.user_id = b0.sender)
              AND (b0.members_version < 0 OR b0.members_version = (SELECT cv.members_version FROM conversations cv WHERE cv.id = b0.conv))
            WINDOW w AS (PARTITION BY b0.conv ORDER BY b0.idx)),
        c AS (
            UPDATE conversations c SET max_seq = c.max_seq + g.n, last_activity_at = g.last_at
            FROM (SELECT DISTINCT conv, n, last_at FROM b) g
            WHERE c.id = g.conv
            RETURNING c.id, c.max_seq - g.n AS base),
        s AS (
            SELECT b.*, c.base + b.k AS seq FROM b JOIN c ON c.id = b.conv),
        i AS (
            INSERT INTO messages ({AppendBatch.MessageColumns})
            SELECT conv, seq, sender, cmid, type, content, reply_to, mentions, sent_at, NULL, NULL FROM s),
        f AS (
            INSERT INTO message_files (file_id, conversation_id, seq)
            SELECT DISTINCT x.file_id, s.conv, s.seq FROM unnest($13::int[], $14::bigint[]) AS x(idx, file_id) JOIN s ON s.idx = x.idx
            ON CONFLICT DO NOTHING),
        t AS (
            SELECT conv, user_id, max(read_to) AS read_to, max(mention) AS mention FROM (
                SELECT s.conv, s.sender AS user_id, s.seq AS read_to, 0::bigint AS mention FROM s
                UNION ALL
                SELECT s.conv, x.user_id, 0, s.seq FROM unnest($11::int[], $12::bigint[]) AS x(idx, user_id) JOIN s ON s.idx = x.idx
                UNION ALL
                SELECT s.conv, m.user_id, 0, s.seq FROM s JOIN conversation_members m ON m.conversation_id = s.conv AND m.user_id <> s.sender
                WHERE s.mention_all) u
            GROUP BY conv, user_id),
        r AS (
            UPDATE conversation_members m SET read_seq = GREATEST(m.read_seq, t.read_to), mention_seq = GREATEST(m.mention_seq, t.mention)
            FROM t
            WHERE m.conversation_id = t.conv AND m.user_id = t.user_id AND (m.read_seq < t.read_to OR m.mention_seq < t.mention))
        """;

    private const string AppendResults =
        """

        SELECT idx, true AS created, NULL::bigint AS conversation_id, seq, NULL::bigint AS sender_id, NULL::text AS client_msg_id, NULL::text AS type,
               NULL::text AS content, NULL::bigint AS reply_to, NULL::text AS mentions, NULL::bigint AS sent_at, NULL::bigint AS recalled_at, NULL::bigint AS recalled_by
        FROM s
        UNION ALL
        SELECT idx, false, conversation_id, seq, sender_id, client_msg_id, type, content, reply_to, mentions, sent_at, recalled_at, recalled_by FROM e
        """;

    public async Task<AppendResult[]> AppendAsync(IReadOnlyList<NewMessage> batch, CancellationToken cancellationToken)
    {
        var results = new AppendResult[batch.Count];
        var repeats = AppendBatch.Repeats(batch);
        var count = 0;
        foreach (var r in repeats)
        {
            count += r < 0 ? 1 : 0;
        }

        var idx = new int[count];
        var conv = new long[count];
        var sender = new long[count];
        var cmid = new string[count];
        var type = new string[count];
        var content = new string[count];
        var replyTo = new long?[count];
        var mentions = new string?[count];
        var sentAt = new long[count];
        var mentionAll = new bool[count];
        var membersVersion = new long[count];
        List<int>? mentionIdx = null, fileIdx = null;
        List<long>? mentionUser = null, fileId = null;
        var n = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            if (repeats[i] >= 0)
            {
                continue;
            }

            var m = batch[i];
            idx[n] = i;
            conv[n] = m.ConversationId;
            sender[n] = m.SenderId;
            cmid[n] = m.ClientMsgId;
            type[n] = m.Type;
            content[n] = m.Content;
            replyTo[n] = m.ReplyTo;
            mentions[n] = m.Mentions;
            sentAt[n] = m.SentAt;
            mentionAll[n] = m.MentionsAll;
            membersVersion[n] = m.MembersVersion;
            if (!m.MentionsAll)
            {
                foreach (var userId in m.MentionedUserIds)
                {
                    (mentionIdx ??= []).Add(i);
                    (mentionUser ??= []).Add(userId);
                }
            }

            foreach (var file in m.FileIds)
            {
                (fileIdx ??= []).Add(i);
                (fileId ??= []).Add(file);
            }

            n++;
        }

        var conversations = conv.Distinct().Order().ToArray();

        await using var connection = (NpgsqlConnection)await database.OpenWriterAsync(cancellationToken);
        await using var command = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("BEGIN"),
                new NpgsqlBatchCommand(LockSql) { Parameters = { Array(conversations) } },
                new NpgsqlBatchCommand(database.Outbox.MessagesCreated ? AppendWithOutboxSql : AppendSql)
                {
                    Parameters =
                    {
                        Array(idx), Array(conv), Array(sender), Array(cmid), Array(type), Array(content),
                        new NpgsqlParameter<long?[]> { TypedValue = replyTo, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint },
                        new NpgsqlParameter<string?[]> { TypedValue = mentions, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
                        Array(sentAt), Array(mentionAll),
                        Array(mentionIdx?.ToArray() ?? []), Array(mentionUser?.ToArray() ?? []),
                        Array(fileIdx?.ToArray() ?? []), Array(fileId?.ToArray() ?? []),
                        Array(membersVersion),
                    },
                },
                new NpgsqlBatchCommand("COMMIT"),
            },
        };

        // A failure inside the batch makes PostgreSQL skip the rest, COMMIT included; Npgsql rolls the aborted
        // transaction back when the connection returns to the pool (MessageAppendTests: the next batch commits).
        await command.PrepareAsync(cancellationToken);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken); // at the lock's rows: BEGIN returns none
        while (await reader.ReadAsync(cancellationToken))
        {
            // the locked conversation ids
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var i = reader.GetInt32(0);
            results[i] = reader.GetBoolean(1)
                ? new AppendResult(AppendBatch.RowOf(batch[i], reader.GetInt64(3)), true)
                : new AppendResult(StoredRow(reader), false);
        }

        // COMMIT's own result: a failed commit throws here, so nothing is answered for a batch that did not commit.
        while (await reader.NextResultAsync(cancellationToken))
        {
        }

        // A message neither stored before nor now: its sender is no longer a member (results[i] stays (null, false)).
        AppendBatch.FillRepeats(results, repeats);
        return results;
    }

    private static MessageRow StoredRow(NpgsqlDataReader reader) => new()
    {
        ConversationId = reader.GetInt64(2),
        Seq = reader.GetInt64(3),
        SenderId = reader.GetInt64(4),
        ClientMsgId = reader.GetString(5),
        Type = reader.GetString(6),
        Content = reader.IsDBNull(7) ? null : reader.GetString(7),
        ReplyTo = reader.IsDBNull(8) ? null : reader.GetInt64(8),
        Mentions = reader.IsDBNull(9) ? null : reader.GetString(9),
        SentAt = reader.GetInt64(10),
        RecalledAt = reader.IsDBNull(11) ? null : reader.GetInt64(11),
        RecalledBy = reader.IsDBNull(12) ? null : reader.GetInt64(12),
    };

    private static NpgsqlParameter<T[]> Array<T>(T[] values) => new() { TypedValue = values };
}
