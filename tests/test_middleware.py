"""API key checks, the body size limit, and the order in which a request's checks run."""

from __future__ import annotations

import logging

import pytest

from service.middleware import MAX_BODY_BYTES
from tests.conftest import TEST_API_KEY, query_sql
from tests.factories import API, GUILD_ID, record_id, start_played_track, start_session, track_body


def stored_session_count(config) -> int:
    return query_sql(config, "SELECT COUNT(*) FROM listening_sessions")[0][0]


# Authentication


def test_auth_missing_key_is_401(anonymous, db_config):
    response = anonymous.get(f"{API}/sessions", params={"guildIds": "1"})

    assert response.status_code == 401
    assert "X-API-Key" in response.json()["error"]


def test_auth_wrong_key_is_401(anonymous, db_config):
    response = anonymous.get(
        f"{API}/sessions", params={"guildIds": "1"}, headers={"X-API-Key": "wrong-key"}
    )

    assert response.status_code == 401
    assert set(response.json()) == {"error"}


def test_auth_key_with_extra_character_is_401(anonymous, db_config):
    response = anonymous.get(
        f"{API}/sessions", params={"guildIds": "1"}, headers={"X-API-Key": TEST_API_KEY + "x"}
    )

    assert response.status_code == 401


def test_auth_empty_key_is_401(anonymous, db_config):
    response = anonymous.get(f"{API}/sessions", params={"guildIds": "1"}, headers={"X-API-Key": ""})

    assert response.status_code == 401


@pytest.mark.parametrize("header", ["X-API-KEY", "x-api-key", "X-Api-Key"])
def test_auth_header_name_case_insensitive(anonymous, db_config, header):
    response = anonymous.get(
        f"{API}/sessions", params={"guildIds": "1"}, headers={header: TEST_API_KEY}
    )

    assert response.status_code == 200


def test_auth_failed_post_stores_nothing(anonymous, db_config):
    response = anonymous.post(f"{API}/sessions", json={"guildId": GUILD_ID})

    assert response.status_code == 401
    assert stored_session_count(db_config) == 0


def test_auth_rejection_logs_no_key(anonymous, db_config, caplog):
    presented = "wrong-key-that-must-not-be-logged"

    with caplog.at_level(logging.DEBUG):
        anonymous.get(f"{API}/sessions", params={"guildIds": "1"}, headers={"X-API-Key": presented})

    assert "rejected" in caplog.text
    assert presented not in caplog.text


# Order of the checks: 401, then 400, then 404, then 409


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/sessions/{record_id('nope', 1)}"),
        ("GET", f"/tracks/{record_id('nope', 2)}"),
        ("PATCH", f"/tracks/{record_id('nope', 3)}"),
        ("GET", "/no/such/route"),
        ("DELETE", "/sessions"),
    ],
)
def test_auth_before_404(anonymous, db_config, method, path):
    response = anonymous.request(method, f"{API}{path}")

    assert response.status_code == 401


def test_auth_before_404_outside_api(anonymous, db_config):
    assert anonymous.get("/no/such/route").status_code == 401


def test_auth_before_400(anonymous, db_config):
    bad_query = anonymous.get(f"{API}/sessions")
    bad_body = anonymous.post(f"{API}/sessions", content=b"{not json")
    bad_path = anonymous.get(f"{API}/guilds/abc/tracks/recent")

    assert bad_query.status_code == 401
    assert bad_body.status_code == 401
    assert bad_path.status_code == 401


def test_auth_before_413(anonymous, db_config):
    response = anonymous.post(f"{API}/sessions", content=b"x" * (MAX_BODY_BYTES + 1))

    assert response.status_code == 401


def test_order_400_before_404(client, db_config):
    unknown = record_id("nope", 4)

    body = client.post(f"{API}/sessions/{unknown}/tracks", json=track_body(durationMs=-1))
    ended = client.patch(f"{API}/tracks/{unknown}", json={"playedDurationMs": -1})
    query = client.get(f"{API}/sessions/{unknown}/tracks?a=1&a=2")

    assert body.status_code == 400
    assert ended.status_code == 400
    assert query.status_code == 400


def test_order_404_before_409(client, db_config):
    response = client.post(f"{API}/sessions/{record_id('nope', 5)}/tracks", json=track_body())

    assert response.status_code == 404


def test_order_400_before_409(client, db_config):
    track = start_played_track(client)
    client.patch(f"{API}/sessions/{track['SessionID']}")

    response = client.post(f"{API}/sessions/{track['SessionID']}/tracks", json=track_body(url=""))

    assert response.status_code == 400


def test_unknown_route_with_key_is_404(client, db_config):
    response = client.get(f"{API}/no/such/route")

    assert response.status_code == 404
    assert set(response.json()) == {"error"}


def test_wrong_method_with_key_is_405(client, db_config):
    response = client.delete(f"{API}/sessions")

    assert response.status_code == 405
    assert set(response.json()) == {"error"}


# Body size limit


def test_body_over_limit_is_413(client, db_config):
    response = client.post(
        f"{API}/sessions",
        content=b'{"guildId": 1, "pad": "' + b"x" * MAX_BODY_BYTES + b'"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert "64 KiB" in response.json()["error"]
    assert stored_session_count(db_config) == 0


def test_chunked_body_over_limit_is_413(client, db_config):
    def chunks():
        yield b'{"guildId": 1, "pad": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    response = client.post(
        f"{API}/sessions", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert stored_session_count(db_config) == 0


def test_body_at_limit_accepted(client, db_config):
    opening = b'{"guildId": 1, "pad": "'
    closing = b'"}'
    body = opening + b"x" * (MAX_BODY_BYTES - len(opening) - len(closing)) + closing

    response = client.post(
        f"{API}/sessions", content=body, headers={"Content-Type": "application/json"}
    )

    assert len(body) == MAX_BODY_BYTES
    assert response.status_code == 201


def test_body_limit_is_64_kib():
    assert MAX_BODY_BYTES == 64 * 1024


def test_track_body_over_limit_is_413(client, db_config):
    session = start_session(client)

    response = client.post(
        f"{API}/sessions/{session['ID']}/tracks",
        json=track_body(listenerIds=list(range(10**17, 10**17 + 4000))),
    )

    assert response.status_code == 413
    assert query_sql(db_config, "SELECT COUNT(*) FROM track_plays")[0][0] == 0
