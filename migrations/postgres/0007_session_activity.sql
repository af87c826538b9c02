-- A rate limit counts a user's (or a conversation's) messages of the last minutes: the
-- sessions active since then are found by these, without reading every session.

CREATE INDEX sessions_user_activity ON sessions (user_id, last_activity_at);
CREATE INDEX sessions_conversation_activity ON sessions (conversation, last_activity_at);
