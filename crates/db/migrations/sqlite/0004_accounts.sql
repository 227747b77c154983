-- Accounts: users (argon2id password hashes), browser sessions and personal API tokens (both
-- stored as the SHA-256 of a high-entropy random token, never in clear), follows, and channel
-- ownership. CSRF tokens are double-submit cookies: nothing about them is stored.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash    BLOB    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at_ms);

CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    token_hash      BLOB    NOT NULL UNIQUE,
    created_at_ms   INTEGER NOT NULL,
    last_used_at_ms INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE follows (
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel_id    INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, channel_id)
);
CREATE INDEX follows_channel ON follows (channel_id);

-- Channels made with the admin token (and every channel from before accounts) have no owner.
ALTER TABLE channels ADD COLUMN owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE channels ADD COLUMN title TEXT NOT NULL DEFAULT '';
CREATE INDEX channels_owner ON channels (owner_id);
