"""Hostile and malformed input: each gets a clear 4xx in the JSON error shape and stores nothing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from service.middleware import MAX_BODY_BYTES
from service.parsing import MAX_GUILD_ID_ITEMS, MAX_GUILD_IDS
from service.settings import DatabaseConfig
from tests.checks import count_stored, empty_idempotency_keys, error_message, nothing_stored
from tests.conftest import TEST_API_KEY
from tests.live import LiveServer, start_server

TRACK = (
    b'{"source": "youtube", "sourceId": "dQw4w9WgXcQ", "url": "https://youtu.be/dQw4w9WgXcQ", '
    b'"title": %s, "artist": "Rick Astley", "durationMs": 213000, "queuedByUser": "42", '
    b'"listenerIds": ["42"]}'
)


def track_body(title: bytes = b'"Never Gonna Give You Up"') -> bytes:
    return TRACK % title


@pytest.fixture(autouse=True)
def _no_idempotency_keys(db_config: DatabaseConfig) -> None:
    empty_idempotency_keys(db_config)


def post_json(client: TestClient, path: str, body: bytes, content_type: str = "application/json"):  # type: ignore[no-untyped-def]
    return client.post(path, content=body, headers={"Content-Type": content_type})


# Bodies for POST /sessions, with the status and a phrase the error must contain.
SESSION_BODIES = {
    "nan": (b'{"guildId": NaN}', 400, "NaN"),
    "infinity": (b'{"guildId": Infinity}', 400, "Infinity"),
    "negative infinity": (b'{"guildId": 1, "x": -Infinity}', 400, "-Infinity"),
    "float overflow": (b'{"guildId": 1e999}', 400, "out of range"),
    "huge integer": (b'{"guildId": ' + b"9" * 5000 + b"}", 400, "5000 digits"),
    "huge digit string": (b'{"guildId": "' + b"9" * 5000 + b'"}', 400, "guildId"),
    "lone surrogate value": (b'{"guildId": "\\udc85"}', 400, "lone surrogate"),
    "lone surrogate in ignored field": (
        b'{"guildId": 1, "note": "a\\ud800"}',
        400,
        "lone surrogate",
    ),
    "lone surrogate key": (b'{"guildId": 1, "\\udc85": 1}', 400, "lone surrogate"),
    "nested arrays": (b"[" * 50_000, 400, "nested more than"),
    "nested objects": (b'{"a":' * 10_000, 400, "nested more than"),
    "nested inside object": (b'{"guildId": 1, "x": ' + b"[" * 40 + b"]" * 40 + b"}", 400, "nested"),
    "duplicate keys": (b'{"guildId": 1, "guildId": 2}', 400, "'guildId' more than once"),
    "top-level array": (b'[{"guildId": 1}]', 400, "got an array"),
    "top-level string": (b'"guildId"', 400, "got a string"),
    "top-level null": (b"null", 400, "got null"),
    "escaped NUL": (b'{"guildId": "1\\u0000"}', 400, "NUL"),
    "raw NUL byte": (b'{"guildId": "1\x00"}', 400, "Invalid control character at line"),
    "invalid UTF-8": (b'{"guildId": "\xff1"}', 400, "not valid UTF-8"),
    "overlong UTF-8": (b'{"guildId": "\xc0\xaf"}', 400, "not valid UTF-8"),
    "UTF-16": ('{"guildId": 1}'.encode("utf-16"), 400, "UTF-8"),
    "byte order mark": (b'\xef\xbb\xbf{"guildId": 1}', 400, "byte order mark"),
    "truncated": (b'{"guildId": 1', 400, "not valid JSON"),
    "not JSON": (b"guildId=1", 400, "not valid JSON"),
    "empty": (b"", 400, "request body is required"),
    "whitespace": (b"  \n ", 400, "request body is required"),
    "boolean id": (b'{"guildId": true}', 400, "guildId"),
    "negative id": (b'{"guildId": -1}', 400, "guildId"),
    "over 64 KiB": (b'{"guildId": 1, "x": "' + b"a" * MAX_BODY_BYTES + b'"}', 413, "64 KiB"),
    "100 000 brackets": (b"[" * 100_000, 413, "64 KiB"),
}


@pytest.mark.parametrize("case", SESSION_BODIES)
def test_create_session_rejects_body(
    client: TestClient, db_config: DatabaseConfig, case: str
) -> None:
    body, status, phrase = SESSION_BODIES[case]

    response = post_json(client, "/api/v1/sessions", body)

    assert response.status_code == status, response.text
    assert phrase in error_message(response)
    assert count_stored(db_config) == nothing_stored()


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ],
)
def test_create_session_rejects_content_type(
    client: TestClient, db_config: DatabaseConfig, content_type: str
) -> None:
    response = post_json(client, "/api/v1/sessions", b'{"guildId": 1}', content_type)

    assert response.status_code == 415
    assert "application/json" in error_message(response)
    assert count_stored(db_config) == nothing_stored()


def test_create_session_accepts_json_charset(client: TestClient, db_config: DatabaseConfig) -> None:
    response = post_json(
        client, "/api/v1/sessions", b'{"guildId": 1}', "application/json; charset=utf-8"
    )

    assert response.status_code == 201


# Titles for POST /sessions/{id}/tracks, as JSON text, with a phrase the error must contain.
TRACK_TITLES = {
    "escaped NUL": (b'"Never\\u0000Gonna"', "NUL"),
    "only NUL": (b'"\\u0000"', "NUL"),
    "lone high surrogate": (b'"Never \\ud83c Gonna"', "lone surrogate"),
    "lone low surrogate": (b'"\\udc85"', "lone surrogate"),
    "reversed pair": (b'"\\udc85\\ud83c"', "lone surrogate"),
    "too long": (b'"' + b"a" * 1001 + b'"', "at most 1000 characters"),
    "empty": (b'""', "must not be empty"),
    "number": (b"12", "must be a string"),
}


@pytest.fixture
def session_id(client: TestClient) -> str:
    response = client.post("/api/v1/sessions", json={"guildId": "1"})
    assert response.status_code == 201
    return str(response.json()["ID"])


@pytest.mark.parametrize("case", TRACK_TITLES)
def test_create_track_play_rejects_title(
    client: TestClient, db_config: DatabaseConfig, session_id: str, case: str
) -> None:
    title, phrase = TRACK_TITLES[case]
    before = count_stored(db_config)

    response = post_json(client, f"/api/v1/sessions/{session_id}/tracks", track_body(title))

    assert response.status_code == 400, response.text
    assert phrase in error_message(response)
    assert count_stored(db_config) == before


def test_create_track_play_accepts_surrogate_pair(
    client: TestClient, db_config: DatabaseConfig, session_id: str
) -> None:
    response = post_json(
        client, f"/api/v1/sessions/{session_id}/tracks", track_body(b'"Never \\ud83c\\udfb5 Gonna"')
    )

    assert response.status_code == 201, response.text
    assert response.json()["Title"] == "Never \U0001f3b5 Gonna"


def test_create_track_play_rejects_too_many_listeners(
    client: TestClient, db_config: DatabaseConfig, session_id: str
) -> None:
    listeners = b", ".join(b"%d" % user for user in range(1, 1002))
    body = track_body().replace(b'["42"]', b"[" + listeners + b"]")
    before = count_stored(db_config)

    response = post_json(client, f"/api/v1/sessions/{session_id}/tracks", body)

    assert response.status_code == 400
    assert "listenerIds" in error_message(response)
    assert count_stored(db_config) == before


# Query strings for GET /sessions, with the status and a phrase the error must contain.
GUILD_ID_QUERIES = {
    "too many items": (
        "guildIds=" + ",".join(["1"] * (MAX_GUILD_ID_ITEMS + 1)),
        "1001 comma-separated",
    ),
    "too many empty items": ("guildIds=1" + "," * MAX_GUILD_ID_ITEMS, "comma-separated items"),
    "too many distinct": (
        "guildIds=" + ",".join(str(guild) for guild in range(1, MAX_GUILD_IDS + 2)),
        f"more than {MAX_GUILD_IDS} distinct",
    ),
    "huge id": ("guildIds=" + "9" * 5000, "guildIds"),
    "NUL": ("guildIds=1%00", "guildIds"),
    "invalid UTF-8": ("guildIds=%ff", "guildIds"),
    "non-ASCII digits": ("guildIds=%D9%A1", "guildIds"),
    "only commas": ("guildIds=,,,", "at least one"),
    "repeated parameter": ("guildIds=1&guildIds=2", "more than once"),
    "missing": ("", "required"),
    "huge limit": ("guildIds=1&limit=" + "9" * 5000, None),
    "zero limit": ("guildIds=1&limit=000", "positive integer"),
}


@pytest.mark.parametrize("case", GUILD_ID_QUERIES)
def test_list_sessions_query(client: TestClient, db_config: DatabaseConfig, case: str) -> None:
    query, phrase = GUILD_ID_QUERIES[case]

    response = client.get(f"/api/v1/sessions?{query}")

    if phrase is None:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400, response.text
        assert phrase in error_message(response)
    assert count_stored(db_config) == nothing_stored()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sessions/%00",
        "/api/v1/sessions/" + "a" * 10_000,
        "/api/v1/sessions/%ff",
        "/api/v1/tracks/..%2F..%2Fetc",
        "/api/v1/guilds/" + "9" * 5000 + "/tracks/recent",
        "/api/v1/users/0/tracks/recent",
    ],
)
def test_hostile_path_parameter_is_rejected(
    client: TestClient, db_config: DatabaseConfig, path: str
) -> None:
    response = client.get(path)

    assert response.status_code in (400, 404), response.text
    error_message(response)
    assert count_stored(db_config) == nothing_stored()


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing", "/api/v2/sessions", "/", "/api/v1/sessions/x/y/z"]
)
def test_unknown_route_is_json_404(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert "no route matches" in error_message(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/sessions/abc"),
        ("PUT", "/api/v1/sessions"),
        ("PATCH", "/api/v1/sessions"),
        ("POST", "/api/v1/tracks/abc"),
        ("POST", "/api/v1/health"),
    ],
)
def test_wrong_method_is_json_405(
    client: TestClient, db_config: DatabaseConfig, method: str, path: str
) -> None:
    response = client.request(method, path, content=b'{"guildId": 1}')

    assert response.status_code == 405
    assert f"method {method} is not allowed" in error_message(response)
    assert "allow" in response.headers
    assert count_stored(db_config) == nothing_stored()


# Raw HTTP/1.1 against a real uvicorn, where a chunked body arrives the way a client sends it.


@pytest.fixture
def live(db_config: DatabaseConfig, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(db_config, tmp_path)
    try:
        yield server
    finally:
        server.stop()


def raw_request(server: LiveServer, head: bytes, chunks: list[bytes]) -> tuple[int, bytes]:
    """Send a request head and body pieces on one socket; return the response status and body.

    The server may respond and close before the body is all sent, so send errors are ignored.
    """
    port = httpx.URL(server.url).port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:
            connection.sendall(head)
            for chunk in chunks:
                connection.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

        received = b""
        while b"\r\n\r\n" not in received:
            data = connection.recv(65536)
            if not data:
                break
            received += data
        header_block, _, body = received.partition(b"\r\n\r\n")
        lines = header_block.split(b"\r\n")
        headers = dict(line.split(b": ", 1) for line in lines[1:])
        length = int(headers.get(b"content-length", b"0"))
        while len(body) < length:
            data = connection.recv(65536)
            if not data:
                break
            body += data
    return int(lines[0].split()[1]), body


def chunked(body: bytes, size: int = 8192) -> list[bytes]:
    pieces = [body[start : start + size] for start in range(0, len(body), size)]
    return [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces] + [b"0\r\n\r\n"]


def request_head(extra: bytes) -> bytes:
    return (
        b"POST /api/v1/sessions HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"X-API-Key: " + TEST_API_KEY.encode() + b"\r\n"
        b"Content-Type: application/json\r\n" + extra + b"\r\n"
    )


def test_chunked_body_over_limit_is_413(live: LiveServer, db_config: DatabaseConfig) -> None:
    body = b'{"guildId": 1, "x": "' + b"a" * (2 * MAX_BODY_BYTES) + b'"}'

    status, response_body = raw_request(
        live, request_head(b"Transfer-Encoding: chunked\r\n"), chunked(body)
    )

    assert status == 413
    assert b"larger than 64 KiB" in response_body
    assert count_stored(db_config) == nothing_stored()


def test_chunked_body_under_limit_is_accepted(live: LiveServer, db_config: DatabaseConfig) -> None:
    body = b'{"guildId": 1, "x": "' + b"a" * (MAX_BODY_BYTES - 100) + b'"}'

    status, _ = raw_request(live, request_head(b"Transfer-Encoding: chunked\r\n"), chunked(body))

    assert status == 201
    assert count_stored(db_config)["listening_sessions"] == 1


def test_declared_length_over_limit_is_413_unread(
    live: LiveServer, db_config: DatabaseConfig
) -> None:
    # The body is never sent, so the response must come from the Content-Length header alone.
    status, response_body = raw_request(live, request_head(b"Content-Length: 10000000\r\n"), [])

    assert status == 413
    assert b"larger than 64 KiB" in response_body
    assert count_stored(db_config) == nothing_stored()
