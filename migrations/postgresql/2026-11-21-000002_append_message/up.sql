-- Appending a message is the API's hot path. On PostgreSQL it is one call of
-- this function: one round trip, one implicit transaction, plans cached by
-- PL/pgSQL. It does exactly what messages::append_steps does on SQLite
-- (src/conversations/messages.rs); both run under the same tests.
--
-- Finds the conversation by SID or unique name within the service unless it
-- is closed, bumps its last_message_index under the row lock (so concurrent
-- senders get distinct indexes in commit order), revives it if inactive,
-- restarts its timers, resolves the author's participant and inserts the
-- message. Returns NULLs when the conversation is missing or closed.
CREATE FUNCTION confab_append_message(
    p_account_sid TEXT,
    p_service_sid TEXT,
    p_key TEXT,
    p_by_sid BOOLEAN,
    p_message_sid TEXT,
    p_author TEXT,
    p_body TEXT,
    p_attributes TEXT,
    p_content_sid TEXT,
    p_subject TEXT,
    p_now BIGINT,
    p_date_created BIGINT,
    p_date_updated BIGINT,
    OUT o_conversation_sid TEXT,
    OUT o_index BIGINT,
    OUT o_participant_sid TEXT
)
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_by_sid THEN
        UPDATE conversations c
           SET last_message_index = c.last_message_index + 1,
               state = CASE WHEN c.state = 'inactive' THEN 'active' ELSE c.state END,
               date_inactive = CASE WHEN c.state = 'active' OR c.state = 'inactive'
                                    THEN c.timer_inactive_secs + p_now END,
               date_closed = c.timer_closed_secs + p_now
         WHERE c.service_sid = p_service_sid AND c.sid = p_key AND c.state <> 'closed'
        RETURNING c.sid, c.last_message_index INTO o_conversation_sid, o_index;
    ELSE
        UPDATE conversations c
           SET last_message_index = c.last_message_index + 1,
               state = CASE WHEN c.state = 'inactive' THEN 'active' ELSE c.state END,
               date_inactive = CASE WHEN c.state = 'active' OR c.state = 'inactive'
                                    THEN c.timer_inactive_secs + p_now END,
               date_closed = c.timer_closed_secs + p_now
         WHERE c.service_sid = p_service_sid AND c.unique_name = p_key AND c.state <> 'closed'
        RETURNING c.sid, c.last_message_index INTO o_conversation_sid, o_index;
    END IF;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT p.sid INTO o_participant_sid
      FROM participants p
     WHERE p.conversation_sid = o_conversation_sid AND p.identity = p_author;
    INSERT INTO messages (sid, account_sid, service_sid, conversation_sid, msg_index, author, body,
                          attributes, participant_sid, content_sid, subject, date_created, date_updated)
    VALUES (p_message_sid, p_account_sid, p_service_sid, o_conversation_sid, o_index, p_author, p_body,
            p_attributes, o_participant_sid, p_content_sid, p_subject, p_date_created, p_date_updated);
END;
$$;
