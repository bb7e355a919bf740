-- SQLite only: covering indexes for the reads of every access-token request,
-- whose page caches every SQLite commit empties. PostgreSQL keeps shared
-- buffers across commits. (A statement, since PostgreSQL refuses an empty
-- migration.)
SELECT 1;
