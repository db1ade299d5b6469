-- Conversations and messages. A conversation numbers its messages 1, 2, 3, ... (seq), assigned in the
-- transaction that stores the message by incrementing conversations.max_seq.

CREATE TABLE conversations (
    id               BIGINT PRIMARY KEY,
    type             TEXT   NOT NULL, -- direct | group
    group_id         BIGINT NULL,
    -- direct conversations: the two users, lower id first (one conversation per pair)
    user_low         BIGINT NULL,
    user_high        BIGINT NULL,
    max_seq          BIGINT NOT NULL DEFAULT 0,
    last_activity_at BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);

CREATE UNIQUE INDEX ux_conversations_direct ON conversations (user_low, user_high) WHERE type = 'direct';
CREATE UNIQUE INDEX ux_conversations_group ON conversations (group_id) WHERE type = 'group';

-- Per user state in a conversation. A member sees the messages with seq > joined_seq.
CREATE TABLE conversation_members (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_seq      BIGINT NOT NULL,
    read_seq        BIGINT NOT NULL,
    -- the highest seq that mentioned this user; "mentioned" while it is above read_seq
    mention_seq     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);

CREATE INDEX ix_conversation_members_user ON conversation_members (user_id, conversation_id);
CREATE INDEX ix_conversations_activity ON conversations (last_activity_at, id);

CREATE TABLE messages (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    sender_id       BIGINT NOT NULL,
    client_msg_id   TEXT   NOT NULL,
    type            TEXT   NOT NULL,
    -- the content object as JSON; NULL once recalled
    content         TEXT   NULL,
    reply_to        BIGINT NULL,
    -- JSON array of user ids, or ["all"]; NULL when none
    mentions        TEXT   NULL,
    sent_at         BIGINT NOT NULL,
    recalled_at     BIGINT NULL,
    recalled_by     BIGINT NULL,
    PRIMARY KEY (conversation_id, seq)
);

-- A retried send returns the original.
CREATE UNIQUE INDEX ux_messages_client_id ON messages (sender_id, client_msg_id);

-- The highest seq each device has confirmed, per conversation (cumulative).
CREATE TABLE device_acks (
    session_id      BIGINT NOT NULL REFERENCES device_sessions (id) ON DELETE CASCADE,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    ack_seq         BIGINT NOT NULL,
    PRIMARY KEY (session_id, conversation_id)
);

-- Messages a user deleted for themself only.
CREATE TABLE message_hides (
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, seq)
);

-- Groups made before messaging get their conversation and member state now.
INSERT INTO conversations (id, type, group_id, max_seq, last_activity_at, created_at)
SELECT conversation_id, 'group', id, 0, created_at, created_at FROM groups;

INSERT INTO conversation_members (conversation_id, user_id, joined_seq, read_seq)
SELECT g.conversation_id, m.user_id, 0, 0 FROM group_members m JOIN groups g ON g.id = m.group_id;
