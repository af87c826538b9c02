-- clara's Postgres store: sessions, messages, memories (+ full text, vectors and audit
-- history) and the job queue. Every time is BIGINT milliseconds since the Unix epoch, UTC.

CREATE EXTENSION IF NOT EXISTS vector;

-- Full text like the SQLite side (porter stemming, no stop words): the english snowball
-- stemmer without its stop word list, for every kind of word the default parser finds.
CREATE TEXT SEARCH DICTIONARY clara_stem (TEMPLATE = snowball, Language = english);
CREATE TEXT SEARCH CONFIGURATION clara (COPY = english);
ALTER TEXT SEARCH CONFIGURATION clara
    ALTER MAPPING REPLACE english_stem WITH clara_stem;

-- `seq` orders sessions that started in the same millisecond.
CREATE TABLE sessions (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY,
    id                  TEXT PRIMARY KEY NOT NULL,
    user_id             TEXT NOT NULL,
    conversation        TEXT NOT NULL,
    started_at          BIGINT NOT NULL,
    last_activity_at    BIGINT NOT NULL,
    ended_at            BIGINT,
    previous_session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    summary             TEXT
);

-- Finding the open session of a user in a conversation.
CREATE INDEX sessions_open ON sessions (user_id, conversation, started_at)
    WHERE ended_at IS NULL;

CREATE TABLE messages (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    author     TEXT,
    content    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX messages_session ON messages (session_id, id);

-- `seq` is the internal key search works with; `id` is the public id. `embedding` has no
-- fixed dimension (the model decides): a vector counts only for its `embedding_model`, and
-- only vectors of the same `embedding_dims` are compared. HNSW indexes need a fixed
-- dimension, so the store creates one partial expression index per dimension on demand:
--   CREATE INDEX memories_hnsw_<n> ON memories
--       USING hnsw ((embedding::vector(<n>)) vector_cosine_ops) WHERE embedding_dims = <n>;
CREATE TABLE memories (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    user_id         TEXT NOT NULL,
    project         TEXT,
    text            TEXT NOT NULL,
    is_key          BOOLEAN NOT NULL DEFAULT FALSE,
    embedding       vector,
    embedding_model TEXT,
    embedding_dims  INTEGER,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    text_search     tsvector GENERATED ALWAYS AS (to_tsvector('clara', text)) STORED,
    CHECK ((embedding IS NULL) = (embedding_model IS NULL)),
    CHECK ((embedding IS NULL) = (embedding_dims IS NULL)),
    CHECK (embedding IS NULL OR vector_dims(embedding) = embedding_dims)
);

CREATE INDEX memories_user ON memories (user_id, project);
CREATE INDEX memories_key ON memories (user_id, updated_at) WHERE is_key;
CREATE INDEX memories_embedding_model ON memories (embedding_model);
CREATE INDEX memories_text_search ON memories USING gin (text_search);

-- The audit trail outlives the memory, so there is no foreign key.
CREATE TABLE memory_history (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    memory_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    event      TEXT NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE')),
    old_text   TEXT,
    new_text   TEXT,
    created_at BIGINT NOT NULL
);

CREATE INDEX memory_history_memory ON memory_history (memory_id, id);

-- A job is due when run_after <= now and it is not leased (or its lease ran out).
CREATE TABLE jobs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL,
    payload     JSONB NOT NULL,
    run_after   BIGINT NOT NULL,
    lease_until BIGINT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);

CREATE INDEX jobs_due ON jobs (run_after, id);
