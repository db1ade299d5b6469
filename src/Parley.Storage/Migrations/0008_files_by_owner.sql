-- The daily upload quota sums one user's uploads of the last 24 hours (Files:DailyBytesPerUser).
CREATE INDEX ix_files_owner_created ON files (owner_id, created_at);
