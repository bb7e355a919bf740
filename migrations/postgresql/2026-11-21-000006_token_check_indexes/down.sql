-- SQLite only.
SELECT 1;
