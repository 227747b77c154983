-- The job queue. Lives in its own database file (jobs.db), so its migration versions never meet
-- the main database's in one `_sqlx_migrations` table. Times are unix milliseconds.
CREATE TABLE jobs (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    kind                  TEXT    NOT NULL,
    payload               TEXT    NOT NULL,          -- JSON
    priority              INTEGER NOT NULL DEFAULT 0, -- higher runs first
    -- pending | ready | running | succeeded | failed | dead | cancelled
    state                 TEXT    NOT NULL,
    run_at_ms             INTEGER NOT NULL,          -- not claimed before this
    attempts              INTEGER NOT NULL DEFAULT 0,
    max_attempts          INTEGER NOT NULL,
    timeout_ms            INTEGER,                   -- per-attempt limit, even while heartbeating
    idempotency_key       TEXT    UNIQUE,
    pending_deps          INTEGER NOT NULL DEFAULT 0, -- dependencies not yet succeeded
    fence                 INTEGER NOT NULL DEFAULT 0, -- bumped on every lease
    worker                TEXT,
    lease_ms              INTEGER,
    lease_expires_at_ms   INTEGER,
    attempt_deadline_ms   INTEGER,
    progress              REAL,
    last_error            TEXT,
    cancel_reason         TEXT,
    created_at_ms         INTEGER NOT NULL,
    started_at_ms         INTEGER,                   -- first lease
    attempt_started_at_ms INTEGER,                   -- latest lease
    finished_at_ms        INTEGER,
    updated_at_ms         INTEGER NOT NULL
);

-- Listing, stats and the reaper go by state.
CREATE INDEX jobs_state ON jobs (state, priority, run_at_ms);
-- The claim: a partial index already in claim order, so picking the next job is one index seek.
CREATE INDEX jobs_claimable ON jobs (priority DESC, run_at_ms, id) WHERE state IN ('ready', 'failed');
CREATE INDEX jobs_running ON jobs (lease_expires_at_ms) WHERE state = 'running';

-- Edges of the dependency graph: `job_id` runs only once every `depends_on` succeeded.
CREATE TABLE job_deps (
    job_id     INTEGER NOT NULL,
    depends_on INTEGER NOT NULL,
    PRIMARY KEY (job_id, depends_on)
);
CREATE INDEX job_deps_parent ON job_deps (depends_on);

-- A success releases its dependents in the same statement (the last one makes them ready), so
-- completing a job is one UPDATE: the hot path of the queue stays one round trip, and no crash
-- can ever separate the success from the release.
CREATE TRIGGER jobs_release_dependents AFTER UPDATE OF state ON jobs
WHEN NEW.state = 'succeeded' AND OLD.state != 'succeeded'
BEGIN
    UPDATE jobs SET pending_deps = pending_deps - 1,
        state = CASE WHEN pending_deps <= 1 THEN 'ready' ELSE state END,
        run_at_ms = CASE WHEN pending_deps <= 1 THEN MAX(run_at_ms, NEW.updated_at_ms)
                         ELSE run_at_ms END,
        updated_at_ms = NEW.updated_at_ms
    WHERE state = 'pending' AND id IN (SELECT job_id FROM job_deps WHERE depends_on = NEW.id);
END;
