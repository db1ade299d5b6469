-- Cluster mode: moved in the same transaction as every change of a conversation's members, roles, mutes or group
-- (and, for a direct conversation, of the friendship and blocks between its two users), so a node whose cached view
-- of the conversation is older than the database's cannot commit a message on it (PostgresMessageAppender).
ALTER TABLE conversations ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
