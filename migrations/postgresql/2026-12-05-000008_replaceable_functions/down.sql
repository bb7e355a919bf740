-- Back to the functions of migrations 000002 and 000005, as a binary of that
-- time expects them (this text is history: the live one is src/db/sql/).
DROP SCHEMA IF EXISTS confab_fn CASCADE;

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

CREATE FUNCTION confab_append_user_message(
    p_account_sid TEXT,
    p_service_sid TEXT,
    p_key TEXT,
    p_by_sid BOOLEAN,
    p_message_sid TEXT,
    p_identity TEXT,
    p_body TEXT,
    p_attributes TEXT,
    p_content_sid TEXT,
    p_subject TEXT,
    p_now BIGINT,
    p_service_may_send BOOLEAN,
    OUT o_conversation_sid TEXT,
    OUT o_index BIGINT,
    OUT o_participant_sid TEXT,
    OUT o_refusal TEXT
)
LANGUAGE plpgsql
AS $$
DECLARE
    v_conversation TEXT;
    v_role_permissions TEXT;
BEGIN
    IF p_by_sid THEN
        SELECT c.sid INTO v_conversation FROM conversations c
         WHERE c.service_sid = p_service_sid AND c.sid = p_key;
    ELSE
        SELECT c.sid INTO v_conversation FROM conversations c
         WHERE c.service_sid = p_service_sid AND c.unique_name = p_key;
    END IF;
    IF v_conversation IS NULL THEN
        o_refusal := 'not_found';
        RETURN;
    END IF;
    -- No row lock: a removal or role change that commits while this runs
    -- orders after the send (messages.participant_sid has no foreign key),
    -- and locking would write the participant's tuple on every message.
    SELECT p.sid, r.permissions INTO o_participant_sid, v_role_permissions
      FROM participants p JOIN roles r ON r.sid = p.role_sid
     WHERE p.conversation_sid = v_conversation AND p.identity = p_identity;
    IF o_participant_sid IS NULL THEN
        o_refusal := 'not_found';
        RETURN;
    END IF;
    -- Role permissions are JSON arrays of validated names Confab wrote, so
    -- the quoted name is found by a plain search (no JSON parse per send).
    IF NOT (p_service_may_send OR strpos(v_role_permissions, '"sendMessage"') > 0) THEN
        o_participant_sid := NULL;
        o_refusal := 'sendMessage';
        RETURN;
    END IF;
    UPDATE conversations c
       SET last_message_index = c.last_message_index + 1,
           state = CASE WHEN c.state = 'inactive' THEN 'active' ELSE c.state END,
           date_inactive = CASE WHEN c.state = 'active' OR c.state = 'inactive'
                                THEN c.timer_inactive_secs + p_now END,
           date_closed = c.timer_closed_secs + p_now
     WHERE c.sid = v_conversation AND c.state <> 'closed'
    RETURNING c.sid, c.last_message_index INTO o_conversation_sid, o_index;
    IF NOT FOUND THEN
        o_participant_sid := NULL;
        o_refusal := 'closed';
        RETURN;
    END IF;
    INSERT INTO messages (sid, account_sid, service_sid, conversation_sid, msg_index, author, body,
                          attributes, participant_sid, content_sid, subject, date_created, date_updated)
    VALUES (p_message_sid, p_account_sid, p_service_sid, o_conversation_sid, o_index, p_identity, p_body,
            p_attributes, o_participant_sid, p_content_sid, p_subject, p_now, p_now);
END;
$$;
