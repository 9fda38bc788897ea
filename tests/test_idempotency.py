"""Idempotency-Key on POST /sessions and POST /sessions/{id}/tracks, on both backends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.idempotency import MAX_KEY_LENGTH, REPLAYED_HEADER, IdempotencyKeys
from service.keys import key_scope
from service.settings import DatabaseConfig, Settings
from tests.checks import count_stored, empty_idempotency_keys, error_message
from tests.conftest import TEST_API_KEY, make_settings, query_sql, run_sql

TRACK = {
    "source": "youtube",
    "sourceId": "dQw4w9WgXcQ",
    "url": "https://youtu.be/dQw4w9WgXcQ",
    "title": "Never Gonna Give You Up",
    "artist": "Rick Astley",
    "durationMs": 213000,
    "queuedByUser": "42",
    "listenerIds": ["42", "43"],
}


@pytest.fixture(autouse=True)
def _no_idempotency_keys(db_config: DatabaseConfig) -> None:
    empty_idempotency_keys(db_config)


def create_session(
    client: TestClient, key: str | None = None, guild_id: str = "1"
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/api/v1/sessions", json={"guildId": guild_id}, headers=headers)


def start_track(client: TestClient, session_id: str, key: str, **changes: object) -> httpx.Response:
    return client.post(
        f"/api/v1/sessions/{session_id}/tracks",
        json={**TRACK, **changes},
        headers={"Idempotency-Key": key},
    )


def stored_keys(config: DatabaseConfig) -> list[tuple]:
    return query_sql(
        config,
        "SELECT api_key_scope, idempotency_key, status_code FROM idempotency_keys "
        "ORDER BY idempotency_key",
    )


def age_key(config: DatabaseConfig, key: str, seconds: int) -> None:
    """Move a stored key's creation time `seconds` into the past."""
    if config.backend == "sqlite":
        moved = f"strftime('%Y-%m-%d %H:%M:%f', created_at, '-{seconds} seconds')"
    else:
        moved = f"created_at - INTERVAL {seconds} SECOND"
    run_sql(
        config,
        [f"UPDATE idempotency_keys SET created_at = {moved} WHERE idempotency_key = '{key}'"],
    )


def make_pending(config: DatabaseConfig, key: str) -> None:
    """Turn a stored response back into the pending state of a request still running."""
    run_sql(
        config,
        [
            "UPDATE idempotency_keys SET status_code = NULL, response_body = NULL "
            f"WHERE idempotency_key = '{key}'"
        ],
    )


def test_create_session_replays_first_response(
    client: TestClient, db_config: DatabaseConfig
) -> None:
    first = create_session(client, "session-key-1")
    second = create_session(client, "session-key-1")

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first.headers
    assert count_stored(db_config)["listening_sessions"] == 1


def test_start_track_play_replays_first_response(
    client: TestClient, db_config: DatabaseConfig
) -> None:
    session_id = create_session(client).json()["ID"]

    first = start_track(client, session_id, "track-key-1")
    second = start_track(client, session_id, "track-key-1")

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers[REPLAYED_HEADER] == "true"
    assert count_stored(db_config)["track_plays"] == 1
    assert count_stored(db_config)["track_play_listeners"] == 2


def test_requests_without_key_each_create(client: TestClient, db_config: DatabaseConfig) -> None:
    create_session(client)
    create_session(client)

    assert count_stored(db_config)["listening_sessions"] == 2
    assert count_stored(db_config)["idempotency_keys"] == 0


def test_same_key_other_body_is_conflict(client: TestClient, db_config: DatabaseConfig) -> None:
    create_session(client, "reused-key", guild_id="1")

    response = create_session(client, "reused-key", guild_id="2")

    assert response.status_code == 409
    assert "already used for a different request" in error_message(response)
    assert count_stored(db_config)["listening_sessions"] == 1


def test_same_key_other_session_is_conflict(client: TestClient, db_config: DatabaseConfig) -> None:
    first_session = create_session(client).json()["ID"]
    second_session = create_session(client).json()["ID"]
    start_track(client, first_session, "track-key-2")

    response = start_track(client, second_session, "track-key-2")

    assert response.status_code == 409
    assert "already used for a different request" in error_message(response)
    assert count_stored(db_config)["track_plays"] == 1


def test_same_key_other_route_is_conflict(client: TestClient, db_config: DatabaseConfig) -> None:
    session_id = create_session(client, "shared-key").json()["ID"]

    response = start_track(client, session_id, "shared-key")

    assert response.status_code == 409
    assert count_stored(db_config)["track_plays"] == 0


def test_key_is_scoped_to_api_key(db_config: DatabaseConfig) -> None:
    settings = make_settings(db_config, api_key="first-api-key\nsecond-api-key")
    app = create_app(settings)

    with TestClient(app) as client:
        first = client.post(
            "/api/v1/sessions",
            json={"guildId": "1"},
            headers={"X-API-Key": "first-api-key", "Idempotency-Key": "same-key"},
        )
        second = client.post(
            "/api/v1/sessions",
            json={"guildId": "1"},
            headers={"X-API-Key": "second-api-key", "Idempotency-Key": "same-key"},
        )

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json()["ID"] != first.json()["ID"]
    assert REPLAYED_HEADER not in second.headers
    assert count_stored(db_config)["listening_sessions"] == 2


def test_key_row_names_scope_not_api_key(client: TestClient, db_config: DatabaseConfig) -> None:
    create_session(client, "scoped-key")

    rows = stored_keys(db_config)

    assert rows == [(key_scope(TEST_API_KEY), "scoped-key", 201)]
    assert TEST_API_KEY not in repr(query_sql(db_config, "SELECT * FROM idempotency_keys"))


def test_pending_key_is_conflict(client: TestClient, db_config: DatabaseConfig) -> None:
    create_session(client, "pending-key")
    make_pending(db_config, "pending-key")

    response = create_session(client, "pending-key")

    assert response.status_code == 409
    assert "is in progress" in error_message(response)
    assert count_stored(db_config)["listening_sessions"] == 1


def test_abandoned_pending_key_is_taken_over(client: TestClient, db_config: DatabaseConfig) -> None:
    create_session(client, "abandoned-key")
    make_pending(db_config, "abandoned-key")
    age_key(db_config, "abandoned-key", 120)

    response = create_session(client, "abandoned-key")

    assert response.status_code == 201
    assert REPLAYED_HEADER not in response.headers
    assert count_stored(db_config)["listening_sessions"] == 2
    assert stored_keys(db_config)[0][2] == 201


def test_expired_key_runs_again(client: TestClient, db_config: DatabaseConfig) -> None:
    first = create_session(client, "expired-key")
    age_key(db_config, "expired-key", 25 * 3600)

    second = create_session(client, "expired-key")
    third = create_session(client, "expired-key")

    assert second.status_code == 201
    assert second.json()["ID"] != first.json()["ID"]
    assert third.json()["ID"] == second.json()["ID"]
    assert count_stored(db_config)["listening_sessions"] == 2
    assert count_stored(db_config)["idempotency_keys"] == 1


def test_expired_key_accepts_other_body(client: TestClient, db_config: DatabaseConfig) -> None:
    create_session(client, "expired-key-2", guild_id="1")
    age_key(db_config, "expired-key-2", 25 * 3600)

    response = create_session(client, "expired-key-2", guild_id="2")

    assert response.status_code == 201
    assert response.json()["GuildID"] == 2


def test_key_within_24_hours_still_replays(client: TestClient, db_config: DatabaseConfig) -> None:
    first = create_session(client, "day-old-key")
    age_key(db_config, "day-old-key", 23 * 3600)

    second = create_session(client, "day-old-key")

    assert second.json() == first.json()
    assert second.headers[REPLAYED_HEADER] == "true"


def test_concurrent_requests_create_once(client: TestClient, db_config: DatabaseConfig) -> None:
    barrier = threading.Barrier(8)

    def send(_: int) -> httpx.Response:
        barrier.wait()
        return create_session(client, "concurrent-key")

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))

    statuses = sorted(response.status_code for response in responses)
    created = {response.json()["ID"] for response in responses if response.status_code == 201}
    assert set(statuses) <= {201, 409}
    assert len(created) == 1
    assert count_stored(db_config)["listening_sessions"] == 1
    for response in responses:
        if response.status_code == 409:
            assert "is in progress" in error_message(response)


def test_not_found_is_replayed(client: TestClient, db_config: DatabaseConfig) -> None:
    first = start_track(client, "no-such-session", "missing-session-key")
    second = start_track(client, "no-such-session", "missing-session-key")

    assert first.status_code == 404
    assert second.status_code == 404
    assert second.json() == first.json()
    assert second.headers[REPLAYED_HEADER] == "true"


def test_ended_session_conflict_is_replayed(client: TestClient, db_config: DatabaseConfig) -> None:
    session_id = create_session(client).json()["ID"]
    start_track(client, session_id, "before-end")
    assert client.patch(f"/api/v1/sessions/{session_id}", json={}).status_code == 200

    first = start_track(client, session_id, "after-end")
    second = start_track(client, session_id, "after-end")

    assert first.status_code == 409
    assert second.status_code == 409
    assert second.headers[REPLAYED_HEADER] == "true"
    assert count_stored(db_config)["track_plays"] == 1


def test_invalid_body_is_not_stored(client: TestClient, db_config: DatabaseConfig) -> None:
    session_id = create_session(client).json()["ID"]

    rejected = start_track(client, session_id, "fix-and-retry", durationMs="long")
    accepted = start_track(client, session_id, "fix-and-retry")

    assert rejected.status_code == 400
    assert accepted.status_code == 201
    assert REPLAYED_HEADER not in accepted.headers
    assert count_stored(db_config)["track_plays"] == 1


def test_server_error_is_not_stored(db_config: DatabaseConfig, settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(
        app, headers={"X-API-Key": TEST_API_KEY}, raise_server_exceptions=False
    ) as client:
        session_id = create_session(client).json()["ID"]
        # Without this table the listener inserts fail after the play insert, in one transaction.
        run_sql(db_config, ["ALTER TABLE track_play_listeners RENAME TO hidden_listeners"])
        try:
            failed = start_track(client, session_id, "fault-key")
            keys_after_failure = count_stored_keys(db_config)
        finally:
            run_sql(db_config, ["ALTER TABLE hidden_listeners RENAME TO track_play_listeners"])
        retried = start_track(client, session_id, "fault-key")

    assert failed.status_code == 500
    assert error_message(failed) == "internal server error"
    assert keys_after_failure == 0
    assert retried.status_code == 201
    assert REPLAYED_HEADER not in retried.headers
    assert count_stored(db_config)["track_plays"] == 1


def count_stored_keys(config: DatabaseConfig) -> int:
    return int(query_sql(config, "SELECT COUNT(*) FROM idempotency_keys")[0][0])


MALFORMED_KEYS = {
    "too long": b"k" * (MAX_KEY_LENGTH + 1),
    "empty": b"",
    "space": b"two words",
    "tab": b"tab\tkey",
    "non-ASCII": "schl\u00fcssel".encode(),
    "DEL character": b"key\x7f",
}


@pytest.mark.parametrize("case", MALFORMED_KEYS)
def test_malformed_key_is_rejected(
    client: TestClient, db_config: DatabaseConfig, case: str
) -> None:
    response = client.post(
        "/api/v1/sessions",
        json={"guildId": "1"},
        headers=[(b"Idempotency-Key", MALFORMED_KEYS[case])],
    )

    assert response.status_code == 400
    assert "Idempotency-Key" in error_message(response)
    assert count_stored(db_config)["listening_sessions"] == 0
    assert count_stored_keys(db_config) == 0


def test_longest_key_is_accepted(client: TestClient) -> None:
    response = create_session(client, "k" * MAX_KEY_LENGTH)

    assert response.status_code == 201


def test_repeated_key_header_is_rejected(client: TestClient, db_config: DatabaseConfig) -> None:
    response = client.post(
        "/api/v1/sessions",
        json={"guildId": "1"},
        headers=[(b"Idempotency-Key", b"first"), (b"Idempotency-Key", b"second")],
    )

    assert response.status_code == 400
    assert "sent 2 times" in error_message(response)
    assert count_stored(db_config)["listening_sessions"] == 0


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cleanup_client(settings: Settings) -> Iterator[tuple[TestClient, FakeMonotonic]]:
    app = create_app(settings)
    monotonic = FakeMonotonic()
    app.state.idempotency_keys = IdempotencyKeys(app.state.db, monotonic=monotonic)
    with TestClient(app, headers={"X-API-Key": TEST_API_KEY}) as client:
        yield client, monotonic


def test_expired_keys_are_deleted_hourly(
    cleanup_client: tuple[TestClient, FakeMonotonic], db_config: DatabaseConfig
) -> None:
    client, monotonic = cleanup_client
    create_session(client, "old-key")
    age_key(db_config, "old-key", 25 * 3600)

    create_session(client, "second-key")
    after_second = [row[1] for row in stored_keys(db_config)]
    monotonic.now += 3600
    create_session(client, "third-key")
    after_third = [row[1] for row in stored_keys(db_config)]

    assert after_second == ["old-key", "second-key"]
    assert after_third == ["second-key", "third-key"]
