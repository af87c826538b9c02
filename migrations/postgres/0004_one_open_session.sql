-- A user has at most one open session per conversation. Racing first messages could open two;
-- keep the newest open, end the others, and let the unique index refuse a second from now on.
UPDATE sessions s SET ended_at = s.last_activity_at
FROM (
    SELECT seq, row_number() OVER (
        PARTITION BY user_id, conversation ORDER BY started_at DESC, seq DESC
    ) AS newest
    FROM sessions WHERE ended_at IS NULL
) ranked
WHERE s.seq = ranked.seq AND ranked.newest > 1;

DROP INDEX IF EXISTS sessions_open;
CREATE UNIQUE INDEX sessions_one_open ON sessions (user_id, conversation)
    WHERE ended_at IS NULL;

-- The newest session of a user in a conversation, open or ended (the one a new session
-- follows).
CREATE INDEX IF NOT EXISTS sessions_latest ON sessions (user_id, conversation, started_at);
