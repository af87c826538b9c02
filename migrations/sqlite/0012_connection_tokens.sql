-- Each user's OAuth tokens per connection (Google, GitHub …), sealed by clara before they get
-- here, so the database never holds them in the clear; and the OAuth `state` nonces already
-- used, so a replayed callback is refused even when several processes share the database.

CREATE TABLE connection_tokens (
    user_id    TEXT NOT NULL,
    connection TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    expires_at INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, connection)
);

CREATE TABLE oauth_states (
    nonce      TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

-- Expired nonces are forgotten on every claim.
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);
