DROP TRIGGER media_deleted;
CREATE TRIGGER media_deleted AFTER DELETE ON media
BEGIN
    INSERT INTO storage_deletions (object_key, date_created)
    VALUES (OLD.object_key, CAST(strftime('%s', 'now') AS INTEGER))
    ON CONFLICT (object_key) DO NOTHING;
END;
ALTER TABLE storage_deletions DROP COLUMN multipart_id;
ALTER TABLE media DROP COLUMN multipart_id;
