"""Strict JSON request bodies: malformed documents, wrong shapes and media types get 400 or 415."""

from __future__ import annotations

import pytest

from tests.conftest import query_sql
from tests.factories import API, start_played_track

JSON = {"Content-Type": "application/json"}


def stored_session_count(config) -> int:
    return query_sql(config, "SELECT COUNT(*) FROM listening_sessions")[0][0]


@pytest.mark.parametrize(
    "content",
    [
        b"{",
        b'{"guildId": 1,}',
        b"{'guildId': 1}",
        b'{"guildId": 1} trailing',
        b'{"guildId": NaN}',
        b'{"guildId": Infinity}',
        b'{"guildId": 1e999}',
        b"\xff\xfe{}",
        b"[" * 100_00 + b"]" * 100_00,
    ],
    ids=[
        "unclosed",
        "trailing-comma",
        "single-quotes",
        "trailing-text",
        "nan",
        "infinity",
        "overflow",
        "not-utf8",
        "deep-nesting",
    ],
)
def test_body_malformed_is_400(client, db_config, content):
    response = client.post(f"{API}/sessions", content=content, headers=JSON)

    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert stored_session_count(db_config) == 0


@pytest.mark.parametrize("content", [b"[]", b"1", b'"guildId"', b"null", b"true"])
def test_body_not_object_is_400(client, db_config, content):
    response = client.post(f"{API}/sessions", content=content, headers=JSON)

    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]


def test_body_lone_surrogate_is_400(client, db_config):
    track = start_played_track(client)
    content = (
        b'{"source": "youtube", "sourceId": "x", "url": "https://x", "title": "bad \\ud800",'
        b' "artist": "a", "durationMs": 1, "queuedByUser": 1, "listenerIds": []}'
    )

    response = client.post(
        f"{API}/sessions/{track['SessionID']}/tracks", content=content, headers=JSON
    )

    assert response.status_code == 400
    assert "title" in response.json()["error"]
    assert query_sql(db_config, "SELECT COUNT(*) FROM track_plays")[0][0] == 1


def test_body_duplicate_key_is_400(client, db_config):
    response = client.post(f"{API}/sessions", content=b'{"guildId": 1, "guildId": 2}', headers=JSON)

    assert response.status_code == 400
    assert "guildId" in response.json()["error"]
    assert stored_session_count(db_config) == 0


def test_body_error_has_field_details(client, db_config):
    response = client.post(f"{API}/sessions", json={"guildId": -1})

    assert response.json()["details"] == [
        {"field": "guildId", "message": response.json()["details"][0]["message"]}
    ]


def test_body_error_has_no_traceback(client, db_config):
    response = client.post(f"{API}/sessions", content=b'{"guildId": [[[', headers=JSON)

    assert "Traceback" not in response.text
    assert "pydantic" not in response.text


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/vnd.api+json"],
)
def test_body_json_media_types_accepted(client, db_config, content_type):
    response = client.post(
        f"{API}/sessions", content=b'{"guildId": 1}', headers={"Content-Type": content_type}
    )

    assert response.status_code == 201


def test_body_without_content_type_accepted(client, db_config):
    response = client.post(f"{API}/sessions", content=b'{"guildId": 1}')

    assert "content-type" not in response.request.headers
    assert response.status_code == 201


def test_body_form_media_type_is_415(client, db_config):
    response = client.post(f"{API}/sessions", data={"guildId": "1"})

    assert response.status_code == 415
    assert stored_session_count(db_config) == 0


def test_end_track_body_malformed_is_400(client, db_config):
    track = start_played_track(client)

    response = client.patch(
        f"{API}/tracks/{track['ID']}", content=b'{"playedDurationMs": }', headers=JSON
    )

    assert response.status_code == 400
    assert client.get(f"{API}/tracks/{track['ID']}").json()["EndedAt"] is None


def test_body_missing_field_names_ignored_fields(client, db_config):
    response = client.post(f"{API}/sessions", json={"guildID": "123"})

    assert response.status_code == 400
    assert "guildId is required" in response.json()["error"]
    assert "ignored unknown fields: 'guildID'" in response.json()["error"]


def test_body_invalid_field_omits_ignored_fields(client, db_config):
    response = client.post(f"{API}/sessions", json={"guildId": "x", "note": "hello"})

    assert response.status_code == 400
    assert "ignored unknown fields" not in response.json()["error"]
