-- Sweeping unused files and blobs. A blob's time becomes the last time an upload used it: an upload that
-- shares an existing blob refreshes it first, so the sweeper (which only removes blobs unused for a grace
-- period) can never remove a blob an upload is about to reference.

ALTER TABLE blobs RENAME COLUMN created_at TO used_at;

CREATE INDEX ix_blobs_used ON blobs (used_at);
CREATE INDEX ix_files_created ON files (created_at);
CREATE INDEX ix_users_avatar ON users (avatar_file_id);
CREATE INDEX ix_groups_avatar ON groups (avatar_file_id);
