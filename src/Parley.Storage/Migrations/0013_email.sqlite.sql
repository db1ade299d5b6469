-- Email verification and password reset (docs/email.md).
-- email_verified_at: when the address in users.email was proven by a mailed code (null: never, or not yet).
ALTER TABLE users ADD COLUMN email_verified_at BIGINT NULL;
-- The lower-cased verified address, set only once verified: a password reset finds exactly one account per address.
ALTER TABLE users ADD COLUMN verified_email_key TEXT NULL;
CREATE UNIQUE INDEX ux_users_verified_email ON users (verified_email_key) WHERE verified_email_key IS NOT NULL;

-- One live code per account and purpose ('verify' or 'reset'); a new one replaces it. Only an HMAC of the code is
-- stored; attempts counts every try, and the code dies at expires_at or after Email:MaxTries tries.
CREATE TABLE email_codes (
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    code_hash  TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, purpose)
);
CREATE INDEX ix_email_codes_expires ON email_codes (expires_at);
