"""The benchmark: the service against a seeded archive, beside two ceilings of this machine.

Each round measures, at every concurrency, three things one after another:

* the bare ceiling: `bench.bare` under uvicorn, JSON routes with no database;
* the driver ceiling: each route's SQL from sql/ run straight on an aiomysql pool, no HTTP;
* the service itself, started as `python -m service serve` with one worker.

Only one of them runs at a time, and the load comes from `bench.client` in this process.
A route's figures are the medians over the rounds, and the service's throughput is also given
as a ratio to each ceiling at the same concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomysql
import orjson
import pymysql
import uvloop

from bench.client import Connection, HttpError, PointResult, Step, Worker, run_point
from bench.report import render
from bench.seed import DEFAULT_DATABASE_URL, DEFAULT_PLAYS, SeedError, SeedOptions, seed_database
from bench.summary import RESULTS_DIR, describe_archive, read_summary, summary_path, write_summary
from service.parsing import DEFAULT_LIMIT
from service.queries import Queries
from service.resources import SQL_DIR
from service.settings import ConfigurationError, DatabaseConfig, Settings

API_KEY = "bench-key-not-secret"
API = "/api/v1"
HOST = "127.0.0.1"
# Rows a recommendation reads, as the service's default RECOMMEND_SEED_COUNT.
SEED_COUNT = 1000
# Seconds to wait for a server to answer its health route after it starts.
STARTUP_TIMEOUT_SECONDS = 60.0
# Seconds a point may overrun its window before its workers are cancelled.
POINT_GRACE_SECONDS = 15.0
# Writes go to a guild and users that the generator never creates, and are deleted afterwards.
WRITE_GUILD_ID = 1000
WRITE_LISTENER_IDS = (1001, 1002, 1003)


@dataclass(frozen=True)
class RouteSpec:
    """One benchmarked route: how to request it and which SQL its driver ceiling runs."""

    name: str
    step: Step
    bare: str
    query: str | None = None
    params: Callable[[Worker], dict[str, Any]] | None = None
    prepare: Step | None = None


def _get(path: Callable[[Worker], str]) -> Step:
    async def step(worker: Worker) -> None:
        await worker.http("GET", path(worker), None, (200,))

    return step


def _create_track_body(worker: Worker) -> bytes:
    return orjson.dumps(
        {
            "source": "youtube",
            "sourceId": f"bench{worker.index:02d}{worker.iteration:06d}",
            "url": f"https://www.youtube.com/watch?v=bench{worker.index:02d}{worker.iteration:06d}",
            "title": "Midnight Electric Dreams (Official Music Video) 🌙",
            "artist": "The Velvet Satellites",
            "durationMs": 215_000,
            "queuedByUser": WRITE_LISTENER_IDS[0],
            "listenerIds": list(WRITE_LISTENER_IDS),
        }
    )


async def _open_write_session(worker: Worker) -> None:
    assert worker.connection is not None
    body = orjson.dumps({"guildId": WRITE_GUILD_ID})
    status, payload = await worker.connection.request("POST", f"{API}/sessions", body)
    if status != 201:
        raise HttpError(f"POST {API}/sessions returned {status}: {payload[:200]!r}")
    worker.state["session_id"] = orjson.loads(payload)["ID"]


async def _start_and_end_track(worker: Worker) -> None:
    session_id = worker.state["session_id"]
    created = await worker.http(
        "POST", f"{API}/sessions/{session_id}/tracks", _create_track_body(worker), (201,)
    )
    play_id = orjson.loads(created)["ID"]
    # Played long enough to count, so the end answers 200 with the stored play.
    ended = orjson.dumps({"playedDurationMs": 200_000})
    await worker.http("PATCH", f"{API}/tracks/{play_id}", ended, (200,))


def build_routes(summary: dict[str, Any]) -> list[RouteSpec]:
    """Return the benchmarked routes, with the ids of the seeded archive's summary."""
    heavy_guild = summary["heaviest_guild"]["id"]
    typical_guild = summary["typical_guild"]["id"]
    heavy_user = summary["heaviest_user"]["id"]
    typical_user = summary["typical_user"]["id"]
    session_id = summary["typical_session"]["id"]
    play_ids = summary["track_play_ids"]

    def play_id(worker: Worker) -> str:
        return str(play_ids[(worker.index * 7 + worker.iteration) % len(play_ids)])

    routes = []
    for label, guild in (("heaviest", heavy_guild), ("typical", typical_guild)):
        routes.append(
            RouteSpec(
                f"guild recents, {label}",
                _get(lambda worker, guild=guild: f"{API}/guilds/{guild}/tracks/recent"),
                "page",
                "get_recent_track_plays_by_guild",
                lambda worker, guild=guild: {"guild_id": guild, "limit": DEFAULT_LIMIT},
            )
        )
    for label, user in (("heaviest", heavy_user), ("typical", typical_user)):
        routes.append(
            RouteSpec(
                f"user recents, {label}",
                _get(lambda worker, user=user: f"{API}/users/{user}/tracks/recent"),
                "page",
                "get_recent_track_plays_by_user",
                lambda worker, user=user: {"user_id": user, "limit": DEFAULT_LIMIT},
            )
        )
    routes += [
        RouteSpec(
            "recommended artists, heaviest guild",
            _get(lambda worker: f"{API}/guilds/{heavy_guild}/artists/recommended"),
            "tiny",
            "get_recommendation_seeds_by_guild",
            lambda worker: {"guild_id": heavy_guild, "limit": SEED_COUNT},
        ),
        RouteSpec(
            "recommended artists, heaviest user",
            _get(lambda worker: f"{API}/users/{heavy_user}/artists/recommended"),
            "tiny",
            "get_recommendation_seeds_by_user",
            lambda worker: {"user_id": heavy_user, "limit": SEED_COUNT},
        ),
        RouteSpec(
            "session tracks",
            _get(lambda worker: f"{API}/sessions/{session_id}/tracks"),
            "tiny",
            "get_track_plays_by_session_id",
            lambda worker: {"session_id": session_id},
        ),
        RouteSpec(
            "get track play",
            _get(lambda worker: f"{API}/tracks/{play_id(worker)}"),
            "tiny",
            "get_track_play_by_id",
            lambda worker: {"track_play_id": play_id(worker)},
        ),
        RouteSpec(
            "write mix (start + end track)",
            _start_and_end_track,
            "tiny",
            prepare=_open_write_session,
        ),
    ]
    return routes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """A server started for the benchmark, on loopback, stopped by its own process id."""

    def __init__(self, name: str, argv: list[str], environment: dict[str, str], port: int) -> None:
        self.name = name
        self.port = port
        self.log_path = RESULTS_DIR / f"{name}.log"
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv, env=environment, stdout=self._log, stderr=subprocess.STDOUT
        )

    async def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} while starting; "
                    f"see {self.log_path}"
                )
            connection = Connection(HOST, self.port, {})
            try:
                status, _ = await connection.request("GET", path)
                if status == 200:
                    return
            except (OSError, HttpError):
                pass
            finally:
                connection.close()
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {path} within {STARTUP_TIMEOUT_SECONDS} s")

    def cpu_seconds(self) -> float:
        """Return the CPU time the server process has used, user plus system."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_bare_server() -> ServerProcess:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return ServerProcess("bare", argv, dict(os.environ), port)


def start_service(config: DatabaseConfig, pool_size: int) -> ServerProcess:
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": config.yoyo_url(),
        "API_KEY": API_KEY,
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "DB_POOL_MAX_SIZE": str(pool_size),
    }
    environment.pop("API_KEY_FILE", None)
    argv = [sys.executable, "-m", "service", "serve", "--host", HOST, "--port", str(port)]
    return ServerProcess("service", argv, environment, port)


async def measure(
    step: Step,
    concurrency: int,
    options: BenchOptions,
    connect: Callable[[], Connection] | None,
    prepare: Step | None = None,
    server: ServerProcess | None = None,
) -> PointResult:
    """Run one point, bounded in time, and record the CPU time used in its window.

    The CPU time is the server's for an HTTP point, and this process's for a driver point,
    where this process runs the queries itself.
    """
    loop = asyncio.get_running_loop()
    cpu: dict[str, float] = {}
    read_cpu = server.cpu_seconds if server is not None else time.process_time
    window_start = loop.time() + options.warmup_seconds
    loop.call_at(window_start, lambda: cpu.__setitem__("start", read_cpu()))
    loop.call_at(window_start + options.seconds, lambda: cpu.__setitem__("end", read_cpu()))
    point = run_point(step, concurrency, options.warmup_seconds, options.seconds, connect, prepare)
    limit = options.warmup_seconds + options.seconds + POINT_GRACE_SECONDS
    try:
        result = await asyncio.wait_for(point, timeout=limit)
    except TimeoutError:
        result = PointResult(concurrency=concurrency, seconds=options.seconds)
        result.record_error(f"the point did not finish within {limit:.0f} s")
    if "start" in cpu and "end" in cpu:
        result.cpu_seconds = cpu["end"] - cpu["start"]
    return result


@dataclass(frozen=True)
class BenchOptions:
    """How long and at which concurrencies each point runs, and how many rounds."""

    concurrencies: tuple[int, ...] = (1, 16, 64)
    seconds: float = 3.0
    warmup_seconds: float = 1.0
    rounds: int = 3
    pool_size: int = Settings.model_fields["db_pool_max_size"].default


Key = tuple[str, str, int]


def point_record(result: PointResult) -> dict[str, Any]:
    cpu = result.cpu_seconds
    count = len(result.latencies_ms)
    return {
        "requests_per_second": round(result.requests_per_second, 1),
        "p50_ms": round(result.percentile(0.50), 2),
        "p95_ms": round(result.percentile(0.95), 2),
        "p99_ms": round(result.percentile(0.99), 2),
        "requests": count,
        "errors": result.errors,
        "error_samples": result.error_samples,
        "cpu_share": round(cpu / result.seconds, 3) if cpu is not None else None,
        "cpu_ms_per_request": round(cpu * 1000 / count, 3) if cpu and count else None,
    }


def log_point(
    round_number: int, kind: str, name: str, record: dict[str, Any], concurrency: int
) -> None:
    cpu = record["cpu_ms_per_request"]
    print(
        f"round {round_number} {kind:8} {name:38} c={concurrency:<3} "
        f"{record['requests_per_second']:8.1f} req/s  p50 {record['p50_ms']:7.2f}  "
        f"p95 {record['p95_ms']:7.2f}  p99 {record['p99_ms']:7.2f} ms  "
        f"errors {record['errors']}" + (f"  cpu {cpu:.3f} ms/req" if cpu else ""),
        flush=True,
    )
    for sample in record["error_samples"]:
        print(f"    error: {sample}", flush=True)


async def run_round(
    round_number: int,
    config: DatabaseConfig,
    routes: list[RouteSpec],
    options: BenchOptions,
    records: dict[Key, list[dict[str, Any]]],
    selected: set[str],
) -> None:
    """Measure the bare ceiling, the driver ceiling and the service, each at every concurrency."""
    headers = {"X-API-Key": API_KEY}

    if "bare" in selected:
        bare = start_bare_server()
        try:
            await bare.wait_ready("/tiny")
            for variant in ("tiny", "page"):
                for concurrency in options.concurrencies:
                    result = await measure(
                        _get(lambda worker, variant=variant: f"/{variant}"),
                        concurrency,
                        options,
                        lambda: Connection(HOST, bare.port, headers),
                        server=bare,
                    )
                    record = point_record(result)
                    records.setdefault(("bare", variant, concurrency), []).append(record)
                    log_point(round_number, "bare", variant, record, concurrency)
        finally:
            bare.stop()

    if "driver" in selected:
        queries = Queries.load(SQL_DIR, "mysql")
        pool = await aiomysql.create_pool(
            host=config.host,
            port=config.port,
            user=config.user,
            password=config.password,
            db=config.database,
            minsize=1,
            maxsize=options.pool_size,
            autocommit=True,
            charset="utf8mb4",
            init_command="SET time_zone = '+00:00'",
        )
        try:
            for route in routes:
                if route.query is None or route.params is None:
                    continue
                for concurrency in options.concurrencies:
                    step = _driver_step(pool, queries, route.query, route.params)
                    result = await measure(step, concurrency, options, None)
                    record = point_record(result)
                    records.setdefault(("driver", route.name, concurrency), []).append(record)
                    log_point(round_number, "driver", route.name, record, concurrency)
        finally:
            pool.close()
            await pool.wait_closed()

    if "service" in selected:
        service = start_service(config, options.pool_size)
        try:
            await service.wait_ready(f"{API}/health")
            for route in routes:
                for concurrency in options.concurrencies:
                    result = await measure(
                        route.step,
                        concurrency,
                        options,
                        lambda: Connection(HOST, service.port, headers),
                        route.prepare,
                        server=service,
                    )
                    record = point_record(result)
                    records.setdefault(("service", route.name, concurrency), []).append(record)
                    log_point(round_number, "service", route.name, record, concurrency)
        finally:
            service.stop()


def _driver_step(
    pool: aiomysql.Pool, queries: Queries, name: str, params: Callable[[Worker], dict[str, Any]]
) -> Step:
    query = queries[name]

    async def step(worker: Worker) -> None:
        sql, arguments = query.bind(params(worker))

        async def fetch() -> object:
            async with pool.acquire() as connection, connection.cursor() as cursor:
                await cursor.execute(sql, arguments)
                return await cursor.fetchall()

        await worker.timed(fetch)

    return step


def delete_written_rows(config: DatabaseConfig) -> int:
    """Delete what the write mix stored, so every run reads the same archive."""
    connection = pymysql.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.password,
        database=config.database,
        autocommit=True,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE track_play_listeners FROM track_play_listeners "
                "JOIN track_plays ON track_plays.id = track_play_listeners.track_play_id "
                "WHERE track_plays.guild_id = %s",
                (WRITE_GUILD_ID,),
            )
            deleted = cursor.execute(
                "DELETE FROM track_plays WHERE guild_id = %s", (WRITE_GUILD_ID,)
            )
            cursor.execute("DELETE FROM listening_sessions WHERE guild_id = %s", (WRITE_GUILD_ID,))
    finally:
        connection.close()
    return int(deleted)


def machine_description(config: DatabaseConfig) -> dict[str, Any]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    connection = pymysql.connect(
        host=config.host, port=config.port, user=config.user, password=config.password
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION(), @@innodb_buffer_pool_size")
            version, buffer_pool = cursor.fetchone()
    finally:
        connection.close()
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "database_server": version,
        "innodb_buffer_pool_mib": int(buffer_pool) // (1024 * 1024),
        "python": platform.python_version(),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }


def median_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine one point's rounds: the median of each figure, the sum of the errors."""
    combined: dict[str, Any] = {"rounds": len(records)}
    for key in (
        "requests_per_second",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "cpu_ms_per_request",
        "cpu_share",
    ):
        values = [record[key] for record in records if record[key] is not None]
        combined[key] = round(statistics.median(values), 3) if values else None
    combined["errors"] = sum(record["errors"] for record in records)
    return combined


def ensure_archive(config: DatabaseConfig, plays: int) -> dict[str, Any]:
    """Seed the benchmark database unless it already holds an archive; return its summary."""
    path = summary_path(config.database or "archive")
    server = pymysql.connect(
        host=config.host, port=config.port, user=config.user, password=config.password
    )
    try:
        with server.cursor() as cursor:
            found = cursor.execute(
                "SELECT 1 FROM information_schema.tables "
                "WHERE table_schema = %s AND table_name = 'track_plays'",
                (config.database,),
            )
            count = 0
            if found:
                cursor.execute(f"SELECT COUNT(*) FROM `{config.database}`.track_plays")
                (count,) = cursor.fetchone()
    finally:
        server.close()

    if not count:
        print(f"seeding {config.describe()} with {plays} plays", flush=True)
        summary = seed_database(config, SeedOptions(plays=plays))
        write_summary(path, summary)
        return summary

    summary = read_summary(path)
    if summary is None or summary.get("track_plays") != count:
        print(f"describing the archive in {config.describe()}", flush=True)
        connection = pymysql.connect(
            host=config.host,
            port=config.port,
            user=config.user,
            password=config.password,
            database=config.database,
        )
        try:
            summary = describe_archive(connection, config.database or "")
        finally:
            connection.close()
        write_summary(path, summary)
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the service on a seeded MySQL/MariaDB archive against a bare "
        "Starlette ceiling and a direct-driver ceiling, on loopback.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="benchmark database, seeded on first use "
        f"(default: BENCH_DATABASE_URL, or {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--plays", type=int, default=DEFAULT_PLAYS, help="plays to seed when the database is empty"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every point")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per point")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="unmeasured seconds before each point"
    )
    parser.add_argument(
        "--concurrency",
        default="1,16,64",
        help="comma-separated numbers of concurrent clients (default: 1,16,64)",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=BenchOptions.pool_size,
        help="maximum database connections of the service and of the driver ceiling "
        f"(default: the service's default, {BenchOptions.pool_size})",
    )
    parser.add_argument(
        "--only",
        default="bare,driver,service",
        help="comma-separated parts to run: bare, driver, service (default: all)",
    )
    parser.add_argument(
        "--route", action="append", help="run only routes whose name contains this text"
    )
    return parser


def parse_concurrencies(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or any(value < 1 for value in values):
        raise SystemExit(
            f"--concurrency must be positive integers separated by commas, got {text!r}"
        )
    return values


async def run_bench(
    config: DatabaseConfig,
    summary: dict[str, Any],
    options: BenchOptions,
    selected: set[str],
    route_filter: list[str] | None,
) -> dict[Key, list[dict[str, Any]]]:
    routes = build_routes(summary)
    if route_filter:
        routes = [route for route in routes if any(text in route.name for text in route_filter)]
    records: dict[Key, list[dict[str, Any]]] = {}
    for round_number in range(1, options.rounds + 1):
        await run_round(round_number, config, routes, options, records, selected)
    return records


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = BenchOptions(
        concurrencies=parse_concurrencies(args.concurrency),
        seconds=args.seconds,
        warmup_seconds=args.warmup,
        rounds=args.rounds,
        pool_size=args.pool_size,
    )
    selected = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = selected - {"bare", "driver", "service"}
    if unknown:
        raise SystemExit(
            f"--only accepts bare, driver and service, got {', '.join(sorted(unknown))}"
        )
    try:
        config = DatabaseConfig.from_url(args.database_url)
        summary = ensure_archive(config, args.plays)
    except (SeedError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    machine = machine_description(config)
    delete_written_rows(config)
    started = time.monotonic()
    try:
        records = uvloop.run(run_bench(config, summary, options, selected, args.route))
    finally:
        deleted = delete_written_rows(config)
        print(f"deleted the {deleted} plays the write mix stored", flush=True)
    machine["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    machine["bench_minutes"] = round((time.monotonic() - started) / 60, 1)

    medians = {key: median_record(values) for key, values in records.items()}
    route_names = [(route.name, route.bare) for route in build_routes(summary)]
    text = render(medians, route_names, options.concurrencies, machine, summary, options.rounds)
    print("\n" + text)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"bench-{stamp}.md").write_text(text + "\n", encoding="utf-8")
    raw = {
        "machine": machine,
        "archive": {key: value for key, value in summary.items() if key != "track_play_ids"},
        "options": options.__dict__,
        "points": [
            {"kind": kind, "name": name, "concurrency": concurrency, "rounds": values}
            for (kind, name, concurrency), values in records.items()
        ],
    }
    (RESULTS_DIR / f"bench-{stamp}.json").write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))
    print(f"\nwrote {RESULTS_DIR / f'bench-{stamp}.md'} and .json")
    return 0
