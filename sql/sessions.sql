-- name: get_session_by_id
-- Return the listening session with this id, or no row.
SELECT
    id,
    guild_id,
    started_at,
    ended_at
FROM listening_sessions
WHERE id = :session_id

-- name: get_session_by_id_for_update
-- Return the listening session with this id and lock it until the transaction ends, or no row.
SELECT
    id,
    guild_id,
    started_at,
    ended_at
FROM listening_sessions
WHERE id = :session_id
FOR UPDATE

-- name: get_session_by_id_for_update
-- dialect: sqlite
-- Return the listening session with this id, or no row; BEGIN IMMEDIATE already holds the write lock.
SELECT
    id,
    guild_id,
    started_at,
    ended_at
FROM listening_sessions
WHERE id = :session_id

-- name: get_sessions_by_guild_ids
-- Return the newest sessions of the listed guilds, newest first, at most :limit rows.
SELECT
    id,
    guild_id,
    started_at,
    ended_at
FROM listening_sessions
WHERE guild_id IN (:guild_ids)
ORDER BY started_at DESC, id DESC
LIMIT :limit

-- name: create_session
-- Insert a listening session that has not ended.
INSERT INTO listening_sessions (id, guild_id, started_at, ended_at)
VALUES (:session_id, :guild_id, :started_at, NULL)

-- name: end_session
-- Set the session's end time unless it already has one; the first end wins.
UPDATE listening_sessions
SET ended_at = :ended_at
WHERE id = :session_id
    AND ended_at IS NULL

-- name: delete_session
-- Delete the listening session with this id.
DELETE FROM listening_sessions
WHERE id = :session_id

-- name: get_any_track_play_id_by_session_id
-- Return one track play id of the session, or no row when it has none.
SELECT
    id
FROM track_plays
WHERE session_id = :session_id
LIMIT 1
