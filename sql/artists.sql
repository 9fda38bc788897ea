-- name: get_recommendation_seeds_by_guild
-- Return the artist and start time of the guild's newest ended, valid plays, newest first, at most :limit rows.
SELECT
    artist,
    started_at
FROM track_plays
WHERE guild_id = :guild_id
    AND is_valid = 1
    AND ended_at IS NOT NULL
ORDER BY started_at DESC, id DESC
LIMIT :limit

-- name: get_recommendation_seeds_by_user
-- Return the artist and start time of the newest ended, valid plays the user listened to, newest first, at most :limit rows.
SELECT
    track_plays.artist,
    track_plays.started_at
FROM track_play_listeners
JOIN track_plays ON track_plays.id = track_play_listeners.track_play_id
WHERE track_play_listeners.user_id = :user_id
    AND track_plays.is_valid = 1
    AND track_plays.ended_at IS NOT NULL
ORDER BY track_play_listeners.started_at DESC, track_play_listeners.track_play_id DESC
LIMIT :limit
