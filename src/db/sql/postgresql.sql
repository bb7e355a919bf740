-- confab_fn version 5
--
-- PostgreSQL functions that are code, not schema. Each start applies this
-- file, under the migration lock, when the database holds an older version
-- of it (src/db/replaceable.rs): a change here is an edit and a version bump
-- on the first line, not a migration. Tables, indexes and data stay in
-- migrations/.
--
-- Instances of two versions share the database during a rolling deploy, so
-- the file only adds and replaces (CREATE OR REPLACE), and an older instance
-- never puts its text back over a newer one. A function whose signature
-- changes takes a new name; its old name is dropped (DROP FUNCTION IF
-- EXISTS, here) one release later, when no instance calls it any more. The
-- send functions that migrations 000002 and 000005 froze into the public
-- schema (confab_append_message, confab_append_user_message) stay for the
-- same reason: no code of this version calls them; a later release drops
-- them in a migration.

CREATE SCHEMA IF NOT EXISTS confab_fn;

-- The position of the next event this transaction records: (top-level
-- transaction id) * 4096 + its ordinal in the transaction (the next after
-- the transaction's own latest, found by one probe of the primary key).
-- PL/pgSQL, not SQL: a SQL function called from another is planned again on
-- every call, a PL/pgSQL one keeps its plans for the session.
-- Readers read below confab_fn.event_horizon() * 4096, so a position is
-- never read before every event below it has committed or rolled back. A
-- transaction records at most 4096 events: past that this is NULL, and the
-- insert fails.
CREATE OR REPLACE FUNCTION confab_fn.next_event_position()
RETURNS BIGINT
LANGUAGE plpgsql
AS $$
DECLARE
    v_base BIGINT := pg_current_xact_id()::TEXT::BIGINT * 4096;
    v_position BIGINT;
BEGIN
    SELECT COALESCE(max(e.position) + 1, v_base) INTO v_position
      FROM events e
     WHERE e.position >= v_base AND e.position < v_base + 4096;
    RETURN NULLIF(v_position, v_base + 4096);
END;
$$;

-- Records one event with who caused it (store::events::record on
-- PostgreSQL); returns its position. (confab_fn.record_event, without the
-- origin, is version 3's; the next version drops it.)
CREATE OR REPLACE FUNCTION confab_fn.record_event_as(
    p_account_sid TEXT,
    p_service_sid TEXT,
    p_conversation_sid TEXT,
    p_kind TEXT,
    p_resource_sid TEXT,
    p_data TEXT,
    p_update_reasons TEXT,
    p_now BIGINT,
    p_source TEXT,
    p_client_identity TEXT,
    p_webhooks BOOLEAN,
    OUT o_position BIGINT
)
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO events (position, account_sid, service_sid, conversation_sid, kind, resource_sid, data,
                        update_reasons, date_created, source, client_identity, webhooks)
    VALUES (confab_fn.next_event_position(), p_account_sid, p_service_sid, p_conversation_sid, p_kind,
            p_resource_sid, p_data, p_update_reasons, p_now, p_source, p_client_identity, p_webhooks)
    RETURNING position INTO o_position;
END;
$$;

-- Version 3's record_event (no origin); see confab_fn.send_message.
CREATE OR REPLACE FUNCTION confab_fn.record_event(
    p_account_sid TEXT,
    p_service_sid TEXT,
    p_conversation_sid TEXT,
    p_kind TEXT,
    p_resource_sid TEXT,
    p_data TEXT,
    p_update_reasons TEXT,
    p_now BIGINT,
    OUT o_position BIGINT
)
LANGUAGE sql
AS $$
    SELECT confab_fn.record_event_as(p_account_sid, p_service_sid, p_conversation_sid, p_kind, p_resource_sid,
                                     p_data, p_update_reasons, p_now, NULL, NULL, FALSE)
$$;

-- A 32-bit transaction id (pg_stat_activity's backend_xid) as the 64-bit
-- id nearest to p_next, a 64-bit one: ids in use are always within 2^31 of
-- each other, before or after it. (Counting every id above p_next's low
-- bits as the previous epoch's, as version 2 did, misread an id handed out
-- after the snapshot as 2^32 too old, and the reader then read nothing.)
CREATE OR REPLACE FUNCTION confab_fn.full_xid(p_xid BIGINT, p_next BIGINT)
RETURNS BIGINT
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT p_next + (p_xid - (p_next & 4294967295) + 6442450944) % 4294967296 - 2147483648
$$;

-- The event log's read horizon (store::events::after): a transaction id
-- below which every transaction of this database has finished, so every
-- event positioned below horizon * 4096 that will ever commit has. It is
-- the oldest transaction id held by a session of this database, or, with
-- none older, the next id the snapshot taken first would hand out. The
-- sessions are read after that snapshot, so a transaction that had an id
-- by then is either seen here or already finished; one that got its id
-- since is at or above the snapshot's next id. Only this database counts:
-- a long transaction elsewhere on the server holds nothing back
-- (pg_snapshot_xmin would).
-- Every read of the log calls it (the webhooks' fan-out about 20 times a
-- second, each stream's tailer), so it is PL/pgSQL, whose plan the session
-- keeps, and reads pg_stat_get_activity itself rather than the view
-- pg_stat_activity, which joins two catalogs more: as a SQL function over
-- the view it cost the server about 2 ms per call, planned every time.
CREATE OR REPLACE FUNCTION confab_fn.event_horizon()
RETURNS BIGINT
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_next BIGINT := pg_snapshot_xmax(pg_current_snapshot())::TEXT::BIGINT;
    v_held BIGINT;
BEGIN
    SELECT MIN(confab_fn.full_xid(a.backend_xid::TEXT::BIGINT, v_next)) INTO v_held
      FROM pg_stat_get_activity(NULL::INTEGER) a
     WHERE a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
       AND a.backend_xid IS NOT NULL;
    -- LEAST ignores a NULL: no session of this database holds an id.
    RETURN LEAST(v_next, v_held);
END;
$$;

-- Appends a message: the PostgreSQL half of store::messages::append (the
-- SQLite half sits beside its caller in src/store/messages.rs; both run
-- under the same tests). One call is one round trip and, alone, its own
-- transaction: a send is the API's hot path.
--
-- Bumps the conversation's last_message_index under its row lock (so
-- concurrent senders get distinct indexes in commit order), revives it if
-- inactive and restarts its timers; then inserts the message and records
-- the events: conversationUpdated for a revival, then messageAdded unless
-- p_record_added is false (a send with media records it once the media is
-- attached). Its participant is the one the caller checked
-- (p_participant_sid: a user's send, which must still be in the
-- conversation) or, for account credentials, the chat participant the
-- author's identity names, if any. A conversation that is missing or
-- closed, or a checked participant that has left, takes nothing: the
-- refusal says which ('not_found', 'closed'). Who may send is decided in
-- Rust before this runs. An event's data is the row as committed, as JSON
-- (the same keys as the Rust rows' serde), with who caused it
-- (p_source, p_client_identity) and whether it fires post-event webhooks.
CREATE OR REPLACE FUNCTION confab_fn.send_message_as(
    p_account_sid TEXT,
    p_service_sid TEXT,
    p_conversation_sid TEXT,
    p_message_sid TEXT,
    p_author TEXT,
    p_participant_sid TEXT,
    p_body TEXT,
    p_attributes TEXT,
    p_content_sid TEXT,
    p_subject TEXT,
    p_now BIGINT,
    p_date_created BIGINT,
    p_date_updated BIGINT,
    p_record_added BOOLEAN,
    p_source TEXT,
    p_client_identity TEXT,
    p_webhooks BOOLEAN,
    OUT o_index BIGINT,
    OUT o_participant_sid TEXT,
    OUT o_refusal TEXT
)
LANGUAGE plpgsql
AS $$
DECLARE
    -- No id yet: this transaction has recorded no event before this call.
    v_fresh BOOLEAN := pg_current_xact_id_if_assigned() IS NULL;
    v_state TEXT;
    v_conversation conversations%ROWTYPE;
BEGIN
    IF p_participant_sid IS NULL THEN
        SELECT p.sid INTO o_participant_sid
          FROM participants p
         WHERE p.conversation_sid = p_conversation_sid AND p.identity = p_author;
    ELSE
        SELECT p.sid INTO o_participant_sid
          FROM participants p
         WHERE p.sid = p_participant_sid AND p.conversation_sid = p_conversation_sid;
        IF NOT FOUND THEN
            o_refusal := 'not_found';
            RETURN;
        END IF;
    END IF;
    -- The common case, an active conversation: one UPDATE.
    UPDATE conversations c
       SET last_message_index = c.last_message_index + 1,
           date_inactive = c.timer_inactive_secs + p_now,
           date_closed = c.timer_closed_secs + p_now
     WHERE c.service_sid = p_service_sid AND c.sid = p_conversation_sid AND c.state = 'active'
    RETURNING c.last_message_index INTO o_index;
    IF NOT FOUND THEN
        -- Inactive (revived), initializing, closed or missing: read the
        -- state under the row's lock, then bump.
        SELECT c.state INTO v_state
          FROM conversations c
         WHERE c.service_sid = p_service_sid AND c.sid = p_conversation_sid
           FOR UPDATE;
        IF NOT FOUND OR v_state = 'closed' THEN
            o_participant_sid := NULL;
            o_refusal := CASE WHEN v_state = 'closed' THEN 'closed' ELSE 'not_found' END;
            RETURN;
        END IF;
        UPDATE conversations c
           SET last_message_index = c.last_message_index + 1,
               state = CASE WHEN c.state = 'inactive' THEN 'active' ELSE c.state END,
               date_inactive = CASE WHEN c.state = 'active' OR c.state = 'inactive'
                                    THEN c.timer_inactive_secs + p_now END,
               date_closed = c.timer_closed_secs + p_now
         WHERE c.sid = p_conversation_sid
        RETURNING c.* INTO v_conversation;
        o_index := v_conversation.last_message_index;
        IF v_state = 'inactive' THEN
            PERFORM confab_fn.record_event_as(p_account_sid, p_service_sid, p_conversation_sid,
                                              'conversationUpdated', p_conversation_sid,
                                              row_to_json(v_conversation)::TEXT, '["state","timers"]', p_now,
                                              p_source, p_client_identity, p_webhooks);
            v_fresh := FALSE;
        END IF;
    END IF;
    INSERT INTO messages (sid, account_sid, service_sid, conversation_sid, msg_index, author, body,
                          attributes, participant_sid, content_sid, subject, date_created, date_updated)
    VALUES (p_message_sid, p_account_sid, p_service_sid, p_conversation_sid, o_index, p_author, p_body,
            p_attributes, o_participant_sid, p_content_sid, p_subject, p_date_created, p_date_updated);
    IF p_record_added THEN
        -- confab_fn.record_event_as's insert, written out: the hot path.
        -- The first event of a transaction takes its first position
        -- without a probe, and the row's JSON is built from what was
        -- inserted (the keys of row_to_json(messages)): both cost the
        -- send measurably (BENCHMARKS.md).
        INSERT INTO events (position, account_sid, service_sid, conversation_sid, kind, resource_sid,
                            data, update_reasons, date_created, source, client_identity, webhooks)
        VALUES (CASE WHEN v_fresh THEN pg_current_xact_id()::TEXT::BIGINT * 4096
                     ELSE confab_fn.next_event_position() END,
                p_account_sid, p_service_sid, p_conversation_sid, 'messageAdded', p_message_sid,
                json_build_object('sid', p_message_sid, 'account_sid', p_account_sid,
                                  'service_sid', p_service_sid, 'conversation_sid', p_conversation_sid,
                                  'msg_index', o_index, 'author', p_author, 'body', p_body,
                                  'attributes', p_attributes, 'participant_sid', o_participant_sid,
                                  'content_sid', p_content_sid, 'subject', p_subject,
                                  'date_created', p_date_created, 'date_updated', p_date_updated,
                                  'media', NULL)::TEXT,
                NULL, p_now, p_source, p_client_identity, p_webhooks);
    END IF;
END;
$$;

-- The send of version 3 (events without their origin), kept for
-- instances of that version during a rolling deploy; the next version
-- drops it, and confab_fn.record_event with it.
CREATE OR REPLACE FUNCTION confab_fn.send_message(
    p_account_sid TEXT,
    p_service_sid TEXT,
    p_conversation_sid TEXT,
    p_message_sid TEXT,
    p_author TEXT,
    p_participant_sid TEXT,
    p_body TEXT,
    p_attributes TEXT,
    p_content_sid TEXT,
    p_subject TEXT,
    p_now BIGINT,
    p_date_created BIGINT,
    p_date_updated BIGINT,
    p_record_added BOOLEAN,
    OUT o_index BIGINT,
    OUT o_participant_sid TEXT,
    OUT o_refusal TEXT
)
LANGUAGE sql
AS $$
    SELECT * FROM confab_fn.send_message_as(p_account_sid, p_service_sid, p_conversation_sid, p_message_sid,
                                            p_author, p_participant_sid, p_body, p_attributes, p_content_sid,
                                            p_subject, p_now, p_date_created, p_date_updated, p_record_added,
                                            NULL, NULL, FALSE)
$$;

-- The send of version 1 (no events), kept for instances of that version
-- during a rolling deploy; the next version drops it.
--
-- Bumps the conversation's last_message_index under its row lock (so
-- concurrent senders get distinct indexes in commit order), revives it if
-- inactive and restarts its timers, in one UPDATE whose SET expressions read
-- the row as it was; then inserts the message. Its participant is the one
-- the caller checked (p_participant_sid: a user's send, which must still be
-- in the conversation) or, for account credentials, the chat participant
-- the author's identity names, if any. A conversation that is missing or
-- closed, or a checked participant that has left, takes nothing: the
-- refusal says which ('not_found', 'closed'). Who may send is decided in
-- Rust before this runs.
CREATE OR REPLACE FUNCTION confab_fn.append_message(
    p_account_sid TEXT,
    p_service_sid TEXT,
    p_conversation_sid TEXT,
    p_message_sid TEXT,
    p_author TEXT,
    p_participant_sid TEXT,
    p_body TEXT,
    p_attributes TEXT,
    p_content_sid TEXT,
    p_subject TEXT,
    p_now BIGINT,
    p_date_created BIGINT,
    p_date_updated BIGINT,
    OUT o_index BIGINT,
    OUT o_participant_sid TEXT,
    OUT o_refusal TEXT
)
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_participant_sid IS NULL THEN
        SELECT p.sid INTO o_participant_sid
          FROM participants p
         WHERE p.conversation_sid = p_conversation_sid AND p.identity = p_author;
    ELSE
        SELECT p.sid INTO o_participant_sid
          FROM participants p
         WHERE p.sid = p_participant_sid AND p.conversation_sid = p_conversation_sid;
        IF NOT FOUND THEN
            o_refusal := 'not_found';
            RETURN;
        END IF;
    END IF;
    UPDATE conversations c
       SET last_message_index = c.last_message_index + 1,
           state = CASE WHEN c.state = 'inactive' THEN 'active' ELSE c.state END,
           date_inactive = CASE WHEN c.state = 'active' OR c.state = 'inactive'
                                THEN c.timer_inactive_secs + p_now END,
           date_closed = c.timer_closed_secs + p_now
     WHERE c.service_sid = p_service_sid AND c.sid = p_conversation_sid AND c.state <> 'closed'
    RETURNING c.last_message_index INTO o_index;
    IF NOT FOUND THEN
        o_participant_sid := NULL;
        o_refusal := CASE WHEN EXISTS (SELECT 1 FROM conversations c
                                        WHERE c.service_sid = p_service_sid AND c.sid = p_conversation_sid)
                          THEN 'closed' ELSE 'not_found' END;
        RETURN;
    END IF;
    INSERT INTO messages (sid, account_sid, service_sid, conversation_sid, msg_index, author, body,
                          attributes, participant_sid, content_sid, subject, date_created, date_updated)
    VALUES (p_message_sid, p_account_sid, p_service_sid, p_conversation_sid, o_index, p_author, p_body,
            p_attributes, o_participant_sid, p_content_sid, p_subject, p_date_created, p_date_updated);
END;
$$;
