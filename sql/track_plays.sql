-- name: get_track_play_by_id
-- Return the track play with this id, or no row.
SELECT
    id,
    session_id,
    guild_id,
    source,
    source_id,
    url,
    title,
    artist,
    started_at,
    ended_at,
    duration_ms,
    played_duration_ms,
    queued_by_user,
    is_valid
FROM track_plays
WHERE id = :track_play_id

-- name: get_track_plays_by_session_id
-- Return every track play of the session, oldest first.
SELECT
    id,
    session_id,
    guild_id,
    source,
    source_id,
    url,
    title,
    artist,
    started_at,
    ended_at,
    duration_ms,
    played_duration_ms,
    queued_by_user,
    is_valid
FROM track_plays
WHERE session_id = :session_id
ORDER BY started_at, id

-- name: create_track_play
-- Insert a provisional track play: not ended, nothing played yet, valid until its end decides otherwise.
INSERT INTO track_plays (
    id,
    session_id,
    guild_id,
    source,
    source_id,
    url,
    title,
    artist,
    started_at,
    ended_at,
    duration_ms,
    played_duration_ms,
    queued_by_user,
    is_valid
)
VALUES (
    :track_play_id,
    :session_id,
    :guild_id,
    :source,
    :source_id,
    :url,
    :title,
    :artist,
    :started_at,
    NULL,
    :duration_ms,
    0,
    :queued_by_user,
    1
)

-- name: end_track_play
-- Set the play's end, played time and validity unless it already ended; the first end wins.
UPDATE track_plays
SET ended_at = :ended_at,
    played_duration_ms = :played_duration_ms,
    is_valid = :is_valid
WHERE id = :track_play_id
    AND ended_at IS NULL

-- name: get_recent_track_plays_by_guild
-- Return the guild's newest ended, valid track plays, newest first, at most :limit rows.
SELECT
    id,
    session_id,
    guild_id,
    source,
    source_id,
    url,
    title,
    artist,
    started_at,
    ended_at,
    duration_ms,
    played_duration_ms,
    queued_by_user,
    is_valid
FROM track_plays
WHERE guild_id = :guild_id
    AND is_valid = 1
    AND ended_at IS NOT NULL
ORDER BY started_at DESC, id DESC
LIMIT :limit

-- name: get_recent_track_plays_by_user
-- Return the newest ended, valid track plays the user listened to, newest first, at most :limit rows.
SELECT
    track_plays.id,
    track_plays.session_id,
    track_plays.guild_id,
    track_plays.source,
    track_plays.source_id,
    track_plays.url,
    track_plays.title,
    track_plays.artist,
    track_plays.started_at,
    track_plays.ended_at,
    track_plays.duration_ms,
    track_plays.played_duration_ms,
    track_plays.queued_by_user,
    track_plays.is_valid
FROM track_play_listeners
JOIN track_plays ON track_plays.id = track_play_listeners.track_play_id
WHERE track_play_listeners.user_id = :user_id
    AND track_plays.is_valid = 1
    AND track_plays.ended_at IS NOT NULL
ORDER BY track_play_listeners.started_at DESC, track_play_listeners.track_play_id DESC
LIMIT :limit
