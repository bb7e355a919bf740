-- The cluster's master keys, by fingerprint only (keys::keyring::SecretKey::id; never a key).
-- `current` seals everything new and every instance must hold it (checked at start:
-- src/keys/cluster.rs); `accepted` keys may still open rows; `retired` ones no longer do.
CREATE TABLE master_keys (
    key_id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('current', 'accepted', 'retired')),
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX master_keys_one_current ON master_keys (state) WHERE state = 'current';
