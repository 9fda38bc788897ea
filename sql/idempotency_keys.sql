-- name: create_idempotency_key
-- Insert a pending idempotency key; fails on the primary key when the key is already stored.
INSERT INTO idempotency_keys (api_key_scope, idempotency_key, request_hash, status_code, response_body, created_at)
VALUES (:api_key_scope, :idempotency_key, :request_hash, NULL, NULL, :created_at)

-- name: get_idempotency_key
-- Return the stored idempotency key of this API key scope, or no row.
SELECT
    request_hash,
    status_code,
    response_body,
    created_at
FROM idempotency_keys
WHERE api_key_scope = :api_key_scope
    AND idempotency_key = :idempotency_key

-- name: claim_idempotency_key
-- Reset an expired or abandoned key to pending for a new request, unless another request got there first.
UPDATE idempotency_keys
SET request_hash = :request_hash,
    status_code = NULL,
    response_body = NULL,
    created_at = :created_at
WHERE api_key_scope = :api_key_scope
    AND idempotency_key = :idempotency_key
    AND created_at = :previous_created_at

-- name: complete_idempotency_key
-- Store the response of the request that claimed the pending key at :created_at.
UPDATE idempotency_keys
SET status_code = :status_code,
    response_body = :response_body
WHERE api_key_scope = :api_key_scope
    AND idempotency_key = :idempotency_key
    AND created_at = :created_at
    AND status_code IS NULL

-- name: delete_pending_idempotency_key
-- Delete the pending key claimed at :created_at, so a retry runs the request again.
DELETE FROM idempotency_keys
WHERE api_key_scope = :api_key_scope
    AND idempotency_key = :idempotency_key
    AND created_at = :created_at
    AND status_code IS NULL

-- name: delete_expired_idempotency_keys
-- Delete every idempotency key created before :expired_before.
DELETE FROM idempotency_keys
WHERE created_at < :expired_before
