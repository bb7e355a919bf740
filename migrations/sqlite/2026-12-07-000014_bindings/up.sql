-- Push registrations (BS…): a user's device, where a push notification
-- for it goes. Listed, fetched and deleted on Chat's /v2/Services/{IS}/Bindings
-- (and a user's /Users/{US}/Bindings) and Conversations'
-- /v1/Services/{IS}/Bindings; registered by the end user's app with POST on
-- either (Twilio's SDKs did that through a private endpoint).
CREATE TABLE bindings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    user_sid TEXT NOT NULL REFERENCES users (sid) ON DELETE CASCADE,
    identity TEXT NOT NULL,
    -- A binding cannot be pushed to without its credential: it goes with it.
    credential_sid TEXT NOT NULL REFERENCES push_credentials (sid) ON DELETE CASCADE,
    binding_type TEXT NOT NULL CHECK (binding_type IN ('apn', 'gcm', 'fcm')),
    -- The app's identifier of the device (the token grant's endpoint_id).
    endpoint TEXT NOT NULL,
    -- The device token the push service addresses; never shown.
    address TEXT NOT NULL,
    -- JSON list: new_message, added_to_channel, removed_from_channel, invited_to_channel.
    message_types TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (service_sid, identity, binding_type, endpoint)
);
CREATE INDEX bindings_service ON bindings (service_sid, id);
CREATE INDEX bindings_user ON bindings (user_sid, id);
CREATE INDEX bindings_credential ON bindings (credential_sid);
-- A device token belongs to one user (store::bindings::register).
CREATE INDEX bindings_address ON bindings (service_sid, binding_type, address);
