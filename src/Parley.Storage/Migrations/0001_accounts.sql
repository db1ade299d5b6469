-- Accounts and device sessions. Times are Unix epoch milliseconds; ids are 64-bit (see IdGenerator).

CREATE TABLE users (
    id              BIGINT PRIMARY KEY,
    username        TEXT   NOT NULL,
    -- lower-cased username: uniqueness and lookups are case-insensitive
    username_key    TEXT   NOT NULL,
    nickname        TEXT   NOT NULL,
    -- lower-cased nickname for case-insensitive search
    nickname_key    TEXT   NOT NULL,
    email           TEXT   NULL,
    bio             TEXT   NOT NULL DEFAULT '',
    avatar_file_id  BIGINT NULL,
    password_hash   TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE UNIQUE INDEX ux_users_username_key ON users (username_key);

-- Tags are a relation, so "all of these tags" is an indexed query rather than string matching.
CREATE TABLE user_tags (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tag     TEXT   NOT NULL,
    PRIMARY KEY (user_id, tag)
);

CREATE INDEX ix_user_tags_tag ON user_tags (tag, user_id);

-- One row per login: deviceId on the wire is this id, and per-device delivery state hangs on it.
CREATE TABLE device_sessions (
    id             BIGINT PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_name    TEXT   NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    revoked_at     BIGINT NULL,
    revoked_reason TEXT   NULL
);

CREATE INDEX ix_device_sessions_user ON device_sessions (user_id);

-- Refresh tokens are stored only as SHA-256 hashes. A retired token is kept (retired_at set) so that
-- presenting it again is recognised as reuse and kills the session.
CREATE TABLE refresh_tokens (
    token_hash  TEXT   PRIMARY KEY,
    session_id  BIGINT NOT NULL REFERENCES device_sessions (id) ON DELETE CASCADE,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    retired_at  BIGINT NULL
);

CREATE INDEX ix_refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX ix_refresh_tokens_expires ON refresh_tokens (expires_at);
