-- Storing a message moves its session's last activity in the same statement, so appending a
-- message is one write instead of a transaction of two.

CREATE TRIGGER messages_touch_session AFTER INSERT ON messages BEGIN
    UPDATE sessions SET last_activity_at = MAX(last_activity_at, new.created_at)
    WHERE id = new.session_id;
END;
