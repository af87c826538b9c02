-- One row per tool call a model asked for: what became of it (run, failed, denied, held back by
-- a rate limit) and, when it needed approval, the decision and who made it.

CREATE TABLE tool_calls (
    id           BIGSERIAL PRIMARY KEY,
    at           BIGINT NOT NULL,
    request_id   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    conversation TEXT NOT NULL,
    pipeline     TEXT NOT NULL,
    tool         TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    approval     TEXT,
    decision     TEXT,
    decided_by   TEXT,
    approvers    TEXT
);

CREATE INDEX tool_calls_user_at ON tool_calls (user_id, at);
CREATE INDEX tool_calls_conversation_at ON tool_calls (conversation, at);
CREATE INDEX tool_calls_approved ON tool_calls (user_id, tool, approvers) WHERE decision = 'approved';
