-- The event log: every committed change to a conversation, participant,
-- message or user, written in the same transaction as the change
-- (src/store/events.rs). No foreign keys: an event outlives its resource.
--
-- SQLite has one writer at a time, so positions handed out at insert (the
-- rowid: one past the largest) are in commit order. Pruning always keeps the
-- newest event, so a position is never handed out twice (AUTOINCREMENT
-- would, too, at the cost of a second write per insert).
CREATE TABLE events (
    position INTEGER PRIMARY KEY,
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
