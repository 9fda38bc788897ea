"""Logs of the live service: JSON or text, one line per request, the request id on every line."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from service.migrate import apply_migrations
from service.settings import DatabaseConfig
from tests.conftest import (
    MYSQL_SERVER,
    TEST_API_KEY,
    create_mysql_database,
    drop_mysql_database,
    mysql_connect,
    run_sql,
)
from tests.live import free_port, start_server

HEADERS = {"X-API-Key": TEST_API_KEY}
# Seconds to wait for the service's query to show up as blocked in the process list.
BLOCKED_QUERY_TIMEOUT_SECONDS = 10


def lines_of_request(entries: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry.get("request_id") == request_id]


@pytest.fixture
def scratch_config(backend: str, tmp_path: Path) -> Iterator[DatabaseConfig]:
    """A migrated database of its own, for a test that damages it."""
    if backend == "sqlite":
        config = DatabaseConfig(backend="sqlite", path=str(tmp_path / "scratch.sqlite3"))
        apply_migrations(config)
        yield config
        return
    config = create_mysql_database("archive_scratch")
    try:
        apply_migrations(config)
        yield config
    finally:
        drop_mysql_database(config)


def test_logs_json_lines_when_not_a_terminal(db_config: DatabaseConfig, tmp_path: Path) -> None:
    server = start_server(db_config, tmp_path, LOG_FORMAT="auto")
    try:
        httpx.get(f"{server.url}/api/v1/sessions?guildIds=1", headers=HEADERS)
    finally:
        server.stop()

    entries = server.log_entries()
    assert len(entries) >= 3
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert [entry for entry in entries if "color_message" in entry] == []


def test_logs_text_on_a_terminal(tmp_path: Path) -> None:
    script = (
        "import logging\n"
        "from service.logs import configure_logging\n"
        "configure_logging('INFO', 'auto')\n"
        "logging.getLogger('service.example').info('ready on %s', 'port 9000')\n"
    )
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        cwd=tmp_path,
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    process.wait(10)
    os.close(controller)

    text = output.decode()
    assert "INFO    service.example: ready on port 9000" in text
    assert not text.lstrip().startswith("{")


def test_request_id_from_header(db_config: DatabaseConfig, tmp_path: Path) -> None:
    server = start_server(db_config, tmp_path)
    try:
        response = httpx.get(
            f"{server.url}/api/v1/sessions?guildIds=1",
            headers={**HEADERS, "X-Request-ID": "bot-call-42"},
        )
    finally:
        server.stop()
    entries = server.log_entries()

    assert response.headers["x-request-id"] == "bot-call-42"
    (line,) = lines_of_request(entries, "bot-call-42")
    assert line["logger"] == "service.access"
    assert line["route"] == "/api/v1/sessions"
    assert line["status"] == 200


def test_request_id_generated_when_missing_or_invalid(
    db_config: DatabaseConfig, tmp_path: Path
) -> None:
    sent_values = [None, "", "has spaces", "x" * 129, "semi;colon", "a/b"]
    server = start_server(db_config, tmp_path)
    generated = []
    try:
        for sent in sent_values:
            headers = dict(HEADERS) if sent is None else {**HEADERS, "X-Request-ID": sent}
            response = httpx.get(f"{server.url}/api/v1/sessions?guildIds=1", headers=headers)
            generated.append(response.headers["x-request-id"])
    finally:
        server.stop()
    entries = server.log_entries()

    assert len(set(generated)) == len(sent_values)
    for sent, request_id in zip(sent_values, generated, strict=True):
        assert len(request_id) == 32, sent
        assert int(request_id, 16) >= 0, sent
        assert len(lines_of_request(entries, request_id)) == 1, sent


def test_request_log_one_line_per_request(db_config: DatabaseConfig, tmp_path: Path) -> None:
    server = start_server(db_config, tmp_path)
    request_ids = [f"one-line-{number}" for number in range(5)]
    try:
        for request_id in request_ids:
            httpx.get(
                f"{server.url}/api/v1/users/7/tracks/recent",
                headers={**HEADERS, "X-Request-ID": request_id},
            )
        httpx.get(f"{server.url}/api/v1/health", headers={"X-Request-ID": "probe"})
    finally:
        server.stop()
    entries = server.log_entries()

    for request_id in request_ids:
        (line,) = lines_of_request(entries, request_id)
        assert line["route"] == "/api/v1/users/{userId}/tracks/recent"
    assert [entry for entry in entries if entry["logger"] == "uvicorn.access"] == []
    access_lines = [entry for entry in entries if entry["logger"] == "service.access"]
    assert len(access_lines) == len(request_ids) + 2  # and the start-up health probe


def test_rejected_request_line_carries_request_id(
    migrated_config: DatabaseConfig, tmp_path: Path
) -> None:
    server = start_server(migrated_config, tmp_path)
    try:
        response = httpx.get(f"{server.url}/api/v1/sessions", headers={"X-Request-ID": "no-key"})
    finally:
        server.stop()
    entries = server.log_entries()

    assert response.status_code == 401
    lines = lines_of_request(entries, "no-key")
    assert [line["level"] for line in lines] == ["WARNING", "INFO"]
    assert "no API key" in lines[0]["message"]
    assert TEST_API_KEY not in server.log_text()


def test_unexpected_error_logged_once_with_request_id(
    scratch_config: DatabaseConfig, tmp_path: Path
) -> None:
    server = start_server(scratch_config, tmp_path)
    run_sql(scratch_config, ["DROP TABLE track_play_listeners"])
    try:
        response = httpx.get(
            f"{server.url}/api/v1/tracks/abc/listeners",
            headers={**HEADERS, "X-Request-ID": "broken-table"},
        )
    finally:
        server.stop()
    entries = server.log_entries()

    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}
    assert response.headers["x-request-id"] == "broken-table"
    error_lines = [entry for entry in entries if entry["level"] == "ERROR"]
    assert len(error_lines) == 1
    assert error_lines[0]["logger"] == "service.errors"
    assert error_lines[0]["request_id"] == "broken-table"
    assert "track_play_listeners" in error_lines[0]["exception"]
    assert lines_of_request(entries, "broken-table")[-1]["status"] == 500


def _blocked_connection(config: DatabaseConfig, lock_id: int, seen: set[int]) -> int:
    """Return the id of a new connection of the service waiting on the table lock."""
    watcher = mysql_connect(config, config.database)
    try:
        deadline = time.monotonic() + BLOCKED_QUERY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with watcher.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = %s AND id <> %s AND id <> CONNECTION_ID() "
                    "AND state LIKE %s",
                    (config.database, lock_id, "%metadata lock%"),
                )
                blocked = {row[0] for row in cursor.fetchall()} - seen
            if blocked:
                return blocked.pop()
            time.sleep(0.05)
    finally:
        watcher.close()
    raise AssertionError("the service's query never waited on the table lock")


@pytest.mark.skipif(MYSQL_SERVER is None, reason="needs MySQL to kill a connection mid-query")
def test_data_layer_and_handler_lines_carry_request_id(tmp_path: Path) -> None:
    config = create_mysql_database("archive_kill")
    lock = None
    try:
        apply_migrations(config)
        server = start_server(config, tmp_path)
        lock = mysql_connect(config, config.database)
        with lock.cursor() as cursor:
            cursor.execute("LOCK TABLES track_plays WRITE")
            cursor.execute("SELECT CONNECTION_ID()")
            lock_id = cursor.fetchone()[0]  # type: ignore[index]

        responses: list[httpx.Response] = []
        request = threading.Thread(
            target=lambda: responses.append(
                httpx.get(
                    f"{server.url}/api/v1/guilds/5/tracks/recent",
                    headers={**HEADERS, "X-Request-ID": "killed-twice"},
                    timeout=30,
                )
            )
        )
        request.start()
        # Kill the query's connection, then the one its single retry opens.
        killed: set[int] = set()
        for _ in range(2):
            connection_id = _blocked_connection(config, lock_id, killed)
            with lock.cursor() as cursor:
                cursor.execute(f"KILL {connection_id}")
            killed.add(connection_id)
        with lock.cursor() as cursor:
            cursor.execute("UNLOCK TABLES")
        request.join(30)
        server.stop()
        entries = server.log_entries()
    finally:
        if lock is not None:
            lock.close()
        drop_mysql_database(config)

    (response,) = responses
    assert response.status_code == 503
    assert response.json() == {"error": "database unavailable"}
    lines = lines_of_request(entries, "killed-twice")
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("service.db", "WARNING"),
        ("service.errors", "WARNING"),
        ("service.access", "INFO"),
    ]
    assert "retrying once" in lines[0]["message"]


BROKEN_APP = """
import uvicorn
from service.logs import configure_logging
from service.middleware import RequestLogMiddleware

async def fails_mid_response(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise RuntimeError("failed after the response started")

configure_logging("INFO", "json")
uvicorn.run(
    RequestLogMiddleware(fails_mid_response),
    host="127.0.0.1",
    port=PORT,
    lifespan="off",
    log_config=None,
    access_log=False,
)
"""


def test_uvicorn_error_line_carries_request_id(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "uvicorn.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", BROKEN_APP.replace("PORT", str(port))],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 20
        while "Uvicorn running" not in log_path.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.05)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/", headers={"X-Request-ID": "mid-response"})
        deadline = time.monotonic() + 5
        while "Exception in ASGI application" not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(10)

    entries = [orjson.loads(line) for line in log_path.read_text().splitlines() if line]
    (error,) = [entry for entry in entries if entry["level"] == "ERROR"]
    assert error["logger"] == "uvicorn.error"
    assert error["request_id"] == "mid-response"
    assert "failed after the response started" in error["exception"]
