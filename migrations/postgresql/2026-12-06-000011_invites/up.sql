-- Programmable Chat's invites (IN…): an identity asked to join a channel,
-- with the role it will join with. Joining takes the invite.
CREATE TABLE invites (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    conversation_sid TEXT NOT NULL REFERENCES conversations (sid) ON DELETE CASCADE,
    identity TEXT NOT NULL,
    -- checked at commit, as participants' roles are
    role_sid TEXT NOT NULL REFERENCES roles (sid) DEFERRABLE INITIALLY DEFERRED,
    created_by TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (conversation_sid, identity)
);
CREATE INDEX invites_conversation ON invites (conversation_sid, id);
CREATE INDEX invites_role ON invites (role_sid);

-- A channel only an invite (or a member allowed to add) lets a user into:
-- Chat's private channels. Conversations' own are not: a user holding
-- joinConversation joins them, as before.
ALTER TABLE conversations ADD COLUMN invite_only BOOLEAN NOT NULL DEFAULT false;
