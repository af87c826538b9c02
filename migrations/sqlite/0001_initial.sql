-- clara's embedded store: sessions, messages, memories (+ full text index and audit history)
-- and the job queue. Every time is INTEGER milliseconds since the Unix epoch, UTC.

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    user_id             TEXT NOT NULL,
    conversation        TEXT NOT NULL,
    started_at          INTEGER NOT NULL,
    last_activity_at    INTEGER NOT NULL,
    ended_at            INTEGER,
    previous_session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    summary             TEXT
);

-- Finding the open session of a user in a conversation.
CREATE INDEX sessions_open ON sessions (user_id, conversation, started_at)
    WHERE ended_at IS NULL;

CREATE TABLE messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    author     TEXT,
    content    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX messages_session ON messages (session_id, id);

-- `seq` is the rowid (the full text index points at it); `id` is the public id.
-- `embedding` is little-endian f32; a vector counts only for its `embedding_model`.
CREATE TABLE memories (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    user_id         TEXT NOT NULL,
    project         TEXT,
    text            TEXT NOT NULL,
    is_key          INTEGER NOT NULL DEFAULT 0 CHECK (is_key IN (0, 1)),
    embedding       BLOB,
    embedding_model TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK ((embedding IS NULL) = (embedding_model IS NULL))
);

CREATE INDEX memories_user ON memories (user_id, project);
CREATE INDEX memories_key ON memories (user_id, updated_at) WHERE is_key = 1;
CREATE INDEX memories_embedding_model ON memories (embedding_model);

-- External content: the index stores no copy of the text; triggers keep it in step.
CREATE VIRTUAL TABLE memories_fts USING fts5 (
    text,
    content = 'memories',
    content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, text) VALUES (new.seq, new.text);
END;

CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;

CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO memories_fts (rowid, text) VALUES (new.seq, new.text);
END;

-- The audit trail outlives the memory, so there is no foreign key.
CREATE TABLE memory_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    memory_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    event      TEXT NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE')),
    old_text   TEXT,
    new_text   TEXT,
    created_at INTEGER NOT NULL
);

CREATE INDEX memory_history_memory ON memory_history (memory_id, id);

-- A job is due when run_after <= now and it is not leased (or its lease ran out).
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    run_after   INTEGER NOT NULL,
    lease_until INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);

CREATE INDEX jobs_due ON jobs (run_after, id);
