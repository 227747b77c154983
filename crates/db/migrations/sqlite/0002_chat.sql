-- Chat: one room per channel. Offsets increase by one per event within the room's epoch and are
-- never reused, even when retention has deleted every stored event (last_offset keeps the count).
CREATE TABLE chat_rooms (
    channel_id  INTEGER PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
    epoch       TEXT    NOT NULL,
    last_offset INTEGER NOT NULL DEFAULT 0,
    slow_secs   INTEGER NOT NULL DEFAULT 0
);

-- The ordered event stream: messages and moderation actions, as sent to clients (json).
-- `hidden` marks messages deleted, purged by a timeout or ban, or cleared: history skips them.
CREATE TABLE chat_events (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    offset     INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    author     TEXT,
    ts_ms      INTEGER NOT NULL,
    json       TEXT    NOT NULL,
    hidden     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, offset)
);
CREATE INDEX chat_events_ts ON chat_events (ts_ms);
CREATE INDEX chat_events_id ON chat_events (id);

CREATE TABLE chat_moderators (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (channel_id, name)
);

-- Active bans: the identity (lower-case name) and the addresses banned with it (comma-separated).
CREATE TABLE chat_bans (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    identity   TEXT    NOT NULL,
    ips        TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (channel_id, identity)
);
