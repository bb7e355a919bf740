-- confab_fn version 1
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

-- Appends a message: the PostgreSQL half of store::messages::append (the
-- SQLite half sits beside its caller in src/store/messages.rs; both run
-- under the same tests). One call is one round trip and, alone, its own
-- transaction: a send is the API's hot path.
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
