-- PostgreSQL functions that are code, not schema. This file is applied at
-- start, under the migration lock, whenever its text differs from what the
-- database last ran (src/db/replaceable.rs): schema confab_fn is dropped and
-- created again from it, so a change here is an edit, not a migration.
-- Tables, indexes and data stay in migrations/.
--
-- Instances of several versions may share a database for the length of a
-- rolling deploy: a function whose signature changes takes a new name. For
-- the same reason the send functions that migrations 000002 and 000005 froze
-- into the public schema (confab_append_message, confab_append_user_message)
-- stay for instances of earlier versions; no code of this version calls them,
-- and a later release drops them in a migration.

CREATE SCHEMA confab_fn;

-- Appends a message: the PostgreSQL half of store::messages::append (the
-- SQLite half sits beside its caller in src/store/messages.rs; both run
-- under the same tests). One call is one round trip and, alone, its own
-- transaction: a send is the API's hot path.
--
-- Bumps the conversation's last_message_index under its row lock (so
-- concurrent senders get distinct indexes in commit order), revives it if
-- inactive and restarts its timers, in one UPDATE whose SET expressions read
-- the row as it was; then resolves the author's participant and inserts the
-- message. A conversation that is missing or closed takes nothing: the
-- refusal says which ('not_found', 'closed'). Who may send is decided in
-- Rust before this runs.
CREATE FUNCTION confab_fn.append_message(
    p_account_sid TEXT,
    p_service_sid TEXT,
    p_conversation_sid TEXT,
    p_message_sid TEXT,
    p_author TEXT,
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
    UPDATE conversations c
       SET last_message_index = c.last_message_index + 1,
           state = CASE WHEN c.state = 'inactive' THEN 'active' ELSE c.state END,
           date_inactive = CASE WHEN c.state = 'active' OR c.state = 'inactive'
                                THEN c.timer_inactive_secs + p_now END,
           date_closed = c.timer_closed_secs + p_now
     WHERE c.service_sid = p_service_sid AND c.sid = p_conversation_sid AND c.state <> 'closed'
    RETURNING c.last_message_index INTO o_index;
    IF NOT FOUND THEN
        o_refusal := CASE WHEN EXISTS (SELECT 1 FROM conversations c
                                        WHERE c.service_sid = p_service_sid AND c.sid = p_conversation_sid)
                          THEN 'closed' ELSE 'not_found' END;
        RETURN;
    END IF;
    SELECT p.sid INTO o_participant_sid
      FROM participants p
     WHERE p.conversation_sid = p_conversation_sid AND p.identity = p_author;
    INSERT INTO messages (sid, account_sid, service_sid, conversation_sid, msg_index, author, body,
                          attributes, participant_sid, content_sid, subject, date_created, date_updated)
    VALUES (p_message_sid, p_account_sid, p_service_sid, p_conversation_sid, o_index, p_author, p_body,
            p_attributes, o_participant_sid, p_content_sid, p_subject, p_date_created, p_date_updated);
END;
$$;
