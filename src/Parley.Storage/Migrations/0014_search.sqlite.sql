-- Message search (docs/search.md): an FTS5 index with the trigram tokenizer (substring matches, case-insensitive,
-- CJK without spaces). Contentless: it holds the index only, not a second copy of the text; its rowid is the
-- message's rowid (messages is a rowid table; Parley never VACUUMs, the one thing that could renumber them).
-- Triggers keep it in step in the transaction of every write to messages: the writer's batch inserts, a recall
-- (content set to NULL), retention deletes and the cascade of a dissolved group.
CREATE VIRTUAL TABLE message_search USING fts5(body, tokenize = 'trigram', content = '', contentless_delete = 1);

-- What is searched, per type: a text's text, a file's name, a link's title and description, a location's title.
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
WHEN new.content IS NOT NULL AND json_valid(new.content) AND new.type IN ('text', 'file', 'link', 'location')
BEGIN
    INSERT INTO message_search (rowid, body) VALUES (new.rowid, CASE new.type
        WHEN 'text' THEN json_extract(new.content, '$.text')
        WHEN 'file' THEN json_extract(new.content, '$.name')
        WHEN 'link' THEN concat_ws(' ', json_extract(new.content, '$.title'), json_extract(new.content, '$.description'))
        ELSE json_extract(new.content, '$.title') END);
END;

CREATE TRIGGER messages_search_update AFTER UPDATE OF content, type ON messages
WHEN old.content IS NOT NULL AND json_valid(old.content) AND old.type IN ('text', 'file', 'link', 'location')
BEGIN
    DELETE FROM message_search WHERE rowid = old.rowid;
END;

CREATE TRIGGER messages_search_reinsert AFTER UPDATE OF content, type ON messages
WHEN new.content IS NOT NULL AND json_valid(new.content) AND new.type IN ('text', 'file', 'link', 'location')
BEGIN
    INSERT INTO message_search (rowid, body) VALUES (new.rowid, CASE new.type
        WHEN 'text' THEN json_extract(new.content, '$.text')
        WHEN 'file' THEN json_extract(new.content, '$.name')
        WHEN 'link' THEN concat_ws(' ', json_extract(new.content, '$.title'), json_extract(new.content, '$.description'))
        ELSE json_extract(new.content, '$.title') END);
END;

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
WHEN old.content IS NOT NULL AND json_valid(old.content) AND old.type IN ('text', 'file', 'link', 'location')
BEGIN
    DELETE FROM message_search WHERE rowid = old.rowid;
END;

-- Messages stored before this migration.
INSERT INTO message_search (rowid, body)
SELECT rowid, CASE type
        WHEN 'text' THEN json_extract(content, '$.text')
        WHEN 'file' THEN json_extract(content, '$.name')
        WHEN 'link' THEN concat_ws(' ', json_extract(content, '$.title'), json_extract(content, '$.description'))
        ELSE json_extract(content, '$.title') END
FROM messages WHERE content IS NOT NULL AND json_valid(content) AND type IN ('text', 'file', 'link', 'location');
