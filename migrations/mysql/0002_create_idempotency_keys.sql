-- Create the table of Idempotency-Key headers and the responses stored for them.
-- depends: 0001_create_archive
-- transactional: false
-- MySQL DDL commits by itself, so the statement is safe to run again after a crash half-way.
-- A row belongs to one API key (api_key_scope, a digest prefix, never the key) and one idempotency key.
-- status_code is NULL while the first request with the key runs; it and response_body are set after.

CREATE TABLE IF NOT EXISTS idempotency_keys (
    api_key_scope CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    idempotency_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    request_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    status_code SMALLINT NULL,
    response_body MEDIUMTEXT NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (api_key_scope, idempotency_key),
    KEY idx_delete_expired_idempotency_keys (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
