"""Fixtures that run each database test once on SQLite and once on MySQL/MariaDB.

MySQL is at TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/); each test process creates its
own database there and drops it at the end. When MySQL is not reachable the tests run on SQLite
only and the run prints a line saying so at the end, unless REQUIRE_MYSQL=1 makes that an error.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pymysql
import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.migrate import apply_migrations
from service.settings import DatabaseConfig, Settings

TEST_API_KEY = "test-key-7f3a"
DEFAULT_TEST_MYSQL_URL = "mysql://root@127.0.0.1:3306/"
ARCHIVE_TABLES = ("track_play_listeners", "track_plays", "listening_sessions")


def _mysql_server() -> tuple[DatabaseConfig | None, str]:
    url = os.environ.get("TEST_MYSQL_URL", DEFAULT_TEST_MYSQL_URL)
    parts = urlsplit(url)
    server = DatabaseConfig(
        backend="mysql",
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database="",
    )
    try:
        connection = mysql_connect(server, database=None)
    except pymysql.err.MySQLError as exc:
        return None, f"MySQL at {server.host}:{server.port} is not reachable ({exc.args[-1]})"
    connection.close()
    return server, ""


def mysql_connect(config: DatabaseConfig, database: str | None = None) -> pymysql.Connection:
    return pymysql.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.password,
        database=database,
        connect_timeout=3,
        autocommit=True,
        charset="utf8mb4",
    )


MYSQL_SERVER, MYSQL_UNREACHABLE = _mysql_server()
BACKENDS = ["sqlite", "mysql"] if MYSQL_SERVER else ["sqlite"]


def pytest_configure(config: pytest.Config) -> None:
    if MYSQL_SERVER is None and os.environ.get("REQUIRE_MYSQL") == "1":
        raise pytest.UsageError(f"REQUIRE_MYSQL=1 but {MYSQL_UNREACHABLE}")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    counts = dict.fromkeys(("sqlite", "mysql"), 0)
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when != "call":
                continue
            for backend in counts:
                if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid:
                    counts[backend] += 1
    terminalreporter.write_line(
        f"database tests run: {counts['sqlite']} on sqlite, {counts['mysql']} on mysql"
    )
    if MYSQL_SERVER is None:
        terminalreporter.write_line(f"{MYSQL_UNREACHABLE}: the MySQL tests did not run")


def create_mysql_database(prefix: str = "archive_test") -> DatabaseConfig:
    assert MYSQL_SERVER is not None
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = mysql_connect(MYSQL_SERVER)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    connection.close()
    return DatabaseConfig(
        backend="mysql",
        host=MYSQL_SERVER.host,
        port=MYSQL_SERVER.port,
        user=MYSQL_SERVER.user,
        password=MYSQL_SERVER.password,
        database=name,
    )


def drop_mysql_database(config: DatabaseConfig) -> None:
    assert MYSQL_SERVER is not None
    connection = mysql_connect(MYSQL_SERVER)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{config.database}`")
    connection.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def migrated_config(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseConfig]:
    """A database of the backend with every migration applied, shared by the tests of a process."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "archive.sqlite3"
        config = DatabaseConfig(backend="sqlite", path=str(path))
        apply_migrations(config)
        yield config
        return

    config = create_mysql_database()
    try:
        apply_migrations(config)
        yield config
    finally:
        drop_mysql_database(config)


def run_sql(config: DatabaseConfig, statements: list[str]) -> None:
    if config.backend == "sqlite":
        connection = sqlite3.connect(config.path or "")
        with connection:
            for statement in statements:
                connection.execute(statement)
        connection.close()
        return
    mysql = mysql_connect(config, config.database)
    with mysql.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    mysql.close()


def query_sql(config: DatabaseConfig, statement: str) -> list[tuple]:
    """Run a read on a separate connection, to check what is really stored."""
    if config.backend == "sqlite":
        connection = sqlite3.connect(config.path or "")
        rows = connection.execute(statement).fetchall()
        connection.close()
        return rows
    mysql = mysql_connect(config, config.database)
    with mysql.cursor() as cursor:
        cursor.execute(statement)
        rows = list(cursor.fetchall())
    mysql.close()
    return rows


@pytest.fixture
def db_config(migrated_config: DatabaseConfig) -> DatabaseConfig:
    """The migrated database, emptied before the test."""
    run_sql(migrated_config, [f"DELETE FROM {table}" for table in ARCHIVE_TABLES])
    return migrated_config


def make_settings(config: DatabaseConfig, **overrides: object) -> Settings:
    url = config.yoyo_url()
    values: dict[str, object] = {"database_url": url, "api_key": TEST_API_KEY}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(db_config: DatabaseConfig) -> Settings:
    return make_settings(db_config)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, headers={"X-API-Key": TEST_API_KEY}) as test_client:
        yield test_client


@pytest.fixture
def anonymous(settings: Settings) -> Iterator[TestClient]:
    """A client that sends no API key."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
