-- Chat room modes, as Twitch has them: followers-only (only followers of the channel, its
-- moderators and its streamer may post) and whether guests (no account) may join and post.
ALTER TABLE chat_rooms ADD COLUMN followers_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_rooms ADD COLUMN guests INTEGER NOT NULL DEFAULT 1;
