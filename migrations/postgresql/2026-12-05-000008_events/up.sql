-- The event log: every committed change to a conversation, participant,
-- message or user, written in the same transaction as the change
-- (src/store/events.rs). No foreign keys: an event outlives its resource.
--
-- position is assigned by confab_fn.next_event_position
-- (src/db/sql/postgresql.sql) as (transaction id) * 4096 + (the event's
-- ordinal in its transaction), and readers only read below
-- confab_fn.event_horizon() * 4096, where every transaction has finished:
-- ARCHITECTURE.md, "The event log".
CREATE TABLE events (
    position BIGINT PRIMARY KEY,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    conversation_sid TEXT,
    kind TEXT NOT NULL,
    resource_sid TEXT NOT NULL,
    data TEXT NOT NULL,
    update_reasons TEXT,
    date_created BIGINT NOT NULL
);

-- One row: the highest position pruned, below which a reader's history is
-- incomplete.
CREATE TABLE event_log (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT NOT NULL
);
INSERT INTO event_log (id, pruned_through) VALUES (1, 0);
