-- Retention deletes by send time.
CREATE INDEX ix_messages_sent_at ON messages (sent_at);
