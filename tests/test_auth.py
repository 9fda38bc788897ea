"""API keys: nothing but the probes without a valid key, several keys, rotation and kept secrets."""

from __future__ import annotations

import hmac
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.keys import KEY_FILE_RELOAD_SECONDS, ApiKeys, hash_key
from service.middleware import MAX_BODY_BYTES
from service.settings import DatabaseConfig, Settings
from tests.checks import count_stored, empty_idempotency_keys, error_message
from tests.conftest import MYSQL_SERVER, TEST_API_KEY, make_settings, mysql_connect
from tests.live import free_port, server_environment, start_server

MISSING_KEY = {"error": "missing API key: send it in the X-API-Key header"}
INVALID_KEY = {"error": "invalid API key"}
TRACK = {
    "source": "youtube",
    "sourceId": "dQw4w9WgXcQ",
    "url": "https://youtu.be/dQw4w9WgXcQ",
    "title": "Never Gonna Give You Up",
    "artist": "Rick Astley",
    "durationMs": 213000,
    "queuedByUser": "42",
    "listenerIds": ["42"],
}


@pytest.fixture(autouse=True)
def _no_idempotency_keys(db_config: DatabaseConfig) -> None:
    empty_idempotency_keys(db_config)


@pytest.fixture
def stored_ids(client: TestClient) -> dict[str, str]:
    """Create a session with one track play and return their ids."""
    session_id = client.post("/api/v1/sessions", json={"guildId": "1"}).json()["ID"]
    track_play_id = client.post(f"/api/v1/sessions/{session_id}/tracks", json=TRACK).json()["ID"]
    return {"session": session_id, "track": track_play_id}


def unauthenticated_requests(ids: dict[str, str]) -> list[tuple[str, str, dict[str, object]]]:
    """Return requests that, with a key, would get 200, 201, 204, 400, 404, 405, 413 or 415."""
    session, track = ids["session"], ids["track"]
    json_body = {"json": {"guildId": "1"}}
    return [
        ("GET", "/api/v1/sessions?guildIds=1", {}),
        ("GET", "/api/v1/sessions?guildIds=abc", {}),
        ("POST", "/api/v1/sessions", json_body),
        ("POST", "/api/v1/sessions", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}),
        ("POST", "/api/v1/sessions", {"content": b"x" * (MAX_BODY_BYTES + 1)}),
        ("GET", f"/api/v1/sessions/{session}", {}),
        ("GET", "/api/v1/sessions/NoSuchSession0000000000", {}),
        ("GET", "/api/v1/sessions/%00", {}),
        ("HEAD", f"/api/v1/sessions/{session}", {}),
        ("PATCH", f"/api/v1/sessions/{session}", {"json": {}}),
        ("DELETE", f"/api/v1/sessions/{session}", {}),
        ("OPTIONS", f"/api/v1/sessions/{session}", {}),
        ("GET", f"/api/v1/sessions/{session}/tracks", {}),
        ("POST", f"/api/v1/sessions/{session}/tracks", {"json": TRACK}),
        ("GET", f"/api/v1/tracks/{track}", {}),
        ("GET", "/api/v1/tracks/NoSuchTrackPlay00000000", {}),
        ("PATCH", f"/api/v1/tracks/{track}", {"json": {"playedDurationMs": 200000}}),
        ("GET", f"/api/v1/tracks/{track}/listeners", {}),
        ("GET", "/api/v1/guilds/1/tracks/recent", {}),
        ("GET", "/api/v1/users/42/tracks/recent", {}),
        ("GET", "/api/v1/guilds/1/artists/recommended", {}),
        ("GET", "/api/v1/users/42/artists/recommended", {}),
        ("GET", "/api/v1/nothing", {}),
        ("GET", "/api/v1/health/", {}),
        ("GET", "/", {}),
    ]


def test_probes_need_no_key(anonymous: TestClient) -> None:
    assert anonymous.get("/api/v1/health").status_code == 200
    assert anonymous.get("/api/v1/ready").status_code == 200


def test_missing_key_reveals_nothing(
    anonymous: TestClient, stored_ids: dict[str, str], db_config: DatabaseConfig
) -> None:
    before = count_stored(db_config)

    for method, path, options in unauthenticated_requests(stored_ids):
        response = anonymous.request(method, path, **options)  # type: ignore[arg-type]

        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        if method != "HEAD":
            assert response.json() == MISSING_KEY, f"{method} {path}"
        assert "allow" not in response.headers, f"{method} {path}"
    assert count_stored(db_config) == before


@pytest.mark.parametrize(
    "presented",
    [
        "wrong",
        TEST_API_KEY + "x",
        TEST_API_KEY[:-1],
        TEST_API_KEY.upper(),
        hash_key(TEST_API_KEY),
    ],
)
def test_invalid_key_reveals_nothing(
    settings: Settings, stored_ids: dict[str, str], db_config: DatabaseConfig, presented: str
) -> None:
    before = count_stored(db_config)

    with TestClient(create_app(settings), headers={"X-API-Key": presented}) as client:
        for method, path, options in unauthenticated_requests(stored_ids):
            response = client.request(method, path, **options)  # type: ignore[arg-type]

            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            if method != "HEAD":
                assert response.json() == INVALID_KEY, f"{method} {path}"
    assert count_stored(db_config) == before


def test_empty_key_is_missing(anonymous: TestClient) -> None:
    response = anonymous.get("/api/v1/sessions?guildIds=1", headers={"X-API-Key": ""})

    assert response.status_code == 401
    assert response.json() == MISSING_KEY


def write_key_file(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_key_file_accepts_raw_and_digest_keys(db_config: DatabaseConfig, tmp_path: Path) -> None:
    key_file = write_key_file(
        tmp_path / "api-keys",
        [
            "raw-key-one",
            hash_key("digest-key-two"),
            "",
            "  raw-key-three  \r",
            hash_key("digest-key-four").upper(),
        ],
    )
    settings = make_settings(db_config, api_key=None, api_key_file=key_file)

    with TestClient(create_app(settings)) as client:
        statuses = {
            key: client.get("/api/v1/sessions?guildIds=1", headers={"X-API-Key": key}).status_code
            for key in (
                "raw-key-one",
                "digest-key-two",
                "raw-key-three",
                "digest-key-four",
                hash_key("digest-key-two"),
                "raw-key",
            )
        }

    assert statuses["raw-key-one"] == 200
    assert statuses["digest-key-two"] == 200
    assert statuses["raw-key-three"] == 200
    assert statuses["digest-key-four"] == 200
    assert statuses[hash_key("digest-key-two")] == 401
    assert statuses["raw-key"] == 401


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def status_with_key(client: TestClient, key: str) -> int:
    return client.get("/api/v1/sessions?guildIds=1", headers={"X-API-Key": key}).status_code


def test_rotated_key_file_is_read_again(db_config: DatabaseConfig, tmp_path: Path) -> None:
    key_file = write_key_file(tmp_path / "api-keys", ["old-key"])
    clock = FakeClock()
    keys = ApiKeys(key_file, None, clock=clock)
    settings = make_settings(db_config, api_key=None, api_key_file=key_file)

    with TestClient(create_app(settings, keys=keys)) as client:
        write_key_file(key_file, ["old-key", hash_key("new-key")])
        before_reload = status_with_key(client, "new-key")
        clock.now += KEY_FILE_RELOAD_SECONDS
        overlap = (status_with_key(client, "old-key"), status_with_key(client, "new-key"))
        write_key_file(key_file, [hash_key("new-key")])
        clock.now += KEY_FILE_RELOAD_SECONDS
        rotated = (status_with_key(client, "old-key"), status_with_key(client, "new-key"))

    assert before_reload == 401
    assert overlap == (200, 200)
    assert rotated == (401, 200)


def test_broken_key_file_keeps_last_keys(
    db_config: DatabaseConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = write_key_file(tmp_path / "api-keys", ["kept-key"])
    clock = FakeClock()
    keys = ApiKeys(key_file, None, clock=clock)
    settings = make_settings(db_config, api_key=None, api_key_file=key_file)

    with TestClient(create_app(settings, keys=keys)) as client:
        key_file.write_text("\n\n", encoding="utf-8")
        clock.now += KEY_FILE_RELOAD_SECONDS
        with caplog.at_level(logging.ERROR, logger="service.keys"):
            after_emptying = status_with_key(client, "kept-key")
        key_file.unlink()
        clock.now += KEY_FILE_RELOAD_SECONDS
        after_deleting = status_with_key(client, "kept-key")

    assert after_emptying == 200
    assert after_deleting == 200
    assert "keeping the previous API keys" in caplog.text
    assert "kept-key" not in caplog.text


@pytest.mark.parametrize("position", [0, 3, None])
def test_key_check_compares_every_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, position: int | None
) -> None:
    entries = ["key-a", hash_key("key-b"), "key-c", hash_key("key-d"), "key-e"]
    keys = ApiKeys(write_key_file(tmp_path / "api-keys", entries), None)
    presented = (
        ["key-a", "key-b", "key-c", "key-d", "key-e"][position] if position is not None else "nope"
    )
    calls: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def counting_compare(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting_compare)

    valid = keys.is_valid(presented)

    assert valid is (position is not None)
    assert len(calls) == len(entries)


def test_failed_auth_logs_no_key(
    settings: Settings, stored_ids: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    presented = TEST_API_KEY + "-rotated-out"

    with (
        caplog.at_level(logging.DEBUG),
        TestClient(create_app(settings), headers={"X-API-Key": presented}) as client,
    ):
        responses = [
            client.get(f"/api/v1/sessions/{stored_ids['session']}"),
            client.post("/api/v1/sessions", json={"guildId": "1"}),
        ]

    assert "rejected a request with an invalid API key" in caplog.text
    assert TEST_API_KEY not in caplog.text
    for response in responses:
        assert TEST_API_KEY not in response.text
        assert error_message(response) == "invalid API key"


def test_settings_repr_hides_secrets() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="mysql://archive:url-secret-1@127.0.0.1:3306/archive",
        mysql_password="password-secret-2",
        api_key="api-key-secret-3",
    )

    renderings = [repr(settings), str(settings), settings.model_dump_json(), f"{settings!r}"]

    for text in renderings:
        assert "url-secret-1" not in text
        assert "password-secret-2" not in text
        assert "api-key-secret-3" not in text


def test_database_config_repr_hides_password() -> None:
    config = DatabaseConfig.from_url("mysql://archive:p%40ss-secret-4@127.0.0.1:3306/archive")

    renderings = [repr(config), str(config), f"{config}", config.describe()]

    assert config.password == "p@ss-secret-4"
    for text in renderings:
        assert "ss-secret-4" not in text
        assert "archive@127.0.0.1:3306/archive" in text


def test_api_keys_repr_hides_keys(tmp_path: Path) -> None:
    keys = ApiKeys(write_key_file(tmp_path / "api-keys", ["key-secret-5"]), "key-secret-6")

    assert "key-secret-5" not in repr(keys)
    assert "key-secret-6" not in repr(ApiKeys(None, "key-secret-6"))


@contextmanager
def mysql_user_with_password(config: DatabaseConfig) -> Iterator[DatabaseConfig]:
    """Create a MySQL user with a random password and all rights on the database of `config`."""
    assert MYSQL_SERVER is not None
    user = f"archive_{uuid.uuid4().hex[:10]}"
    # Characters that must be quoted in a URL, so a leak of the quoted form is caught too.
    password = f"pw-{uuid.uuid4().hex}@:/%"
    hosts = ("127.0.0.1", "localhost")
    server = mysql_connect(MYSQL_SERVER)
    try:
        with server.cursor() as cursor:
            for host in hosts:
                cursor.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (password,))
                cursor.execute(
                    f"GRANT ALL PRIVILEGES ON `{config.database}`.* TO '{user}'@'{host}'"
                )
        yield replace(config, user=user, password=password)
    finally:
        with server.cursor() as cursor:
            for host in hosts:
                cursor.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
        server.close()


@contextmanager
def service_database(config: DatabaseConfig) -> Iterator[DatabaseConfig]:
    """Yield `config`, with a user that has a password when the backend is MySQL."""
    if config.backend == "sqlite":
        yield config
        return
    with mysql_user_with_password(config) as with_password:
        yield with_password


def secrets_of(config: DatabaseConfig) -> list[str]:
    secrets = [TEST_API_KEY]
    if config.password:
        secrets += [config.password, quote(config.password, safe="")]
    return secrets


def test_live_service_logs_no_secrets(db_config: DatabaseConfig, tmp_path: Path) -> None:
    with service_database(db_config) as config:
        server = start_server(config, tmp_path)
        try:
            rejected = httpx.get(
                f"{server.url}/api/v1/sessions?guildIds=1",
                headers={"X-API-Key": TEST_API_KEY + "-old"},
            )
            accepted = httpx.get(
                f"{server.url}/api/v1/sessions?guildIds=1",
                headers={"X-API-Key": TEST_API_KEY},
            )
        finally:
            server.stop()
        log = server.log_text()

    assert rejected.status_code == 401
    assert accepted.status_code == 200
    assert "starting mocbot-archive" in log
    assert "rejected a request with an invalid API key" in log
    for secret in secrets_of(config):
        assert secret not in log


@pytest.mark.skipif(MYSQL_SERVER is None, reason="needs MySQL")
def test_wrong_database_password_is_not_printed(db_config: DatabaseConfig, tmp_path: Path) -> None:
    if db_config.backend != "mysql":
        pytest.skip("SQLite has no password")
    with mysql_user_with_password(db_config) as config:
        wrong = replace(config, password=config.password + "-wrong")
        result = subprocess.run(
            [sys.executable, "-m", "service", "check"],
            env=server_environment(wrong, free_port()),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 2
    assert "Access denied" in result.stderr
    for secret in (*secrets_of(config), wrong.password):
        assert secret not in result.stdout + result.stderr
