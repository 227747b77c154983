-- Channels and their stream keys. The key itself is never stored: only its SHA-256.
CREATE TABLE channels (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    stream_key_hash BLOB    NOT NULL UNIQUE,
    created_at_ms   INTEGER NOT NULL,
    key_rotated_at_ms INTEGER NOT NULL
);
