-- The scheduler's durable state: per scheduled task, the latest due run that was claimed, its
-- outcome, and the lease of the instance running it. Claiming a due run is one upsert that
-- only moves `last_due_at` forward while no live lease is held, so a restart neither repeats
-- nor forgets a run, and instances sharing this file run each due run once, never two at once.

CREATE TABLE task_runs (
    name             TEXT PRIMARY KEY NOT NULL,
    last_due_at      INTEGER NOT NULL,
    last_started_at  INTEGER NOT NULL,
    last_finished_at INTEGER,
    last_ok          INTEGER CHECK (last_ok IN (0, 1)),
    last_error       TEXT,
    running_by       TEXT,
    lease_until      INTEGER,
    CHECK ((running_by IS NULL) = (lease_until IS NULL))
);
