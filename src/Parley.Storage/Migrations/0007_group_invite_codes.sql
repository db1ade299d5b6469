-- Invite codes of groups. Only a code's SHA-256 is stored: a copy of the database (a backup, a leak) holds no
-- code anyone could join with. A plain hash is enough because codes are 144 random bits, far beyond guessing.
CREATE TABLE group_invite_codes (
    code_hash  TEXT    PRIMARY KEY, -- lower-case hex SHA-256 of the code
    group_id   BIGINT  NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    created_by BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    max_uses   INTEGER NULL, -- NULL: any number of uses until it expires
    uses       INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX ix_group_invite_codes_group ON group_invite_codes (group_id, expires_at);
