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
import statistics
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

from bench.client import Connection, PointResult, Step, run_point
from bench.report import render
from bench.routes import RouteSpec, build_routes, delete_written_rows, driver_step, get_step
from bench.seed import DEFAULT_DATABASE_URL, DEFAULT_PLAYS, SeedError, SeedOptions, seed_database
from bench.servers import API_KEY, HOST, ServerProcess, start_bare_server, start_service
from bench.summary import RESULTS_DIR, describe_archive, read_summary, summary_path, write_summary
from service.db import MYSQL_CONVERSIONS
from service.queries import Queries
from service.resources import SQL_DIR
from service.settings import ConfigurationError, DatabaseConfig

# Seconds a point may overrun its window before its workers are cancelled.
POINT_GRACE_SECONDS = 15.0


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
    # 20 connections gave the shortest tails at 16 to 64 clients (docs/benchmarks.md), while the
    # service's default of 10 lets waiting requests starve in aiomysql's pool.
    pool_size: int = 20


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
                        get_step(lambda worker, variant=variant: f"/{variant}"),
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
            # The service's own conversions, so the ceiling parses rows as the service does.
            conv=MYSQL_CONVERSIONS,
        )
        try:
            for route in routes:
                if route.query is None or route.params is None:
                    continue
                for concurrency in options.concurrencies:
                    step = driver_step(pool, queries, route.query, route.params)
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
            await service.wait_ready("/api/v1/health")
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
    """Seed the benchmark database unless it already contains an archive; return its summary."""
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
        f"(default: {BenchOptions.pool_size})",
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
