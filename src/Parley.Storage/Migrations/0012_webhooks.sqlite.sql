-- Webhooks' durable outbox (docs/integration.md, "Webhooks"): a row is written in the transaction of the change it
-- reports, and deleted once a receiver answered 2xx. `stream` orders delivery (a conversation's id, or a user's);
-- message.created rows carry no data: the message is read by (conversation_id, seq) when it is sent.
-- failed_at set: the event used up Webhooks:MaxAttempts and waits aside for a replay.
CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    stream INTEGER NOT NULL,
    conversation_id INTEGER,
    seq INTEGER,
    data TEXT,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    failed_at INTEGER,
    last_error TEXT
);
CREATE INDEX ix_webhook_outbox_stream ON webhook_outbox (stream, id) WHERE failed_at IS NULL;
CREATE INDEX ix_webhook_outbox_failed ON webhook_outbox (id) WHERE failed_at IS NOT NULL;
