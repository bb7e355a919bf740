-- API keys (SK…): Basic auth as SK:secret, and the signing secret of access
-- tokens. The secret is kept twice: an argon2id hash (to check Basic auth
-- cheaply after the first time) and sealed under the master key (access
-- tokens are HMACs, so verifying one needs the secret itself).
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL REFERENCES accounts (sid) ON DELETE CASCADE,
    friendly_name TEXT,
    secret_hash TEXT NOT NULL,
    key_id TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX api_keys_account ON api_keys (account_sid, id);
