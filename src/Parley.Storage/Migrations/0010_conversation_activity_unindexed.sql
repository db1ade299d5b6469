-- conversations.last_activity_at changes with every message, and its index cost each message two more pages
-- written (its old entry out of a leaf somewhere in the index, the new one in at the end; on PostgreSQL it also
-- kept every such update from being HOT). The one query that orders by it lists a user's own conversations,
-- which it finds through ix_conversation_members_user and sorts: the global index never narrowed that down.
DROP INDEX IF EXISTS ix_conversations_activity;
