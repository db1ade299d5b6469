-- Offline notifications (docs/push.md). A push target is an endpoint a device session registered; it goes with its
-- session (revocation: the stores skip targets of revoked sessions and the push sweeper deletes them; a deleted
-- session or user: the cascade). One row per endpoint per user: registering it again from another session moves it.
-- Pushes are rows of type 'push' in webhook_outbox (stream = the target's id, data = the payload), drained by the
-- webhook sender.
CREATE TABLE push_targets (
    id         BIGINT  PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id BIGINT  NOT NULL REFERENCES device_sessions (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    endpoint   TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX ux_push_targets_endpoint ON push_targets (user_id, endpoint);
CREATE INDEX ix_push_targets_session ON push_targets (session_id);

-- A member's own mute of a conversation (PATCH /api/conversations/{id} {muted}): no offline notifications for it.
ALTER TABLE conversation_members ADD COLUMN muted SMALLINT NOT NULL DEFAULT 0;
