-- name: ping
-- Return one row when the database responds.
SELECT
    1 AS ok
