-- Create the table of Idempotency-Key headers and the responses stored for them.
-- depends: 0001_create_archive
-- A row belongs to one API key (api_key_scope, a digest prefix, never the key) and one idempotency key.
-- status_code is NULL while the first request with the key runs; it and response_body are set after.

CREATE TABLE IF NOT EXISTS idempotency_keys (
    api_key_scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NULL,
    response_body TEXT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (api_key_scope, idempotency_key)
);

CREATE INDEX IF NOT EXISTS idx_delete_expired_idempotency_keys ON idempotency_keys (created_at);
