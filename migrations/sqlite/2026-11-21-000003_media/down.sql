ALTER TABLE services DROP COLUMN media_compatibility_message;
ALTER TABLE messages DROP COLUMN media;
DROP TRIGGER media_deleted;
DROP TABLE storage_deletions;
DROP TABLE media;
