"""Prometheus metrics: requests, database pool and queries, track plays, and the process.

With one worker the metrics live in this process's default registry. With several workers,
`serve` sets PROMETHEUS_MULTIPROC_DIR before the workers start, so each worker writes its values
to files there and a scrape of any worker sums the files of all of them (prometheus-client's
multiprocess mode). Gauges then keep one file per live worker. Pool gauges are summed over live
workers and process gauges carry a `pid` label. uvicorn, not this service, restarts dead
workers, so a worker removes the files of dead workers when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from service.middleware import route_template

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Seconds between two samples of a worker's process metrics in multiprocess mode.
PROCESS_SAMPLE_SECONDS = 10
QUERY_BUCKETS_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

HTTP_REQUESTS = Counter(
    "archive_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "archive_http_request_duration_seconds",
    "Time from receiving a request to the end of its response, in seconds.",
    ["method", "route", "status"],
)
DB_QUERY_DURATION = Histogram(
    "archive_db_query_duration_seconds",
    "Time one named query of sql/ took on its connection, in seconds.",
    ["query"],
    buckets=QUERY_BUCKETS_SECONDS,
)
DB_POOL_SIZE = Gauge(
    "archive_db_pool_size",
    "Open database connections, idle or in use (on SQLite, where each is opened per use, the ones "
    "in use).",
    multiprocess_mode="livesum",
)
DB_POOL_MAX_SIZE = Gauge(
    "archive_db_pool_max_size",
    "Most connections the pool may open (DB_POOL_MAX_SIZE; 0 on SQLite, which has no limit).",
    multiprocess_mode="livesum",
)
DB_POOL_IN_USE = Gauge(
    "archive_db_pool_in_use",
    "Database connections held by requests.",
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "archive_db_pool_waiting",
    "Requests waiting for a database connection.",
    multiprocess_mode="livesum",
)
TRACK_PLAYS_STARTED = Counter("archive_track_plays_started", "Track plays started.")
TRACK_PLAYS_ENDED = Counter(
    "archive_track_plays_ended",
    "Track plays ended, by whether they counted as a listen.",
    ["valid"],
)


@dataclass(frozen=True)
class PoolStats:
    """Connections of one process's database pool; `max_size` is None when it has no limit."""

    size: int
    in_use: int
    waiting: int
    max_size: int | None


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None


def track_play_started() -> None:
    TRACK_PLAYS_STARTED.inc()


def track_play_ended(valid: bool) -> None:
    TRACK_PLAYS_ENDED.labels(valid="true" if valid else "false").inc()


def observe_request(scope: Scope, status_code: int, duration: float) -> None:
    """Count a finished request under its route template, never its raw path."""
    labels = (scope["method"], route_template(scope), str(status_code))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_REQUEST_DURATION.labels(*labels).observe(duration)


def observe_query(name: str, duration: float) -> None:
    DB_QUERY_DURATION.labels(name).observe(duration)


def record_pool(stats: PoolStats) -> None:
    DB_POOL_SIZE.set(stats.size)
    DB_POOL_MAX_SIZE.set(stats.max_size or 0)
    DB_POOL_IN_USE.set(stats.in_use)
    DB_POOL_WAITING.set(stats.waiting)


class _ProcessSampler:
    """Copy this worker's process metrics into pid-labelled gauges, for multiprocess mode."""

    def __init__(self) -> None:
        self._collector = ProcessCollector(registry=None)
        self._gauges: dict[str, Gauge] = {}

    def sample(self) -> None:
        for family in self._collector.collect():
            for sample in family.samples:
                gauge = self._gauges.get(sample.name)
                if gauge is None:
                    gauge = Gauge(
                        sample.name,
                        f"{family.documentation} (one series per worker).",
                        multiprocess_mode="liveall",
                        registry=None,
                    )
                    self._gauges[sample.name] = gauge
                gauge.set(sample.value)

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(PROCESS_SAMPLE_SECONDS)


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def remove_dead_workers(directory: str) -> None:
    """Remove the live-gauge files of workers that no longer run, so their gauges stop counting."""
    dead: set[int] = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        match = _LIVE_GAUGE_FILE.fullmatch(os.path.basename(path))
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.add(pid)
        except PermissionError:
            pass
    for pid in dead:
        mark_process_dead(pid, directory)


@contextlib.asynccontextmanager
async def worker_metrics() -> AsyncIterator[None]:
    """Run for a worker's lifetime: in multiprocess mode, sample its process metrics."""
    directory = multiprocess_dir()
    if directory is None:
        yield
        return

    remove_dead_workers(directory)
    sampler = _ProcessSampler()
    task = asyncio.create_task(sampler.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        mark_process_dead(os.getpid(), directory)


def _registry() -> CollectorRegistry:
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return registry


async def metrics(request: Request) -> Response:
    """Serve every metric in the format that the scraper's Accept header requests."""
    record_pool(request.app.state.db.pool_stats())
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(_registry()), headers={"Content-Type": content_type})
