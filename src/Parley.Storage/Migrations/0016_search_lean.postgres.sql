-- Nothing on PostgreSQL: version 16 changes only SQLite's search index (0016_search_lean.sqlite.sql).
SELECT 1;
