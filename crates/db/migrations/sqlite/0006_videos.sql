-- Videos on demand. The row is the video's state machine as users see it
-- (uploading -> queued -> processing -> ready | failed); the work itself lives in the job queue's
-- own database, which refers to videos by id. `upload_claimed` makes an upload URL single-use: it
-- is set while one upload is in flight and the state leaves `uploading` when it completes.
CREATE TABLE videos (
    id             TEXT    PRIMARY KEY,
    owner_id       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    title          TEXT    NOT NULL,
    visibility     TEXT    NOT NULL DEFAULT 'public',
    state          TEXT    NOT NULL DEFAULT 'uploading',
    progress       REAL    NOT NULL DEFAULT 0,
    error          TEXT,
    error_code     TEXT,
    max_bytes      INTEGER NOT NULL,
    upload_claimed INTEGER NOT NULL DEFAULT 0,
    source_bytes   INTEGER,
    duration_s     REAL,
    width          INTEGER,
    height         INTEGER,
    meta           TEXT,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    ready_at_ms    INTEGER
);
CREATE INDEX videos_owner ON videos (owner_id, created_at_ms);
CREATE INDEX videos_state ON videos (state);
