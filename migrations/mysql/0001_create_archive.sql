-- Create the archive's three tables: listening sessions, their track plays and each play's listeners.
-- transactional: false
-- MySQL DDL commits by itself, so every statement is safe to run again after a crash half-way.
-- Ids are short UUIDs that mix upper and lower case, so they compare with a binary collation.
-- Times are DATETIME(3) in UTC: the service sets the connection's time zone and binds UTC itself.

CREATE TABLE IF NOT EXISTS listening_sessions (
    id VARCHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    guild_id BIGINT NOT NULL,
    started_at DATETIME(3) NOT NULL,
    ended_at DATETIME(3) NULL,
    PRIMARY KEY (id),
    KEY idx_get_sessions_by_guild_ids (guild_id, started_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS track_plays (
    id VARCHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    session_id VARCHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    guild_id BIGINT NOT NULL,
    source VARCHAR(255) NOT NULL,
    source_id VARCHAR(255) NOT NULL,
    url VARCHAR(2048) NOT NULL,
    title VARCHAR(1000) NOT NULL,
    artist VARCHAR(1000) NOT NULL,
    started_at DATETIME(3) NOT NULL,
    ended_at DATETIME(3) NULL,
    duration_ms BIGINT NOT NULL,
    played_duration_ms BIGINT NOT NULL DEFAULT 0,
    queued_by_user BIGINT NOT NULL,
    is_valid TINYINT(1) NOT NULL DEFAULT 1,
    PRIMARY KEY (id),
    KEY idx_get_track_plays_by_session_id (session_id, started_at),
    KEY idx_get_recent_track_plays_by_guild (guild_id, is_valid, started_at),
    CONSTRAINT fk_track_plays_session FOREIGN KEY (session_id) REFERENCES listening_sessions (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- started_at copies the play's start, so a user's plays can be read newest first from one index.
CREATE TABLE IF NOT EXISTS track_play_listeners (
    track_play_id VARCHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id BIGINT NOT NULL,
    started_at DATETIME(3) NOT NULL,
    PRIMARY KEY (track_play_id, user_id),
    KEY idx_get_recent_track_plays_by_user (user_id, started_at),
    CONSTRAINT fk_track_play_listeners_track_play FOREIGN KEY (track_play_id)
        REFERENCES track_plays (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
