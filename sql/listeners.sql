-- name: create_track_play_listener
-- Insert one listener of a track play, with a copy of the play's start time.
INSERT INTO track_play_listeners (track_play_id, user_id, started_at)
VALUES (:track_play_id, :user_id, :started_at)

-- name: get_listeners_by_track_play_id
-- Return the listeners of the track play, by user id.
SELECT
    track_play_id,
    user_id
FROM track_play_listeners
WHERE track_play_id = :track_play_id
ORDER BY user_id
