"""The `serve` command as a real process: graceful shutdown on SIGTERM, and several workers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pymysql
import pytest

from service.settings import DatabaseConfig
from tests.conftest import MYSQL_SERVER, TEST_API_KEY, mysql_connect, query_sql
from tests.mariadb_server import free_port
from tests.test_faults import BackgroundRequest, track_body, wait_for_statement

# Seconds to wait for the service to serve its first request, or to exit after SIGTERM.
STARTUP_TIMEOUT_SECONDS = 20
EXIT_TIMEOUT_SECONDS = 15
# Seconds a request is held in the database after SIGTERM, to show that shutdown waits for it.
HELD_AFTER_SIGTERM_SECONDS = 1.0
SQLITE_WORKERS_MESSAGE = (
    "error: the embedded SQLite database serves one process: set WORKERS=1, or use MySQL for more"
)

needs_mysql = pytest.mark.skipif(MYSQL_SERVER is None, reason="MySQL is not reachable")


class ServiceProcess:
    """`python -m service serve` on 127.0.0.1, with its stderr collected in a file."""

    def __init__(self, config: DatabaseConfig, workdir: Path, *arguments: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "service.log"
        environment = {
            **os.environ,
            "DATABASE_URL": config.yoyo_url(),
            "API_KEY": TEST_API_KEY,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "INFO",
        }
        with self.log_path.open("wb") as log:
            # The working directory contains no .env, so only these settings apply.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service", "serve", *arguments],
                cwd=workdir,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited during startup:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/v1/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the service did not become ready:\n{self.log()}")

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"X-API-Key": TEST_API_KEY}, timeout=10, **kwargs
        )

    def worker_pids(self) -> list[int]:
        """Return the pids of uvicorn's worker processes, the children that run `spawn_main`."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        workers = []
        for pid in (int(value) for value in children.split()):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"spawn_main" in command:
                workers.append(pid)
        return workers

    def wait_exit(self) -> int:
        return self.process.wait(timeout=EXIT_TIMEOUT_SECONDS)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=EXIT_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[type[ServiceProcess]]:
    started: list[ServiceProcess] = []

    class Factory(ServiceProcess):
        def __init__(self, config: DatabaseConfig, *arguments: str) -> None:
            super().__init__(config, tmp_path, *arguments)
            started.append(self)

    yield Factory
    for service in started:
        service.stop()


def test_sigterm_completes_request_in_flight(
    db_config: DatabaseConfig, service_factory: type[ServiceProcess]
) -> None:
    service = service_factory(db_config)  # type: ignore[call-arg]
    service.wait_until_ready()
    client = service.client()

    # The request waits on a lock that the test holds, so it is in flight when SIGTERM arrives.
    if db_config.backend == "mysql":
        holder = mysql_connect(db_config, db_config.database)
        with holder.cursor() as cursor:
            cursor.execute("LOCK TABLES listening_sessions WRITE")
        request = BackgroundRequest(client, "POST", "/api/v1/sessions", json={"guildId": 77})
        wait_for_statement(holder, db_config.database or "", "INSERT INTO listening_sessions")
    else:
        holder = sqlite3.connect(db_config.path or "", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        request = BackgroundRequest(client, "POST", "/api/v1/sessions", json={"guildId": 77})
        time.sleep(0.5)

    service.process.send_signal(signal.SIGTERM)
    time.sleep(HELD_AFTER_SIGTERM_SECONDS)
    running_while_held = service.process.poll() is None
    if isinstance(holder, pymysql.Connection):
        with holder.cursor() as cursor:
            cursor.execute("UNLOCK TABLES")
    else:
        holder.execute("ROLLBACK")
    holder.close()

    response = request.result()
    exit_code = service.wait_exit()
    client.close()
    stored = query_sql(db_config, "SELECT guild_id FROM listening_sessions")

    log = service.log()
    assert running_while_held
    assert response.status_code == 201
    assert stored == [(77,)]
    # uvicorn raises the signal it caught again once the shutdown is complete.
    assert exit_code == -signal.SIGTERM
    assert log.index("Shutting down") < log.index("POST /api/v1/sessions 201")
    assert log.index("POST /api/v1/sessions 201") < log.index("closed the connections to")


@needs_mysql
@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_two_workers_share_no_state(
    db_config: DatabaseConfig, service_factory: type[ServiceProcess]
) -> None:
    service = service_factory(db_config, "--workers", "2")  # type: ignore[call-arg]
    service.wait_until_ready()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while len(workers := service.worker_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == 2
    # A new connection per request, so the kernel hands each one to a worker that accepts.
    client = service.client(limits=httpx.Limits(max_keepalive_connections=0))

    # Each worker in turn serves alone while the other is stopped. uvicorn's supervisor replaces
    # a worker that misses its 5 s health check, so each phase stays well below that.
    os.kill(workers[0], signal.SIGSTOP)
    try:
        sessions = [
            client.post("/api/v1/sessions", json={"guildId": 500 + index}) for index in range(5)
        ]
        plays = [
            client.post(f"/api/v1/sessions/{session.json()['ID']}/tracks", json=track_body([9]))
            for session in sessions
        ]
    finally:
        os.kill(workers[0], signal.SIGCONT)

    os.kill(workers[1], signal.SIGSTOP)
    try:
        ends = [
            client.patch(f"/api/v1/tracks/{play.json()['ID']}", json={"playedDurationMs": 200_000})
            for play in plays
        ]
        session_ends = [
            client.patch(f"/api/v1/sessions/{session.json()['ID']}", json={})
            for session in sessions
        ]
        recents = client.get("/api/v1/users/9/tracks/recent")
    finally:
        os.kill(workers[1], signal.SIGCONT)
    client.close()

    assert [response.status_code for response in sessions] == [201] * 5
    assert [response.status_code for response in plays] == [201] * 5
    assert [response.status_code for response in ends] == [200] * 5
    assert [response.status_code for response in session_ends] == [200] * 5
    assert recents.status_code == 200
    assert {item["ID"] for item in recents.json()["trackPlays"]} == {
        play.json()["ID"] for play in plays
    }
    assert service.worker_pids() == workers


def test_sqlite_rejects_two_workers(tmp_path: Path) -> None:
    config = DatabaseConfig(backend="sqlite", path=str(tmp_path / "archive.sqlite3"))
    environment = {**os.environ, "DATABASE_URL": config.yoyo_url(), "API_KEY": TEST_API_KEY}

    result = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--workers", "2", "--port", str(free_port())],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert SQLITE_WORKERS_MESSAGE in result.stderr
    assert not Path(config.path or "").exists()
