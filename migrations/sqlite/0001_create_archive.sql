-- Create the archive's three tables: listening sessions, their track plays and each play's listeners.
-- Times are TEXT 'YYYY-MM-DD HH:MM:SS.fff' in UTC, which sorts in time order; the service converts them.

CREATE TABLE IF NOT EXISTS listening_sessions (
    id TEXT NOT NULL PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT NULL
);

CREATE INDEX IF NOT EXISTS idx_get_sessions_by_guild_ids ON listening_sessions (guild_id, started_at);

CREATE TABLE IF NOT EXISTS track_plays (
    id TEXT NOT NULL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES listening_sessions (id),
    guild_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT NULL,
    duration_ms INTEGER NOT NULL,
    played_duration_ms INTEGER NOT NULL DEFAULT 0,
    queued_by_user INTEGER NOT NULL,
    is_valid INTEGER NOT NULL DEFAULT 1
);

CREATE INDEX IF NOT EXISTS idx_get_track_plays_by_session_id ON track_plays (session_id, started_at);
CREATE INDEX IF NOT EXISTS idx_get_recent_track_plays_by_guild ON track_plays (guild_id, is_valid, started_at);

CREATE TABLE IF NOT EXISTS track_play_listeners (
    track_play_id TEXT NOT NULL REFERENCES track_plays (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    PRIMARY KEY (track_play_id, user_id)
);

CREATE INDEX IF NOT EXISTS idx_get_recent_track_plays_by_user ON track_play_listeners (user_id, started_at);
