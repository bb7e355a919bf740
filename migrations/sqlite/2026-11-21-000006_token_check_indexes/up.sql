-- Covering indexes for the reads every access-token request makes (the
-- key and user re-check, and a send's participant and role check). Under
-- WAL every commit empties the page cache of all other connections, so on
-- a busy server these reads fetch each page they touch again: answered
-- from the index alone they touch half as many.
CREATE INDEX api_keys_check ON api_keys (sid, account_sid, secret_hash);
CREATE INDEX users_identity_check ON users (service_sid, identity, account_sid, sid, role_sid);
CREATE INDEX roles_permissions ON roles (sid, permissions);
CREATE INDEX participants_member_check ON participants (conversation_sid, identity, sid, role_sid);
CREATE INDEX conversations_service_check ON conversations (sid, service_sid);
