-- An upload's multipart upload id while its parts go up (cleared when the object completes):
-- when the process dies mid-upload, the row's deletion hands the id to storage_deletions and
-- the collector aborts the upload, whose parts the store would otherwise keep (and bill).
ALTER TABLE media ADD COLUMN multipart_id TEXT;
ALTER TABLE storage_deletions ADD COLUMN multipart_id TEXT;

CREATE OR REPLACE FUNCTION confab_media_deleted() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO storage_deletions (object_key, date_created, multipart_id)
    VALUES (OLD.object_key, extract(epoch FROM now())::bigint, OLD.multipart_id)
    ON CONFLICT (object_key) DO UPDATE
        SET multipart_id = COALESCE(EXCLUDED.multipart_id, storage_deletions.multipart_id);
    RETURN OLD;
END;
$$;
