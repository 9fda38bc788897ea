-- name: ping
-- Return one row when the database answers.
SELECT
    1 AS ok
