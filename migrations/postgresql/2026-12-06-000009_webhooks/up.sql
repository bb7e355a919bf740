-- Webhooks (src/webhooks/): where they are configured, who caused each
-- event, and the deliveries still owed to receivers.

-- The Auth Token, sealed under the master key (as API key secrets are):
-- webhook requests are signed with it (X-Twilio-Signature is an HMAC, so
-- signing needs the token itself). NULL for an account created before this
-- migration until its token is next used or rotated.
ALTER TABLE accounts ADD COLUMN auth_token_key_id TEXT;
ALTER TABLE accounts ADD COLUMN auth_token_sealed BYTEA;

-- Who caused an event: 'SDK' (an end user, client_identity names them),
-- 'API' (account credentials) or NULL (Confab itself: the timers); and
-- whether the change fires post-event webhooks (an end user's always, a
-- REST call's with X-Twilio-Webhook-Enabled: true).
ALTER TABLE events ADD COLUMN source TEXT;
ALTER TABLE events ADD COLUMN client_identity TEXT;
ALTER TABLE events ADD COLUMN webhooks BOOLEAN NOT NULL DEFAULT FALSE;

-- A service's webhooks (/v1/Services/{IS}/Configuration/Webhooks; the
-- default service's also at /v1/Configuration/Webhooks). No row: none.
CREATE TABLE service_webhooks (
    service_sid TEXT PRIMARY KEY REFERENCES services (sid) ON DELETE CASCADE,
    account_sid TEXT NOT NULL,
    pre_webhook_url TEXT,
    post_webhook_url TEXT,
    method TEXT NOT NULL,
    filters TEXT NOT NULL,
    target TEXT NOT NULL,
    date_updated BIGINT NOT NULL
);

-- Conversation-scoped webhooks (WH…), at most 5 per conversation.
CREATE TABLE conversation_webhooks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    conversation_sid TEXT NOT NULL REFERENCES conversations (sid) ON DELETE CASCADE,
    target TEXT NOT NULL,
    url TEXT,
    method TEXT NOT NULL,
    filters TEXT NOT NULL,
    triggers TEXT NOT NULL,
    flow_sid TEXT,
    replay_after BIGINT,
    -- The highest message index ReplayAfter delivered: the fan-out skips
    -- those messages' own events for this webhook (no duplicates).
    replayed_through BIGINT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX conversation_webhooks_conversation ON conversation_webhooks (conversation_sid, id);

-- Post-event deliveries still owed: written from the event log by the
-- fan-out (in the transaction that moves webhook_cursor past the event),
-- removed when the receiver answered or the retry horizon passed. A
-- queue (URL + conversation) is delivered in id order: only its oldest
-- row is ever attempted. Times in milliseconds.
CREATE TABLE webhook_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_sid TEXT NOT NULL,
    position BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    webhook TEXT NOT NULL,
    url TEXT NOT NULL,
    method TEXT NOT NULL,
    queue TEXT NOT NULL,
    params TEXT NOT NULL,
    token TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    due BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    leased_until BIGINT NOT NULL,
    date_created BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (queue, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (due);

-- One row: the event position through which deliveries have been written.
-- It starts at the log's end: configuring webhooks later delivers nothing
-- from before (ReplayAfter is how a scoped webhook asks for history).
CREATE TABLE webhook_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL
);
INSERT INTO webhook_cursor (id, position) SELECT 1, COALESCE(MAX(position), 0) FROM events;
