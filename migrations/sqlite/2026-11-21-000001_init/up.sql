-- Confab schema (SQLite). Same tables, names and meaning as migrations/postgresql.
-- Every table has its public `sid`; tables listed in creation order also have
-- an integer `id` (their keyset paging order). Messages page by their index.
-- Dates are unix seconds.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    friendly_name TEXT NOT NULL,
    auth_token_hash TEXT NOT NULL,
    default_service_sid TEXT,
    default_messaging_service_sid TEXT,
    default_inactive_timer TEXT,
    default_closed_timer TEXT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);

CREATE TABLE services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL REFERENCES accounts (sid) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    default_conversation_creator_role_sid TEXT,
    default_conversation_role_sid TEXT,
    default_chat_service_role_sid TEXT,
    reachability_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX services_account ON services (account_sid, id);

CREATE TABLE roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    role_type TEXT NOT NULL,
    -- JSON array of permission names, in the order given
    permissions TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX roles_service ON roles (service_sid, id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    identity TEXT NOT NULL,
    friendly_name TEXT,
    attributes TEXT NOT NULL,
    -- checked at commit: a service delete cascades to roles and to their holders in one statement
    role_sid TEXT NOT NULL REFERENCES roles (sid) DEFERRABLE INITIALLY DEFERRED,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (service_sid, identity)
);
CREATE INDEX users_service ON users (service_sid, id);
CREATE INDEX users_role ON users (role_sid);

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    unique_name TEXT,
    friendly_name TEXT,
    attributes TEXT NOT NULL,
    messaging_service_sid TEXT,
    state TEXT NOT NULL,
    created_by TEXT NOT NULL,
    timer_inactive_secs BIGINT,
    timer_closed_secs BIGINT,
    date_inactive BIGINT,
    date_closed BIGINT,
    email_address TEXT,
    email_name TEXT,
    -- highest message index handed out; bumped under the row lock on send
    last_message_index BIGINT NOT NULL DEFAULT -1,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (service_sid, unique_name)
);
CREATE INDEX conversations_service ON conversations (service_sid, id);
CREATE INDEX conversations_service_state ON conversations (service_sid, state, id);
CREATE INDEX conversations_service_created ON conversations (service_sid, date_created, id);
CREATE INDEX conversations_inactive_due ON conversations (date_inactive) WHERE date_inactive IS NOT NULL;
CREATE INDEX conversations_closed_due ON conversations (date_closed) WHERE date_closed IS NOT NULL;

CREATE TABLE participants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    conversation_sid TEXT NOT NULL REFERENCES conversations (sid) ON DELETE CASCADE,
    identity TEXT,
    user_sid TEXT REFERENCES users (sid) ON DELETE CASCADE,
    attributes TEXT NOT NULL,
    -- checked at commit: a service delete cascades to roles and to their holders in one statement
    role_sid TEXT NOT NULL REFERENCES roles (sid) DEFERRABLE INITIALLY DEFERRED,
    binding_type TEXT,
    binding_address TEXT,
    binding_proxy_address TEXT,
    binding_projected_address TEXT,
    last_read_message_index BIGINT,
    last_read_timestamp BIGINT,
    notification_level TEXT NOT NULL DEFAULT 'default',
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (conversation_sid, identity),
    UNIQUE (conversation_sid, binding_address)
);
CREATE INDEX participants_conversation ON participants (conversation_sid, id);
CREATE INDEX participants_identity ON participants (service_sid, identity, id);
CREATE INDEX participants_address ON participants (service_sid, binding_address, id);
CREATE INDEX participants_user ON participants (user_sid, id);
CREATE INDEX participants_role ON participants (role_sid);

CREATE TABLE messages (
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    conversation_sid TEXT NOT NULL REFERENCES conversations (sid) ON DELETE CASCADE,
    msg_index BIGINT NOT NULL,
    author TEXT NOT NULL,
    body TEXT,
    attributes TEXT NOT NULL,
    participant_sid TEXT,
    content_sid TEXT,
    subject TEXT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    -- messages are read by conversation in index order: that is the key
    PRIMARY KEY (conversation_sid, msg_index)
) WITHOUT ROWID;
