"""Database faults: connections closed or killed by the server, outages, restarts and freezes.

The tests that stop, freeze or reconfigure a server use a throwaway mariadbd with its own data
directory and port. On the shared server, the tests only KILL connections to their own database.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pymysql
import pytest

from service import db as db_module
from service.app import create_app
from service.migrate import apply_migrations
from service.settings import DatabaseConfig, Settings
from tests.conftest import (
    MYSQL_SERVER,
    TEST_API_KEY,
    create_mysql_database,
    drop_mysql_database,
    make_settings,
    mysql_connect,
    query_sql,
)
from tests.live_server import LiveServer
from tests.mariadb_server import MariaDBServer, free_port, mariadb_binaries

UNAVAILABLE = {"error": "database unavailable"}
# Seconds within which a request must get its response while the database refuses connections.
REFUSED_RESPONSE_SECONDS = 1.0
# Seconds the service waits for a connection or for a statement's result in these tests.
TEST_CONNECT_TIMEOUT_SECONDS = 1.0
TEST_QUERY_TIMEOUT_SECONDS = 1.0

needs_mysql = pytest.mark.skipif(MYSQL_SERVER is None, reason="MySQL is not reachable")
needs_mariadbd = pytest.mark.skipif(
    mariadb_binaries() is None, reason="mariadbd and mariadb-install-db are not installed"
)


def track_body(listener_ids: list[int], source_id: str = "dQw4w9WgXcQ") -> dict[str, object]:
    return {
        "source": "youtube",
        "sourceId": source_id,
        "url": f"https://www.youtube.com/watch?v={source_id}",
        "title": "Never Gonna Give You Up",
        "artist": "Rick Astley",
        "durationMs": 213_000,
        "queuedByUser": listener_ids[0],
        "listenerIds": listener_ids,
    }


def fault_settings(config: DatabaseConfig, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "db_connect_timeout_seconds": TEST_CONNECT_TIMEOUT_SECONDS,
        "db_query_timeout_seconds": TEST_QUERY_TIMEOUT_SECONDS,
    }
    values.update(overrides)
    return make_settings(config, **values)


def api_client(server: LiveServer) -> httpx.Client:
    # The client timeout turns a hanging request into a failure instead of a stuck test.
    return httpx.Client(base_url=server.url, headers={"X-API-Key": TEST_API_KEY}, timeout=10)


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def start_session_with_play(client: httpx.Client, guild_id: int = 1) -> tuple[str, str]:
    session = client.post("/api/v1/sessions", json={"guildId": guild_id})
    assert session.status_code == 201
    session_id = session.json()["ID"]
    play = client.post(f"/api/v1/sessions/{session_id}/tracks", json=track_body([11, 12]))
    assert play.status_code == 201
    return session_id, play.json()["ID"]


class BackgroundRequest:
    """Send one request from a thread, so the test can act while the service waits on it."""

    def __init__(self, client: httpx.Client, method: str, url: str, **kwargs: object) -> None:
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._send, args=(client, method, url), kwargs=kwargs, daemon=True
        )
        self._thread.start()

    def _send(self, client: httpx.Client, method: str, url: str, **kwargs: object) -> None:
        try:
            self.response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except BaseException as exc:
            self.error = exc

    def result(self, timeout: float = 10) -> httpx.Response:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the request did not finish"
        assert self.error is None, f"the request failed: {self.error!r}"
        assert self.response is not None
        return self.response


def service_connection_ids(admin: pymysql.Connection, database: str) -> list[int]:
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
            (database,),
        )
        return [row[0] for row in cursor.fetchall()]


def wait_for_statement(
    admin: pymysql.Connection, database: str, prefix: str, excluding: int = 0
) -> int:
    """Return the id of the connection running a statement that starts with `prefix`.

    A killed connection stays in the process list for a moment, so `excluding` skips it.
    """
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = %s AND id <> CONNECTION_ID() AND id <> %s AND info LIKE %s",
                (database, excluding, prefix + "%"),
            )
            rows = cursor.fetchall()
        if rows:
            return int(rows[0][0])
        time.sleep(0.02)
    raise AssertionError(f"no connection of the service ran a statement starting with {prefix!r}")


def kill(admin: pymysql.Connection, connection_id: int) -> None:
    with admin.cursor() as cursor:
        cursor.execute(f"KILL {int(connection_id)}")


# Fixtures


@pytest.fixture
def mysql_config() -> Iterator[DatabaseConfig]:
    """A migrated database of its own on the shared MySQL server."""
    if MYSQL_SERVER is None:
        pytest.skip("MySQL is not reachable")
    config = create_mysql_database("archive_faults")
    try:
        apply_migrations(config)
        yield config
    finally:
        drop_mysql_database(config)


@pytest.fixture
def admin(mysql_config: DatabaseConfig) -> Iterator[pymysql.Connection]:
    """A connection of the test itself to the service's database, for locks and KILL."""
    connection = mysql_connect(mysql_config, mysql_config.database)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def throwaway_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    if mariadb_binaries() is None:
        pytest.skip("mariadbd and mariadb-install-db are not installed")
    server = MariaDBServer(tmp_path_factory.mktemp("mariadb"))
    server.install()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def throwaway_config(throwaway_server: MariaDBServer) -> Iterator[DatabaseConfig]:
    """A migrated database on the throwaway server, which the test may stop, freeze or restart."""
    config = throwaway_server.create_database(f"archive_{uuid.uuid4().hex[:12]}")
    apply_migrations(config)
    yield config
    # A test that failed half-way may have left the server stopped or frozen.
    if throwaway_server.process is None:
        throwaway_server.start()
    else:
        throwaway_server.thaw()
    throwaway_server.execute(f"DROP DATABASE IF EXISTS `{config.database}`")


# Connections closed or killed by the server


@needs_mysql
def test_killed_idle_connections_next_requests_succeed(
    mysql_config: DatabaseConfig, admin: pymysql.Connection
) -> None:
    app = create_app(fault_settings(mysql_config))
    with LiveServer(app) as server, api_client(server) as client:
        session_id, _ = start_session_with_play(client)
        killed = service_connection_ids(admin, mysql_config.database or "")
        assert killed
        for connection_id in killed:
            kill(admin, connection_id)

        read = client.get(f"/api/v1/sessions/{session_id}/tracks")
        write = client.post(f"/api/v1/sessions/{session_id}/tracks", json=track_body([13]))
        for connection_id in service_connection_ids(admin, mysql_config.database or ""):
            kill(admin, connection_id)
        single_statement_write = client.post("/api/v1/sessions", json={"guildId": 2})

    assert read.status_code == 200
    assert read.json()["count"] == 1
    assert write.status_code == 201
    assert single_statement_write.status_code == 201


@needs_mysql
def test_killed_read_is_retried_on_new_connection(
    mysql_config: DatabaseConfig, admin: pymysql.Connection
) -> None:
    app = create_app(fault_settings(mysql_config, db_query_timeout_seconds=10))
    with LiveServer(app) as server, api_client(server) as client:
        session_id, _ = start_session_with_play(client)
        with admin.cursor() as cursor:
            cursor.execute("LOCK TABLES track_plays WRITE")
        request = BackgroundRequest(client, "GET", f"/api/v1/sessions/{session_id}/tracks")
        blocked = wait_for_statement(admin, mysql_config.database or "", "SELECT")
        kill(admin, blocked)
        # The retry waits on the lock again, on a connection other than the killed one.
        wait_for_statement(admin, mysql_config.database or "", "SELECT", excluding=blocked)
        with admin.cursor() as cursor:
            cursor.execute("UNLOCK TABLES")
        response = request.result()

    assert response.status_code == 200
    assert response.json()["count"] == 1


@needs_mysql
def test_killed_write_is_not_retried(
    mysql_config: DatabaseConfig, admin: pymysql.Connection
) -> None:
    app = create_app(fault_settings(mysql_config, db_query_timeout_seconds=10))
    with LiveServer(app) as server, api_client(server) as client:
        _, track_play_id = start_session_with_play(client)
        # A row lock lets the service read the play but holds its UPDATE until the KILL.
        admin.begin()
        with admin.cursor() as cursor:
            cursor.execute("SELECT id FROM track_plays WHERE id = %s FOR UPDATE", (track_play_id,))
        request = BackgroundRequest(
            client, "PATCH", f"/api/v1/tracks/{track_play_id}", json={"playedDurationMs": 200_000}
        )
        kill(admin, wait_for_statement(admin, mysql_config.database or "", "UPDATE"))
        response = request.result()
        admin.rollback()
        ended_after_kill = query_sql(
            mysql_config, f"SELECT ended_at FROM track_plays WHERE id = '{track_play_id}'"
        )
        retry_by_client = client.patch(
            f"/api/v1/tracks/{track_play_id}", json={"playedDurationMs": 200_000}
        )

    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert ended_after_kill == [(None,)]
    assert retry_by_client.status_code == 200
    assert retry_by_client.json()["PlayedDurationMs"] == 200_000


@needs_mysql
def test_killed_track_start_stores_nothing(
    mysql_config: DatabaseConfig, admin: pymysql.Connection
) -> None:
    app = create_app(fault_settings(mysql_config, db_query_timeout_seconds=10))
    with LiveServer(app) as server, api_client(server) as client:
        session_id, first_play_id = start_session_with_play(client)
        # Locking every listener row and gap holds the transaction after its track_plays insert.
        admin.begin()
        with admin.cursor() as cursor:
            cursor.execute("SELECT * FROM track_play_listeners FOR UPDATE")
        request = BackgroundRequest(
            client,
            "POST",
            f"/api/v1/sessions/{session_id}/tracks",
            json=track_body([21, 22], source_id="half-written"),
        )
        database = mysql_config.database or ""
        kill(admin, wait_for_statement(admin, database, "INSERT INTO track_play_listeners"))
        response = request.result()
        admin.rollback()
        plays = query_sql(mysql_config, "SELECT id FROM track_plays")
        listeners = query_sql(
            mysql_config, "SELECT track_play_id, user_id FROM track_play_listeners"
        )
        next_start = client.post(f"/api/v1/sessions/{session_id}/tracks", json=track_body([23]))

    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert plays == [(first_play_id,)]
    assert sorted(listeners) == [(first_play_id, 11), (first_play_id, 12)]
    assert next_start.status_code == 201


@needs_mariadbd
def test_idle_connection_past_wait_timeout_is_replaced(
    throwaway_server: MariaDBServer, throwaway_config: DatabaseConfig
) -> None:
    # pool_recycle above wait_timeout lets the server close the idle connection first.
    app = create_app(fault_settings(throwaway_config, db_pool_recycle_seconds=3600))
    throwaway_server.execute("SET GLOBAL wait_timeout = 1")
    try:
        with LiveServer(app) as server, api_client(server) as client:
            session_id, _ = start_session_with_play(client)
            time.sleep(2.0)
            # The wait_timeout applies to this new connection too, so it lives only for the check.
            admin = throwaway_server.connect()
            closed_by_server = not service_connection_ids(admin, throwaway_config.database or "")
            admin.close()

            read = client.get(f"/api/v1/sessions/{session_id}/tracks")
            write = client.post(f"/api/v1/sessions/{session_id}/tracks", json=track_body([13]))
    finally:
        throwaway_server.execute("SET GLOBAL wait_timeout = 28800")

    assert closed_by_server
    assert read.status_code == 200
    assert write.status_code == 201


@needs_mysql
def test_pool_recycle_replaces_idle_connection(
    mysql_config: DatabaseConfig, admin: pymysql.Connection
) -> None:
    app = create_app(fault_settings(mysql_config, db_pool_recycle_seconds=1))
    with LiveServer(app) as server, api_client(server) as client:
        assert client.post("/api/v1/sessions", json={"guildId": 1}).status_code == 201
        before = set(service_connection_ids(admin, mysql_config.database or ""))
        time.sleep(1.3)
        response = client.post("/api/v1/sessions", json={"guildId": 1})
        after = set(service_connection_ids(admin, mysql_config.database or ""))

    assert response.status_code == 201
    assert before
    assert not before & after


@needs_mysql
def test_default_pool_recycle_below_wait_timeout() -> None:
    assert MYSQL_SERVER is not None
    connection = mysql_connect(MYSQL_SERVER)
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@GLOBAL.wait_timeout")
        (wait_timeout,) = cursor.fetchone()
    connection.close()

    assert Settings(_env_file=None).db_pool_recycle_seconds < wait_timeout  # type: ignore[call-arg]


# Outages


def test_closed_port_answers_503_quickly() -> None:
    config = DatabaseConfig(
        backend="mysql", host="127.0.0.1", port=free_port(), user="root", database="archive"
    )
    app = create_app(fault_settings(config))
    with LiveServer(app) as server, api_client(server) as client:
        read, read_seconds = timed(lambda: client.get("/api/v1/guilds/1/tracks/recent"))
        write, write_seconds = timed(lambda: client.post("/api/v1/sessions", json={"guildId": 1}))
        ready, ready_seconds = timed(lambda: client.get("/api/v1/ready"))
        health = client.get("/api/v1/health")

    assert read.status_code == 503
    assert read.json() == UNAVAILABLE
    assert read_seconds < REFUSED_RESPONSE_SECONDS
    assert write.status_code == 503
    assert write.json() == UNAVAILABLE
    assert write_seconds < REFUSED_RESPONSE_SECONDS
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "error": "database unavailable"}
    assert ready_seconds < REFUSED_RESPONSE_SECONDS
    assert health.status_code == 200


def test_silent_server_answers_503_within_connect_timeout() -> None:
    # A socket that listens but never accepts completes the TCP handshake and then sends nothing,
    # as a frozen or overloaded server does.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    config = DatabaseConfig(
        backend="mysql",
        host="127.0.0.1",
        port=listener.getsockname()[1],
        user="root",
        database="archive",
    )
    app = create_app(fault_settings(config))
    try:
        with LiveServer(app) as server, api_client(server) as client:
            read, read_seconds = timed(lambda: client.get("/api/v1/guilds/1/tracks/recent"))
            ready, ready_seconds = timed(lambda: client.get("/api/v1/ready"))
    finally:
        listener.close()

    assert read.status_code == 503
    assert read.json() == UNAVAILABLE
    assert read_seconds < TEST_CONNECT_TIMEOUT_SECONDS + 1
    assert ready.status_code == 503
    assert ready_seconds < TEST_CONNECT_TIMEOUT_SECONDS + 1


@needs_mariadbd
def test_restarted_server_recovers_without_restart(
    throwaway_server: MariaDBServer, throwaway_config: DatabaseConfig
) -> None:
    app = create_app(fault_settings(throwaway_config))
    with LiveServer(app) as server, api_client(server) as client:
        session_id, _ = start_session_with_play(client)

        throwaway_server.stop()
        down_read, down_read_seconds = timed(
            lambda: client.get(f"/api/v1/sessions/{session_id}/tracks")
        )
        down_write = client.post(f"/api/v1/sessions/{session_id}/tracks", json=track_body([13]))
        down_ready = client.get("/api/v1/ready")

        throwaway_server.start()
        up_read = client.get(f"/api/v1/sessions/{session_id}/tracks")
        up_write = client.post(f"/api/v1/sessions/{session_id}/tracks", json=track_body([14]))
        up_ready = client.get("/api/v1/ready")

    assert down_read.status_code == 503
    assert down_read.json() == UNAVAILABLE
    assert down_read_seconds < REFUSED_RESPONSE_SECONDS
    assert down_write.status_code == 503
    assert down_ready.status_code == 503
    assert up_read.status_code == 200
    assert up_read.json()["count"] == 1
    assert up_write.status_code == 201
    assert up_ready.status_code == 200


@needs_mariadbd
def test_server_down_at_startup_recovers_without_restart(
    throwaway_server: MariaDBServer,
    throwaway_config: DatabaseConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(fault_settings(throwaway_config))
    throwaway_server.stop()
    with (
        caplog.at_level(logging.WARNING, logger="service.db"),
        LiveServer(app) as server,
        api_client(server) as client,
    ):
        down = client.post("/api/v1/sessions", json={"guildId": 1})
        throwaway_server.start()
        up = client.post("/api/v1/sessions", json={"guildId": 1})
        ready = client.get("/api/v1/ready")

    assert "at startup; requests get 503 until it is back" in caplog.text
    assert down.status_code == 503
    assert down.json() == UNAVAILABLE
    assert up.status_code == 201
    assert ready.status_code == 200


@needs_mariadbd
def test_frozen_server_answers_503_then_recovers(
    throwaway_server: MariaDBServer, throwaway_config: DatabaseConfig
) -> None:
    app = create_app(fault_settings(throwaway_config))
    with LiveServer(app) as server, api_client(server) as client:
        session_id, _ = start_session_with_play(client)

        throwaway_server.freeze()
        try:
            # The read times out on the pooled connection, which is then closed, so the write
            # has to open a new connection, and the frozen server never greets it.
            read, read_seconds = timed(lambda: client.get(f"/api/v1/sessions/{session_id}/tracks"))
            write, write_seconds = timed(
                lambda: client.post("/api/v1/sessions", json={"guildId": 1})
            )
            ready, ready_seconds = timed(lambda: client.get("/api/v1/ready"))
        finally:
            throwaway_server.thaw()
        after = client.get(f"/api/v1/sessions/{session_id}/tracks")

    assert read.status_code == 503
    assert read.json() == UNAVAILABLE
    assert read_seconds < TEST_QUERY_TIMEOUT_SECONDS + 1
    assert write.status_code == 503
    assert write.json() == UNAVAILABLE
    assert write_seconds < TEST_CONNECT_TIMEOUT_SECONDS + 1
    assert ready.status_code == 503
    assert ready_seconds < TEST_CONNECT_TIMEOUT_SECONDS + 1
    assert after.status_code == 200
    assert after.json()["count"] == 1


def test_sqlite_locked_database_answers_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 300)
    config = DatabaseConfig(backend="sqlite", path=str(tmp_path / "archive.sqlite3"))
    apply_migrations(config)
    app = create_app(fault_settings(config))
    with LiveServer(app) as server, api_client(server) as client:
        holder = sqlite3.connect(config.path or "", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        locked, locked_seconds = timed(lambda: client.post("/api/v1/sessions", json={"guildId": 1}))
        holder.execute("ROLLBACK")
        holder.close()
        unlocked = client.post("/api/v1/sessions", json={"guildId": 2})

    stored = query_sql(config, "SELECT guild_id FROM listening_sessions")
    assert locked.status_code == 503
    assert locked.json() == UNAVAILABLE
    assert locked_seconds < 2
    assert unlocked.status_code == 201
    assert stored == [(2,)]


# Readiness


@pytest.fixture
def unmigrated_config(backend: str, tmp_path: Path) -> Iterator[DatabaseConfig]:
    if backend == "sqlite":
        yield DatabaseConfig(backend="sqlite", path=str(tmp_path / "empty.sqlite3"))
        return
    config = create_mysql_database("archive_unmigrated")
    try:
        yield config
    finally:
        drop_mysql_database(config)


def test_ready_when_migrated(db_config: DatabaseConfig) -> None:
    app = create_app(fault_settings(db_config))
    with LiveServer(app) as server, api_client(server) as client:
        first, first_seconds = timed(lambda: client.get("/api/v1/ready"))
        again, again_seconds = timed(lambda: client.get("/api/v1/ready"))

    assert first.status_code == 200
    assert first.json() == {"status": "ready"}
    assert first_seconds < 2
    assert again.status_code == 200
    # The second call reuses the migration status and only pings the database.
    assert again_seconds < 0.5


def test_ready_with_pending_migrations(unmigrated_config: DatabaseConfig) -> None:
    app = create_app(fault_settings(unmigrated_config))
    with LiveServer(app) as server, api_client(server) as client:
        response, seconds = timed(lambda: client.get("/api/v1/ready"))
        apply_migrations(unmigrated_config)
        after_migrate = client.get("/api/v1/ready")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["error"].startswith("migrations pending: ")
    assert "0001_create_archive" in response.json()["error"]
    assert seconds < 1
    assert after_migrate.status_code == 200
