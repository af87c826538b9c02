-- A rate limit counts a user's messages in a window: read the window's rows of each session
-- through this index instead of every message of the session.

CREATE INDEX messages_user_time ON messages (session_id, role, created_at);
