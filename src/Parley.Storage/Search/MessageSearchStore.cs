using System.Globalization;
using System.Text;
using System.Text.Json;
using Dapper;
using Parley.Storage.Messaging;

namespace Parley.Storage.Search;

/// <summary>
/// Message search (docs/search.md) over the index of migrations 0014 and 0016: SQLite's FTS5 trigram table
/// <c>message_search</c> (kept in step by triggers on <c>messages</c>; <c>detail=none</c>, so a match is a candidate
/// whose text is checked here), PostgreSQL's pg_trgm GIN index on
/// <c>parley_search_text(type, content)</c>. Only messages of conversations the user is a member of, above their
/// join position (the rule history reads apply), not recalled, not hidden for them and not older than the
/// retention cutoff; newest first. Queries of fewer than 3 characters (no trigram to look up) scan, without the
/// index, the newest <c>shortQueryDepth</c> messages of each of the user's conversations.
/// </summary>
public sealed class MessageSearchStore(Database database)
{
    /// <summary>The message types whose content is searched (the migration's list).</summary>
    private const string SearchedTypes = "m.content IS NOT NULL AND m.type IN ('text', 'file', 'link', 'location')";

    /// <summary>SQLite's searched text of a message (the migration's trigger expression), for the short-query scan.</summary>
    private const string SqliteText =
        """
        CASE m.type
            WHEN 'text' THEN json_extract(m.content, '$.text')
            WHEN 'file' THEN json_extract(m.content, '$.name')
            WHEN 'link' THEN concat_ws(' ', json_extract(m.content, '$.title'), json_extract(m.content, '$.description'))
            ELSE json_extract(m.content, '$.title') END
        """;

    private const string NotHidden =
        "NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.user_id = @userId AND h.conversation_id = m.conversation_id AND h.seq = m.seq)";

    private static readonly string Columns = Sql.Prefixed(AppendBatch.MessageColumns, "m");

    /// <summary>Code points a query needs for the index (a trigram); shorter ones scan.</summary>
    public const int IndexedQueryLength = 3;

    /// <summary>
    /// Whether <paramref name="cursor"/> is one this store issued (a position in its newest-first order);
    /// null means the first page.
    /// </summary>
    public bool TryParseCursor(string? cursor, out SearchPosition position)
    {
        position = SearchPosition.Start;
        if (cursor is null)
        {
            return true;
        }

        var parts = cursor.Split('.');
        var values = new long[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]))
            {
                return false;
            }
        }

        // SQLite: the message's rowid (commit order); PostgreSQL: (sentAt, conversationId, seq).
        if (database.Provider == StorageProvider.Sqlite ? values.Length != 1 : values.Length != 3)
        {
            return false;
        }

        position = values.Length == 1 ? new SearchPosition(values[0], 0, 0) : new SearchPosition(values[0], values[1], values[2]);
        return true;
    }

    /// <summary>
    /// One page of matches for <paramref name="query"/> (at least 2 code points), newest first, after
    /// <paramref name="after"/>: at most <paramref name="limit"/> rows and about <paramref name="maxBytes"/> of JSON
    /// (at least one row), and the cursor of the next page (null when this is the last).
    /// </summary>
    public async Task<(IReadOnlyList<MessageRow> Rows, string? NextCursor)> SearchAsync(
        long userId,
        long? conversationId,
        string query,
        SearchPosition after,
        int limit,
        long maxBytes,
        long sentAfter,
        int shortQueryDepth,
        CancellationToken cancellationToken)
    {
        var indexed = CodePoints(query) >= IndexedQueryLength;
        var sqlite = database.Provider == StorageProvider.Sqlite;
        var scope = conversationId is null ? "" : " AND cm.conversation_id = @conversationId";
        string sql;
        if (sqlite)
        {
            // Newest first is rowid order (commit order). The FTS table drives (CROSS JOIN fixes the join order), walked
            // backwards from the cursor, so a page stops at its last match instead of sorting every match. The index
            // holds no positions (detail=none): it yields the messages holding every trigram of the query, and the
            // loop below keeps those whose text holds the query itself; no LIMIT, the loop stops reading instead.
            sql = indexed
                ? $"""
                   SELECT message_search.rowid AS search_key, {Columns}
                   FROM message_search
                   CROSS JOIN messages m ON m.rowid = message_search.rowid
                   CROSS JOIN conversation_members cm ON cm.conversation_id = m.conversation_id AND cm.user_id = @userId
                   WHERE message_search MATCH @match AND message_search.rowid < @k1
                     AND m.seq > cm.joined_seq AND m.recalled_at IS NULL AND m.sent_at >= @sentAfter{scope} AND {NotHidden}
                   ORDER BY message_search.rowid DESC
                   """
                : $"""
                   SELECT m.rowid AS search_key, {Columns}
                   FROM conversation_members cm
                   JOIN conversations c ON c.id = cm.conversation_id
                   JOIN messages m ON m.conversation_id = cm.conversation_id AND m.seq > max(cm.joined_seq, c.max_seq - @depth)
                   WHERE cm.user_id = @userId{scope} AND m.rowid < @k1 AND {SearchedTypes} AND m.recalled_at IS NULL AND m.sent_at >= @sentAfter
                     AND instr(lower({SqliteText}), lower(@query)) > 0 AND {NotHidden}
                   ORDER BY m.rowid DESC LIMIT @read
                   """;
        }
        else
        {
            var position = after == SearchPosition.Start ? "" : " AND (m.sent_at, m.conversation_id, m.seq) < (@k1, @k2, @k3)";
            sql = indexed
                ? $"""
                   SELECT 0 AS search_key, {Columns}
                   FROM conversation_members cm
                   JOIN messages m ON m.conversation_id = cm.conversation_id AND m.seq > cm.joined_seq
                   WHERE cm.user_id = @userId{scope} AND {SearchedTypes} AND parley_search_text(m.type, m.content) ILIKE @pattern
                     AND m.recalled_at IS NULL AND m.sent_at >= @sentAfter{position} AND {NotHidden}
                   ORDER BY m.sent_at DESC, m.conversation_id DESC, m.seq DESC LIMIT @read
                   """
                : $"""
                   SELECT 0 AS search_key, {Columns}
                   FROM conversation_members cm
                   JOIN conversations c ON c.id = cm.conversation_id
                   JOIN messages m ON m.conversation_id = cm.conversation_id AND m.seq > GREATEST(cm.joined_seq, c.max_seq - @depth)
                   WHERE cm.user_id = @userId{scope} AND {SearchedTypes} AND m.recalled_at IS NULL AND m.sent_at >= @sentAfter{position}
                     AND strpos(lower(parley_search_text(m.type, m.content)), lower(@query)) > 0 AND {NotHidden}
                   ORDER BY m.sent_at DESC, m.conversation_id DESC, m.seq DESC LIMIT @read
                   """;
        }

        var parameters = new
        {
            userId,
            conversationId,
            query,
            match = sqlite && indexed ? SqliteMatch(query) : null,
            // PostgreSQL: ILIKE's wildcards and escape character in the query match literally (backslash is the default escape).
            pattern = "%" + Sql.EscapeLike(query) + "%",
            k1 = sqlite && after == SearchPosition.Start ? long.MaxValue : after.K1,
            k2 = after.K2,
            k3 = after.K3,
            sentAfter,
            depth = (long)shortQueryDepth,
            read = limit + 1,
        };

        await using var connection = await database.OpenAsync(cancellationToken);
        // PostgreSQL: planned for this query's pattern every time. Statements are auto-prepared (Database.Create), and
        // after five runs a prepared statement may switch to a generic plan, which cannot weigh a pattern against the
        // trigram index and scans every visible message instead (190 ms over 1,000,000 messages, against 1 ms).
        await using var transaction = sqlite ? null : await connection.BeginTransactionAsync(cancellationToken);
        if (transaction is not null)
        {
            await connection.ExecuteAsync(new CommandDefinition("SET LOCAL plan_cache_mode = force_custom_plan", transaction: transaction, cancellationToken: cancellationToken));
        }

        // SQLite's index candidates, checked against the query folded as the trigram tokenizer folds (lowercase).
        var check = sqlite && indexed ? query.ToLowerInvariant() : null;
        var rows = new List<MessageRow>();
        var bytes = 0L;
        MessageRow? last = null;
        var lastKey = 0L;
        var hasMore = false;
        await using (var reader = await connection.ExecuteReaderAsync(new CommandDefinition(sql, parameters, transaction, cancellationToken: cancellationToken)))
        {
            // The message's columns as every other read maps them; beside them, SQLite's cursor (the index's rowid).
            var parse = reader.GetRowParser<MessageRow>();
            var key = reader.GetOrdinal("search_key");
            while (await reader.ReadAsync(cancellationToken))
            {
                var message = parse(reader);
                if (check is not null && !Contains(message, check))
                {
                    continue;
                }

                var size = message.ApproximateJsonBytes();
                if (rows.Count == limit || (rows.Count > 0 && bytes + size > maxBytes))
                {
                    hasMore = true;
                    break;
                }

                rows.Add(message);
                bytes += size;
                last = message;
                lastKey = sqlite ? reader.GetInt64(key) : 0;
            }
        }

        if (transaction is not null)
        {
            await transaction.CommitAsync(cancellationToken);
        }

        string? next = null;
        if (hasMore && last is not null)
        {
            next = sqlite
                ? lastKey.ToString(CultureInfo.InvariantCulture)
                : string.Create(CultureInfo.InvariantCulture, $"{last.SentAt}.{last.ConversationId}.{last.Seq}");
        }

        return (rows, next);
    }

    /// <summary>
    /// SQLite: the FTS5 query for <paramref name="query"/> (at least 3 code points): each distinct trigram of it as a
    /// quoted term (quotes doubled, so every character is literal), all required. The index (detail=none) knows which
    /// messages hold a trigram, not where, so this finds a superset: <see cref="Contains"/> decides.
    /// </summary>
    public static string SqliteMatch(string query)
    {
        var runes = new List<string>();
        foreach (var rune in query.EnumerateRunes())
        {
            runes.Add(rune.ToString());
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var match = new StringBuilder();
        for (var i = 0; i + IndexedQueryLength <= runes.Count; i++)
        {
            var trigram = string.Concat(runes[i], runes[i + 1], runes[i + 2]);
            if (!seen.Add(trigram.ToLowerInvariant()))
            {
                continue;
            }

            if (match.Length > 0)
            {
                match.Append(" AND ");
            }

            match.Append('"').Append(trigram.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
        }

        return match.ToString();
    }

    /// <summary>
    /// Whether the searchable text of <paramref name="message"/> (the migration's per-type rule) holds
    /// <paramref name="folded"/> (a query already lowercased), compared lowercased: the trigram tokenizer's case folding.
    /// </summary>
    private static bool Contains(MessageRow message, string folded)
    {
        if (message.Content is not { } content)
        {
            return false;
        }

        using var json = JsonDocument.Parse(content);
        var root = json.RootElement;
        var text = message.Type switch
        {
            "text" => Field(root, "text"),
            "file" => Field(root, "name"),
            "link" => (Field(root, "title"), Field(root, "description")) switch
            {
                ({ } title, { } description) => title + " " + description,
                (var title, var description) => title ?? description,
            },
            _ => Field(root, "title"),
        };
        return text is not null && text.ToLowerInvariant().Contains(folded, StringComparison.Ordinal);

        // json_extract's value as the index saw it: a string's text, another value's JSON (null when absent or null).
        static string? Field(JsonElement root, string name) =>
            root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var value)
                ? value.ValueKind switch
                {
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.Null => null,
                    _ => value.GetRawText(),
                }
                : null;
    }

    /// <summary>Unicode code points (what a trigram counts), not UTF-16 units.</summary>
    public static int CodePoints(string text)
    {
        var count = 0;
        foreach (var _ in text.EnumerateRunes())
        {
            count++;
        }

        return count;
    }
}

/// <summary>A position in a store's newest-first search order (its meaning is the store's: see <see cref="MessageSearchStore.TryParseCursor"/>).</summary>
public readonly record struct SearchPosition(long K1, long K2, long K3)
{
    public static readonly SearchPosition Start = new(-1, -1, -1);
}
