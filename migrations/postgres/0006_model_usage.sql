-- One row per model call: whose message or memory it served, what it was for, the tokens the
-- API reported and the cost from the price table, for `clara usage`, budgets and /metrics.

CREATE TABLE model_usage (
    id                 BIGSERIAL PRIMARY KEY,
    at                 BIGINT NOT NULL,
    user_id            TEXT,
    conversation       TEXT,
    pipeline           TEXT,
    purpose            TEXT NOT NULL,
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    tier               TEXT,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_micros        BIGINT NOT NULL
);

CREATE INDEX model_usage_at ON model_usage (at);
CREATE INDEX model_usage_user_at ON model_usage (user_id, at);
