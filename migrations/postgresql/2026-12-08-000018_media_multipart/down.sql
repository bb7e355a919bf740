CREATE OR REPLACE FUNCTION confab_media_deleted() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO storage_deletions (object_key, date_created)
    VALUES (OLD.object_key, extract(epoch FROM now())::bigint)
    ON CONFLICT (object_key) DO NOTHING;
    RETURN OLD;
END;
$$;
ALTER TABLE storage_deletions DROP COLUMN multipart_id;
ALTER TABLE media DROP COLUMN multipart_id;
