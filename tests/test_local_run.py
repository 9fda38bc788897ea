"""The zero-setup local run: `serve --local-key` on the SQLite default, from a bare folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

# Seconds a local server gets to start: it creates the database and applies the migrations.
START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_environment() -> dict[str, str]:
    """The environment of a newcomer: no database or key settings at all."""
    names = ("DATABASE_URL", "MYSQL_HOST", "API_KEY", "API_KEY_FILE", "WORKERS")
    environment = {key: value for key, value in os.environ.items() if key not in names}
    environment["LOG_FORMAT"] = "text"
    return environment


class LocalServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.output = ""

    def __enter__(self) -> LocalServer:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "serve",
                "--local-key",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=self.folder,
            env=local_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        self.__exit__()
        raise AssertionError(f"the local server did not start:\n{self.output}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        self.output, _ = self.process.communicate(timeout=30)


def test_local_run_creates_key_once(tmp_path: Path) -> None:
    with LocalServer(tmp_path) as first:
        pass
    key = (tmp_path / ".local-secrets" / "api-key").read_text().strip()
    with LocalServer(tmp_path) as second:
        pass

    assert key
    assert key in first.output
    assert key not in second.output
    assert ".local-secrets/api-key" in second.output


def test_local_run_key_file_is_private(tmp_path: Path) -> None:
    with LocalServer(tmp_path):
        pass
    mode = (tmp_path / ".local-secrets" / "api-key").stat().st_mode & 0o777
    assert mode == 0o600


def test_local_run_uses_sqlite_default(tmp_path: Path) -> None:
    with LocalServer(tmp_path) as server:
        pass
    assert (tmp_path / "var" / "archive.sqlite3").is_file()
    assert "sqlite file" in server.output


def test_local_run_keeps_data_across_restart(tmp_path: Path) -> None:
    with LocalServer(tmp_path) as server:
        key = (tmp_path / ".local-secrets" / "api-key").read_text().strip()
        created = httpx.post(
            f"{server.url}/api/v1/sessions", json={"guildId": 77}, headers={"X-API-Key": key}
        )
    with LocalServer(tmp_path) as server:
        fetched = httpx.get(
            f"{server.url}/api/v1/sessions/{created.json()['ID']}", headers={"X-API-Key": key}
        )

    assert created.status_code == 201
    assert fetched.status_code == 200
    assert fetched.json() == created.json()


def test_local_run_rejects_request_without_key(tmp_path: Path) -> None:
    with LocalServer(tmp_path) as server:
        response = httpx.get(f"{server.url}/api/v1/sessions?guildIds=1")
    assert response.status_code == 401


def serve_and_fail(folder: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run `serve` with extra settings, for a start-up that must stop before it listens."""
    return subprocess.run(
        [sys.executable, "-m", "service", "serve", "--port", str(free_port())],
        cwd=folder,
        env=local_environment() | settings,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_without_key_fails_with_one_sentence(tmp_path: Path) -> None:
    result = serve_and_fail(tmp_path)

    assert result.returncode == 2
    assert "API_KEY_FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_unreadable_key_file_names_setting(tmp_path: Path) -> None:
    result = serve_and_fail(tmp_path, API_KEY_FILE=str(tmp_path / "missing-key"))

    assert result.returncode == 2
    assert "API_KEY_FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_unreachable_database_names_it(tmp_path: Path) -> None:
    result = serve_and_fail(
        tmp_path,
        API_KEY="local-test-key",
        DATABASE_URL=f"mysql://archive:secret-password@127.0.0.1:{free_port()}/archive",
    )

    assert result.returncode == 2
    assert "cannot reach the database" in result.stderr
    assert "secret-password" not in result.stderr
    assert "Traceback" not in result.stderr
