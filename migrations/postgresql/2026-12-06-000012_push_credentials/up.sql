-- Push credentials (CR…: /v1/Credentials and Chat's /v2/Credentials): an
-- account's APN certificate and key, or its FCM/GCM secret, sealed under the
-- master key (key_id names it) and never shown again.
CREATE TABLE push_credentials (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL REFERENCES accounts (sid) ON DELETE CASCADE,
    friendly_name TEXT,
    credential_type TEXT NOT NULL CHECK (credential_type IN ('apn', 'gcm', 'fcm')),
    sandbox BOOLEAN,
    key_id TEXT NOT NULL,
    secrets_sealed BYTEA NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX push_credentials_account ON push_credentials (account_sid, id);
CREATE INDEX push_credentials_key ON push_credentials (key_id);
