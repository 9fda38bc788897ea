"""Prometheus metrics: requests by route template, pool, queries, plays, process, two workers."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from service.app import create_app
from service.db import Database
from service.metrics import remove_dead_workers
from service.migrate import apply_migrations
from service.settings import DatabaseConfig
from tests.conftest import (
    MYSQL_SERVER,
    TEST_API_KEY,
    create_mysql_database,
    drop_mysql_database,
    make_settings,
)
from tests.live import start_server

TRACK = {
    "source": "youtube",
    "sourceId": "dQw4w9WgXcQ",
    "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "title": "Never Gonna Give You Up",
    "artist": "Rick Astley",
    "durationMs": 200_000,
    "queuedByUser": "214749282473574401",
    "listenerIds": ["214749282473574401"],
}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse a scrape into {(sample name, labels): value}."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.text


def test_metrics_need_api_key(anonymous: TestClient) -> None:
    response = anonymous.get("/metrics")

    assert response.status_code == 401
    assert response.json() == {"error": "missing API key: send it in the X-API-Key header"}


def test_metrics_public_when_configured(db_config: DatabaseConfig) -> None:
    app = create_app(make_settings(db_config, metrics_public=True))

    with TestClient(app) as anonymous:
        response = anonymous.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_metrics_openmetrics_on_request(client: TestClient) -> None:
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})

    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    session_id = client.post("/api/v1/sessions", json={"guildId": "42"}).json()["ID"]
    labels = {"method": "GET", "route": "/api/v1/sessions/{sessionId}", "status": "200"}
    before = scrape(client)

    client.get(f"/api/v1/sessions/{session_id}")
    client.get(f"/api/v1/sessions/{session_id}")
    after = scrape(client)

    assert value(after, "archive_http_requests_total", **labels) == (
        value(before, "archive_http_requests_total", **labels) + 2
    )
    assert value(after, "archive_http_request_duration_seconds_count", **labels) == (
        value(before, "archive_http_request_duration_seconds_count", **labels) + 2
    )
    assert session_id not in after


def test_metrics_count_not_found_under_template(client: TestClient) -> None:
    labels = {"method": "GET", "route": "/api/v1/tracks/{trackPlayId}", "status": "404"}
    before = scrape(client)

    client.get("/api/v1/tracks/doesNotExist")
    after = scrape(client)

    assert value(after, "archive_http_requests_total", **labels) == (
        value(before, "archive_http_requests_total", **labels) + 1
    )
    assert "doesNotExist" not in after


def test_metrics_count_unknown_path_as_unmatched(client: TestClient) -> None:
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    before = scrape(client)

    client.get("/api/v1/no-such-route/123")
    after = scrape(client)

    assert value(after, "archive_http_requests_total", **labels) == (
        value(before, "archive_http_requests_total", **labels) + 1
    )
    assert "no-such-route" not in after
    assert 'route="/api/v1/api/v1"' not in after


def test_metrics_count_track_plays(client: TestClient) -> None:
    session_id = client.post("/api/v1/sessions", json={"guildId": "42"}).json()["ID"]
    listened = client.post(f"/api/v1/sessions/{session_id}/tracks", json=TRACK).json()["ID"]
    skipped = client.post(f"/api/v1/sessions/{session_id}/tracks", json=TRACK).json()["ID"]
    before = scrape(client)

    client.post(f"/api/v1/sessions/{session_id}/tracks", json=TRACK)
    client.patch(f"/api/v1/tracks/{listened}", json={"playedDurationMs": 200_000})
    client.patch(f"/api/v1/tracks/{listened}", json={"playedDurationMs": 200_000})
    client.patch(f"/api/v1/tracks/{skipped}", json={"playedDurationMs": 1_000})
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("archive_track_plays_started_total") == 1
    assert delta("archive_track_plays_ended_total", valid="true") == 1
    assert delta("archive_track_plays_ended_total", valid="false") == 1


def test_metrics_query_latency_by_name(client: TestClient) -> None:
    labels = {"query": "get_sessions_by_guild_ids"}
    before = scrape(client)

    client.get("/api/v1/sessions?guildIds=1,2")
    after = scrape(client)

    assert value(after, "archive_db_query_duration_seconds_count", **labels) == (
        value(before, "archive_db_query_duration_seconds_count", **labels) + 1
    )
    assert value(after, "archive_db_query_duration_seconds_sum", **labels) > value(
        before, "archive_db_query_duration_seconds_sum", **labels
    )


def test_metrics_report_pool(client: TestClient, backend: str) -> None:
    text = scrape(client)

    expected_max = 20 if backend == "mysql" else 0
    assert value(text, "archive_db_pool_max_size") == expected_max
    assert value(text, "archive_db_pool_in_use") == 0
    assert value(text, "archive_db_pool_waiting") == 0
    assert ("archive_db_pool_size", frozenset()) in samples(text)


def test_metrics_report_process(client: TestClient) -> None:
    text = scrape(client)

    assert value(text, "process_resident_memory_bytes") > 0
    assert ("process_cpu_seconds_total", frozenset()) in samples(text)


def test_pool_stats_count_waiting_and_in_use(db_config: DatabaseConfig, backend: str) -> None:
    settings = make_settings(db_config, db_pool_min_size=1, db_pool_max_size=1)

    async def scenario() -> list[tuple[int, int, int, int | None]]:
        db = Database(db_config, settings)
        await db.connect()
        observed = []
        try:
            async with db.connection():
                stats = db.pool_stats()
                observed.append((stats.size, stats.in_use, stats.waiting, stats.max_size))
                second = asyncio.create_task(db.fetch_one("ping"))
                await asyncio.sleep(0.2)
                stats = db.pool_stats()
                observed.append((stats.size, stats.in_use, stats.waiting, stats.max_size))
            await second
            stats = db.pool_stats()
            observed.append((stats.size, stats.in_use, stats.waiting, stats.max_size))
        finally:
            await db.disconnect()
        return observed

    held, contended, idle = asyncio.run(scenario())

    if backend == "mysql":
        assert held == (1, 1, 0, 1)
        assert contended == (1, 1, 1, 1)
        assert idle == (1, 0, 0, 1)
    else:
        # SQLite opens a connection per use, so the second one never waits.
        assert held == (1, 1, 0, None)
        assert idle == (0, 0, 0, None)


@pytest.mark.skipif(MYSQL_SERVER is None, reason="several workers need MySQL")
def test_metrics_sum_over_workers(tmp_path: Path) -> None:
    config = create_mysql_database("archive_workers")
    headers = {"X-API-Key": TEST_API_KEY}
    labels = {"method": "GET", "route": "/api/v1/openapi.json", "status": "200"}
    try:
        apply_migrations(config)
        server = start_server(config, tmp_path, WORKERS="2")
        try:
            for _ in range(20):
                httpx.get(f"{server.url}/api/v1/openapi.json")
            scrapes = [httpx.get(f"{server.url}/metrics", headers=headers).text for _ in range(6)]
        finally:
            server.stop()
    finally:
        drop_mysql_database(config)

    for text in scrapes:
        assert value(text, "archive_http_requests_total", **labels) == 20
    pids = {
        dict(labels)["pid"]
        for name, labels in samples(scrapes[-1])
        if name == "process_resident_memory_bytes"
    }
    assert len(pids) == 2
    match = re.search(r"keep their metrics in (\S+)", server.log_text())
    assert match is not None
    assert not Path(match.group(1)).exists()


def test_remove_dead_workers_keeps_live_ones(tmp_path: Path) -> None:
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    dead_pid = int(exited.stdout)
    live_pid = os.getpid()
    for pid in (dead_pid, live_pid):
        (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
        (tmp_path / f"gauge_liveall_{pid}.db").write_bytes(b"")
    (tmp_path / f"counter_{dead_pid}.db").write_bytes(b"")

    remove_dead_workers(str(tmp_path))

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"counter_{dead_pid}.db", f"gauge_liveall_{live_pid}.db", f"gauge_livesum_{live_pid}.db"]
    )
