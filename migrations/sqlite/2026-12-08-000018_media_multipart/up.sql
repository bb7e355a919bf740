-- An upload's multipart upload id while its parts go up (cleared when the object completes):
-- when the process dies mid-upload, the row's deletion hands the id to storage_deletions and
-- the collector aborts the upload, whose parts the store would otherwise keep (and bill).
ALTER TABLE media ADD COLUMN multipart_id TEXT;
ALTER TABLE storage_deletions ADD COLUMN multipart_id TEXT;

DROP TRIGGER media_deleted;
CREATE TRIGGER media_deleted AFTER DELETE ON media
BEGIN
    INSERT INTO storage_deletions (object_key, date_created, multipart_id)
    VALUES (OLD.object_key, CAST(strftime('%s', 'now') AS INTEGER), OLD.multipart_id)
    ON CONFLICT (object_key) DO UPDATE
        SET multipart_id = COALESCE(excluded.multipart_id, storage_deletions.multipart_id);
END;
