-- Media (MCS). Same tables and meaning as migrations/sqlite.
--
-- A media row is written before its bytes (state 'uploading'), becomes
-- 'ready' once the encrypted object is stored, and 'attached' when a message
-- takes it. Deleting its message or service deletes the row (FK cascade), and
-- every deleted row leaves its object key in storage_deletions (trigger), so
-- the object is removed after commit or, if that fails, by the collector:
-- an object is never forgotten, whatever path deleted its row.
CREATE TABLE media (
    sid TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    state TEXT NOT NULL,
    content_type TEXT NOT NULL,
    filename TEXT,
    category TEXT NOT NULL,
    author TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT,
    object_key TEXT NOT NULL,
    -- the data key, wrapped under the master key with this id
    key_id TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    nonce_prefix BYTEA NOT NULL,
    message_sid TEXT REFERENCES messages (sid) ON DELETE CASCADE,
    conversation_sid TEXT,
    position BIGINT,
    date_created BIGINT NOT NULL,
    date_upload_updated BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX media_message ON media (message_sid, position) WHERE message_sid IS NOT NULL;
CREATE INDEX media_unattached ON media (state, date_upload_updated) WHERE state <> 'attached';
CREATE INDEX media_service ON media (service_sid);

CREATE TABLE storage_deletions (
    object_key TEXT PRIMARY KEY,
    date_created BIGINT NOT NULL,
    -- a collector working on it until then (unix seconds); 0: free
    claimed_until BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX storage_deletions_due ON storage_deletions (claimed_until);

CREATE FUNCTION confab_media_deleted() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO storage_deletions (object_key, date_created)
    VALUES (OLD.object_key, extract(epoch FROM now())::bigint)
    ON CONFLICT (object_key) DO NOTHING;
    RETURN OLD;
END;
$$;
CREATE TRIGGER media_deleted AFTER DELETE ON media
    FOR EACH ROW EXECUTE FUNCTION confab_media_deleted();

-- The message's `media` array (sid, size, content_type, filename, category),
-- written once when media is attached: media never changes afterwards.
ALTER TABLE messages ADD COLUMN media TEXT;

-- Body given to a message that has media and no Body.
ALTER TABLE services ADD COLUMN media_compatibility_message TEXT;
