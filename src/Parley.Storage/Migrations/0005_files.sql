-- Uploaded files. Bytes live in a content-addressed blob store (DataDir/blobs): identical bytes are stored
-- once, yet every upload has its own file record.

CREATE TABLE blobs (
    blob_key   TEXT   PRIMARY KEY,  -- sha256 hex, size and a collision counter: "<sha256>-<size>-<n>"
    sha256     TEXT   NOT NULL,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX ix_blobs_hash ON blobs (sha256, size);

CREATE TABLE files (
    id            BIGINT  PRIMARY KEY,
    owner_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    size          BIGINT  NOT NULL,
    content_type  TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    blob_key      TEXT    NOT NULL REFERENCES blobs (blob_key),
    width         INTEGER NULL,
    height        INTEGER NULL,
    thumbnail_key TEXT    NULL REFERENCES blobs (blob_key),
    created_at    BIGINT  NOT NULL
);

CREATE INDEX ix_files_blob ON files (blob_key);
CREATE INDEX ix_files_thumbnail ON files (thumbnail_key);

-- Which messages reference which files: members of those conversations may read the file.
CREATE TABLE message_files (
    file_id         BIGINT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    PRIMARY KEY (file_id, conversation_id, seq)
);

ALTER TABLE groups ADD COLUMN avatar_file_id BIGINT NULL;
