-- A media's ETag now derives from its stored object (SHA-256 over the chunks'
-- GCM tags), not from a SHA-256 of the plaintext. A plaintext digest kept in
-- the database would let anyone with a copy of the database, but not the
-- master key, confirm that a known file had been uploaded, so the old
-- values go; those rows answer with their SID as ETag (content never
-- changes under a SID), which costs clients one revalidation.
ALTER TABLE media RENAME COLUMN sha256 TO digest;
UPDATE media SET digest = NULL;
