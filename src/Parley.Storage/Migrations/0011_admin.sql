-- The app-server surface (issue 15): users imported with the business system's own id, disabled accounts, and
-- reports that members make about messages.

-- The app server's id for the user; unique where given (NULLs are distinct in a unique index on both engines).
ALTER TABLE users ADD COLUMN external_id TEXT NULL;
-- Set while an operator has disabled the account: no login, no refresh, every session revoked.
ALTER TABLE users ADD COLUMN disabled_at BIGINT NULL;

CREATE UNIQUE INDEX ux_users_external_id ON users (external_id);

-- A member's report about one message. The message's content at report time is kept with it, so a recall
-- afterwards does not take the evidence away from whoever resolves the report.
CREATE TABLE reports (
    id              BIGINT PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    reporter_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sender_id       BIGINT NOT NULL,
    message_type    TEXT   NOT NULL,
    content         TEXT   NULL,
    reason          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    resolved_at     BIGINT NULL,
    resolved_note   TEXT   NULL
);

-- One report per reporter and message: reporting again changes nothing.
CREATE UNIQUE INDEX ux_reports_reporter_message ON reports (reporter_id, conversation_id, seq);
-- The admin list: open reports first, each state in id order.
CREATE INDEX ix_reports_state ON reports (resolved_at, id);
