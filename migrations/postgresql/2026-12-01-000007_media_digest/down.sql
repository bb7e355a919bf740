-- The plaintext digests are gone for good; rows keep their ETag source.
ALTER TABLE media RENAME COLUMN digest TO sha256;
