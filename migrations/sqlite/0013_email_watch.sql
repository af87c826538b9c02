-- Email watching: the inboxes users connect (passwords sealed by clara before they get here),
-- each one's place in its mailbox and next check; each user's alert settings and rules; and
-- the alerts found, one per message of an account, so instances sharing the database never
-- alert twice.

CREATE TABLE email_accounts (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id               TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    address               TEXT NOT NULL,
    host                  TEXT NOT NULL,
    port                  INTEGER NOT NULL,
    tls                   INTEGER NOT NULL CHECK (tls IN (0, 1)),
    sealed_password       BLOB,
    poll_interval_minutes INTEGER NOT NULL,
    cursor                TEXT,
    next_poll_at          INTEGER NOT NULL,
    error_count           INTEGER NOT NULL DEFAULT 0,
    last_error            TEXT,
    last_checked_at       INTEGER,
    created_at            INTEGER NOT NULL,
    UNIQUE (user_id, address, host)
);

-- Every claim looks for the accounts due first.
CREATE INDEX email_accounts_next_poll_at ON email_accounts (next_poll_at);

CREATE TABLE email_settings (
    user_id       TEXT PRIMARY KEY,
    alert_adapter TEXT,
    alert_channel TEXT,
    ping          INTEGER NOT NULL DEFAULT 0 CHECK (ping IN (0, 1)),
    quiet_start   TEXT,
    quiet_end     TEXT,
    timezone      TEXT
);

CREATE TABLE email_rules (
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    preset     TEXT,
    rule_json  TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, name)
);

CREATE TABLE email_alerts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL,
    user_id      TEXT NOT NULL,
    message_key  TEXT NOT NULL,
    sender       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    preview      TEXT NOT NULL,
    rule         TEXT NOT NULL,
    importance   TEXT NOT NULL,
    matched      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER,
    UNIQUE (account_id, message_key)
);

-- The alerts still waiting, oldest first, without reading the delivered ones.
CREATE INDEX email_alerts_undelivered ON email_alerts (created_at, id) WHERE delivered_at IS NULL;
CREATE INDEX email_alerts_user_created_at ON email_alerts (user_id, created_at);
