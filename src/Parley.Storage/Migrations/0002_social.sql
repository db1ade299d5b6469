-- Friends, blocks and groups.

CREATE TABLE friend_requests (
    id           BIGINT PRIMARY KEY,
    from_user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    to_user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message      TEXT   NULL,
    status       TEXT   NOT NULL, -- pending | accepted | declined
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- At most one pending request per direction.
CREATE UNIQUE INDEX ux_friend_requests_pending ON friend_requests (from_user_id, to_user_id) WHERE status = 'pending';
CREATE INDEX ix_friend_requests_to ON friend_requests (to_user_id, status, id);
CREATE INDEX ix_friend_requests_from ON friend_requests (from_user_id, status, id);

-- A friendship is two rows, one per side (each side keeps its own remark), always written and deleted together.
CREATE TABLE friendships (
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    friend_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    remark    TEXT   NULL,
    since     BIGINT NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);

CREATE TABLE blocks (
    blocker_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);

CREATE TABLE groups (
    id                 BIGINT PRIMARY KEY,
    conversation_id    BIGINT NOT NULL,
    name               TEXT   NOT NULL,
    description        TEXT   NOT NULL DEFAULT '',
    -- lower-cased name and description, for case-insensitive search
    search_text        TEXT   NOT NULL,
    announcement       TEXT   NOT NULL DEFAULT '',
    owner_id           BIGINT NOT NULL REFERENCES users (id),
    join_policy        TEXT   NOT NULL, -- open | approval | invite
    visibility         TEXT   NOT NULL, -- public | private
    members_can_invite INTEGER NOT NULL DEFAULT 0,
    member_count       INTEGER NOT NULL DEFAULT 0,
    temporary          INTEGER NOT NULL DEFAULT 0,
    idle_ttl_seconds   BIGINT NULL,
    last_activity_at   BIGINT NOT NULL,
    -- last_activity_at + idle_ttl_seconds for temporary groups, else NULL; the sweeper's index
    expires_at         BIGINT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE UNIQUE INDEX ux_groups_conversation ON groups (conversation_id);
CREATE INDEX ix_groups_expires ON groups (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX ix_groups_visibility ON groups (visibility, id);

CREATE TABLE group_tags (
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    tag      TEXT   NOT NULL,
    PRIMARY KEY (group_id, tag)
);

CREATE INDEX ix_group_tags_tag ON group_tags (tag, group_id);

CREATE TABLE group_members (
    group_id    BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT   NOT NULL, -- owner | admin | member
    joined_at   BIGINT NOT NULL,
    muted_until BIGINT NULL,
    PRIMARY KEY (group_id, user_id)
);

CREATE INDEX ix_group_members_user ON group_members (user_id, group_id);

-- Every stretch of membership, so messages can be limited to the time a user was a member.
CREATE TABLE group_membership_periods (
    id        BIGINT PRIMARY KEY,
    group_id  BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at BIGINT NOT NULL,
    left_at   BIGINT NULL
);

CREATE INDEX ix_group_membership_periods_member ON group_membership_periods (group_id, user_id);

CREATE TABLE group_join_requests (
    id         BIGINT PRIMARY KEY,
    group_id   BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message    TEXT   NULL,
    status     TEXT   NOT NULL, -- pending | approved | declined
    created_at BIGINT NOT NULL,
    decided_by BIGINT NULL,
    decided_at BIGINT NULL
);

CREATE UNIQUE INDEX ux_group_join_requests_pending ON group_join_requests (group_id, user_id) WHERE status = 'pending';
CREATE INDEX ix_group_join_requests_group ON group_join_requests (group_id, status, id);
