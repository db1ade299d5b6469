-- Message search (docs/search.md): a pg_trgm GIN index over the searchable text of each message, used by ILIKE
-- (substring, case-insensitive). An expression index needs no trigger: it is written in the transaction of every
-- insert, and a recall (content NULL) or a delete drops the message from it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- What is searched, per type: a text's text, a file's name, a link's title and description, a location's title.
-- Content is JSON the server validated, so the cast cannot fail.
CREATE FUNCTION parley_search_text(type TEXT, content TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE type
    WHEN 'text' THEN content::jsonb ->> 'text'
    WHEN 'file' THEN content::jsonb ->> 'name'
    WHEN 'link' THEN concat_ws(' ', content::jsonb ->> 'title', content::jsonb ->> 'description')
    WHEN 'location' THEN content::jsonb ->> 'title'
    END;

-- A small pending list (512 kB, not GIN's 4 MB): every search reads the unmerged list linearly, and under a steady
-- stream of messages it is never empty (4 MB: 157 ms per search over 1,000,000 messages, against 0.07 ms merged);
-- without one (fastupdate off) every insert updates the index in place, 2.5x the server CPU per message of the
-- pending list (docs/benchmarks.md, "Search (issue 16)").
CREATE INDEX ix_messages_search ON messages USING gin (parley_search_text(type, content) gin_trgm_ops)
    WITH (fastupdate = on, gin_pending_list_limit = 512)
    WHERE content IS NOT NULL AND type IN ('text', 'file', 'link', 'location');
