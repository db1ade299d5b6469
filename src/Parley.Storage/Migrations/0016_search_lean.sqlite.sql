-- Message search (docs/search.md), a cheaper index than 0014's: the same FTS5 trigram table, contentless, its rowid
-- the message's rowid, but
--   no insert trigger: the message writer (SqliteMessageAppender) inserts each new message's entry with its own
--     statement in the batch's transaction. A trigger makes the INSERT INTO messages a multi-table write, which
--     SQLite runs inside a statement savepoint, and FTS5 flushes its pending entries to a new segment at every
--     savepoint: one segment per message, then merged again and again (about 3/4 of the index's cost). From its
--     own single-row statement FTS5 keeps the batch's entries in memory and writes one segment at COMMIT. The
--     writer is the only code that inserts into messages; a new one must index too (docs/search.md).
--   detail = none: the index records which messages hold a trigram, not where (no position lists). A query of 3+
--     characters is the AND of its trigrams, and MessageSearchStore checks each candidate's text for the whole
--     substring (case folded) before it counts; the index only narrows.
--   columnsize = 0: no %_docsize row per message (only ranking functions read it; search orders by rowid).
--     FTS5 refuses contentless_delete with columnsize = 0, so an entry is removed by FTS5's 'delete' command,
--     given the text that was indexed: the triggers compute it from the old row with the writer's expression.
-- Both cut what FTS5 writes and re-merges per message (docs/benchmarks.md, "Search (issue 16)").
DROP TRIGGER messages_search_insert;
DROP TRIGGER messages_search_update;
DROP TRIGGER messages_search_reinsert;
DROP TRIGGER messages_search_delete;
DROP TABLE message_search;
-- (0016 has no messages_search_reinsert: its update trigger does both.)

CREATE VIRTUAL TABLE message_search USING fts5(body, tokenize = 'trigram', content = '', detail = none, columnsize = 0);

-- What is searched, per type: a text's text, a file's name, a link's title and description, a location's title
-- (the writer's statement computes the same). Recalls, retention deletes and cascades keep their triggers (they are
-- not on the message path); they must give FTS5 exactly what was indexed: the same expression over the old row
-- (content only ever changes to NULL, a recall).
-- One trigger, so that the old entry goes before the new one comes (a 'delete' after an insert of the same rowid
-- would take the new entry's shared trigrams with it). Only a recall updates content today (to NULL).
CREATE TRIGGER messages_search_update AFTER UPDATE OF content, type ON messages
BEGIN
    INSERT INTO message_search (message_search, rowid, body) SELECT 'delete', old.rowid, CASE old.type
        WHEN 'text' THEN json_extract(old.content, '$.text')
        WHEN 'file' THEN json_extract(old.content, '$.name')
        WHEN 'link' THEN concat_ws(' ', json_extract(old.content, '$.title'), json_extract(old.content, '$.description'))
        ELSE json_extract(old.content, '$.title') END
    WHERE old.content IS NOT NULL AND json_valid(old.content) AND old.type IN ('text', 'file', 'link', 'location');
    INSERT INTO message_search (rowid, body) SELECT new.rowid, CASE new.type
        WHEN 'text' THEN json_extract(new.content, '$.text')
        WHEN 'file' THEN json_extract(new.content, '$.name')
        WHEN 'link' THEN concat_ws(' ', json_extract(new.content, '$.title'), json_extract(new.content, '$.description'))
        ELSE json_extract(new.content, '$.title') END
    WHERE new.content IS NOT NULL AND json_valid(new.content) AND new.type IN ('text', 'file', 'link', 'location');
END;

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
WHEN old.content IS NOT NULL AND json_valid(old.content) AND old.type IN ('text', 'file', 'link', 'location')
BEGIN
    INSERT INTO message_search (message_search, rowid, body) VALUES ('delete', old.rowid, CASE old.type
        WHEN 'text' THEN json_extract(old.content, '$.text')
        WHEN 'file' THEN json_extract(old.content, '$.name')
        WHEN 'link' THEN concat_ws(' ', json_extract(old.content, '$.title'), json_extract(old.content, '$.description'))
        ELSE json_extract(old.content, '$.title') END);
END;

-- Every message stored so far, indexed again.
INSERT INTO message_search (rowid, body)
SELECT rowid, CASE type
        WHEN 'text' THEN json_extract(content, '$.text')
        WHEN 'file' THEN json_extract(content, '$.name')
        WHEN 'link' THEN concat_ws(' ', json_extract(content, '$.title'), json_extract(content, '$.description'))
        ELSE json_extract(content, '$.title') END
FROM messages WHERE content IS NOT NULL AND json_valid(content) AND type IN ('text', 'file', 'link', 'location');
