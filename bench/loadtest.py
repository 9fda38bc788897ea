"""Load test: a fleet of simulated guilds drives the service on MySQL, then the database is audited.

Each guild follows the bot's call pattern. It starts a session, starts a track with its
listeners and ends it with a played duration after a short think time. Now and then it reads
recents and recommended artists, and after a few tracks it ends the session. The service runs
as `python -m service serve` with several uvicorn workers on a fresh database that this script
creates and drops.

After the run, every acknowledged write (201, 200 or 204) must be in the database with the values
of its response, and every stored play must have all the listeners that its request listed.

    python -m bench.loadtest --duration 60 --guilds 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pymysql

DEFAULT_DURATION_SECONDS = 60.0
DEFAULT_GUILDS = 200
DEFAULT_WORKERS = 2
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/"
# Seconds a guild waits between starting a track and ending it: the bot's "track plays" step,
# shortened from minutes so that each guild sends several requests per second.
THINK_SECONDS = (0.02, 0.2)
TRACKS_PER_SESSION = (3, 8)
LISTENERS_PER_TRACK = (1, 6)
MEMBERS_PER_GUILD = 20
# Chance that a track end is followed by each read, as a bot's /recents and autoplay would.
READ_CHANCES = {
    "guild_recents": 0.15,
    "user_recents": 0.10,
    "guild_artists": 0.05,
    "user_artists": 0.05,
}
GUILD_ID_BASE = 700_000_000_000_000_000
USER_ID_BASE = 800_000_000_000_000_000
# Seconds to wait for the service to start serving, and to exit after SIGTERM.
STARTUP_TIMEOUT_SECONDS = 60
SHUTDOWN_TIMEOUT_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 30


@dataclass
class PlannedPlay:
    """A track start that was sent, acknowledged or not, with what its end asked for."""

    source_id: str
    session_id: str
    guild_id: int
    listener_ids: list[int]
    duration_ms: int
    played_ms: int
    track_play_id: str | None = None
    end_status: int | None = None
    end_body: dict[str, object] | None = None


@dataclass
class AckedSession:
    guild_id: int
    end_status: int | None = None
    end_body: dict[str, object] | None = None


@dataclass
class Fleet:
    """The shared state of the simulated guilds: the samples and the writes sent."""

    deadline: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    sessions: dict[str, AckedSession] = field(default_factory=dict)
    plays: dict[str, PlannedPlay] = field(default_factory=dict)
    first_request: float = 0.0
    last_response: float = 0.0

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline


@dataclass
class GuildClient:
    """One guild's keep-alive connection, which records every request in the fleet."""

    fleet: Fleet
    client: httpx.AsyncClient

    async def call(
        self, route: str, method: str, url: str, body: dict[str, object] | None = None
    ) -> httpx.Response | None:
        """Send one request; return None when it got no HTTP response at all."""
        fleet = self.fleet
        started = time.monotonic()
        if not fleet.first_request:
            fleet.first_request = started
        try:
            response = await self.client.request(method, url, json=body)
        except httpx.HTTPError:
            fleet.statuses[(route, 0)] += 1
            return None
        finished = time.monotonic()
        fleet.last_response = max(fleet.last_response, finished)
        fleet.latencies[route].append(finished - started)
        fleet.statuses[(route, response.status_code)] += 1
        return response


async def run_guild(
    fleet: Fleet, index: int, seed: int, service_url: str, api_key: str, tls: ssl.SSLContext
) -> None:
    """Play sessions of tracks for one guild until the deadline, then end the open session."""
    # One client per guild: httpx's pool does work per request that grows with its number of
    # connections, so a single pool for the whole fleet would slow the client down.
    async with httpx.AsyncClient(
        base_url=service_url,
        headers={"X-API-Key": api_key},
        limits=httpx.Limits(max_connections=1),
        timeout=REQUEST_TIMEOUT_SECONDS,
        # httpx builds a TLS context per client unless given one, even for plain HTTP.
        verify=tls,
    ) as client:
        await play_sessions(GuildClient(fleet, client), index, seed)


async def play_sessions(guild: GuildClient, index: int, seed: int) -> None:
    fleet = guild.fleet
    rng = random.Random(seed * 100_003 + index)
    guild_id = GUILD_ID_BASE + index
    members = [USER_ID_BASE + index * 1000 + number for number in range(MEMBERS_PER_GUILD)]
    session_number = 0

    while not fleet.expired():
        session_number += 1
        response = await guild.call(
            "POST /sessions", "POST", "/api/v1/sessions", {"guildId": guild_id}
        )
        if response is None or response.status_code != 201:
            await asyncio.sleep(rng.uniform(*THINK_SECONDS))
            continue
        session_id = response.json()["ID"]
        session = AckedSession(guild_id)
        fleet.sessions[session_id] = session

        for track_number in range(rng.randint(*TRACKS_PER_SESSION)):
            if fleet.expired():
                break
            await play_track(
                guild, rng, session_id, guild_id, members, session_number, track_number
            )

        response = await guild.call(
            "PATCH /sessions/{id}", "PATCH", f"/api/v1/sessions/{session_id}", {}
        )
        if response is not None and response.status_code in (200, 204):
            session.end_status = response.status_code
            session.end_body = response.json() if response.status_code == 200 else None


async def play_track(
    guild: GuildClient,
    rng: random.Random,
    session_id: str,
    guild_id: int,
    members: list[int],
    session_number: int,
    track_number: int,
) -> None:
    duration_ms = rng.randint(60_000, 420_000)
    play = PlannedPlay(
        source_id=f"{guild_id}-{session_number}-{track_number}",
        session_id=session_id,
        guild_id=guild_id,
        listener_ids=rng.sample(members, rng.randint(*LISTENERS_PER_TRACK)),
        duration_ms=duration_ms,
        # About a third of the plays are skipped early and do not count as listens.
        played_ms=rng.randint(0, 20_000)
        if rng.random() < 0.33
        else rng.randint(60_000, duration_ms),
    )
    guild.fleet.plays[play.source_id] = play
    response = await guild.call(
        "POST /sessions/{id}/tracks",
        "POST",
        f"/api/v1/sessions/{session_id}/tracks",
        {
            "source": "youtube",
            "sourceId": play.source_id,
            "url": f"https://www.youtube.com/watch?v={play.source_id}",
            "title": f"Track {track_number} of session {session_number}",
            "artist": f"Artist {rng.randint(1, 40)}",
            "durationMs": duration_ms,
            "queuedByUser": play.listener_ids[0],
            "listenerIds": play.listener_ids,
        },
    )
    if response is None or response.status_code != 201:
        return
    play.track_play_id = response.json()["ID"]

    await asyncio.sleep(rng.uniform(*THINK_SECONDS))
    response = await guild.call(
        "PATCH /tracks/{id}",
        "PATCH",
        f"/api/v1/tracks/{play.track_play_id}",
        {"playedDurationMs": play.played_ms},
    )
    if response is not None and response.status_code in (200, 204):
        play.end_status = response.status_code
        play.end_body = response.json() if response.status_code == 200 else None

    user_id = rng.choice(play.listener_ids)
    reads = {
        "guild_recents": (
            "GET /guilds/{id}/tracks/recent",
            f"/api/v1/guilds/{guild_id}/tracks/recent",
        ),
        "user_recents": ("GET /users/{id}/tracks/recent", f"/api/v1/users/{user_id}/tracks/recent"),
        "guild_artists": (
            "GET /guilds/{id}/artists/recommended",
            f"/api/v1/guilds/{guild_id}/artists/recommended",
        ),
        "user_artists": (
            "GET /users/{id}/artists/recommended",
            f"/api/v1/users/{user_id}/artists/recommended",
        ),
    }
    for name, (route, url) in reads.items():
        if rng.random() < READ_CHANCES[name]:
            await guild.call(route, "GET", url)


# The service and its database


@dataclass(frozen=True)
class MySQLServer:
    host: str
    port: int
    user: str
    password: str

    @classmethod
    def from_url(cls, url: str) -> MySQLServer:
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
        )

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=5,
        )

    def url(self, database: str) -> str:
        credentials = quote(self.user, safe="")
        if self.password:
            credentials += ":" + quote(self.password, safe="")
        return f"mysql://{credentials}@{self.host}:{self.port}/{database}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """`python -m service serve` with several workers on 127.0.0.1, logging to a file."""

    def __init__(self, database_url: str, workers: int, api_key: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "API_KEY": api_key,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        }
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "service",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(workers),
                ],
                cwd=log_path.parent,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited during startup; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/api/v1/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the service did not become ready; see {self.log_path}")

    def stop(self) -> int | None:
        """Send SIGTERM and return the exit status, or None when it had to be killed."""
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


# The database audit


@dataclass
class Audit:
    lost: list[str] = field(default_factory=list)
    half_written: list[str] = field(default_factory=list)
    unacknowledged_applied: int = 0
    stored_plays: int = 0
    stored_listeners: int = 0


def parse_time(value: object) -> datetime | None:
    if value is None:
        return None
    assert isinstance(value, str)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def audit_database(fleet: Fleet, server: MySQLServer, database: str) -> Audit:
    """Compare the stored rows with every write the fleet sent and every response it got."""
    audit = Audit()
    connection = server.connect(database)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, guild_id, ended_at FROM listening_sessions")
        sessions = {row[0]: row for row in cursor.fetchall()}
        cursor.execute(
            "SELECT id, session_id, guild_id, source_id, duration_ms, played_duration_ms, "
            "is_valid, ended_at, queued_by_user FROM track_plays"
        )
        plays = {row[3]: row for row in cursor.fetchall()}
        cursor.execute("SELECT track_play_id, user_id FROM track_play_listeners")
        listeners: dict[str, set[int]] = defaultdict(set)
        for track_play_id, user_id in cursor.fetchall():
            listeners[track_play_id].add(user_id)
    connection.close()
    audit.stored_plays = len(plays)
    audit.stored_listeners = sum(len(users) for users in listeners.values())

    for session_id, session in fleet.sessions.items():
        stored = sessions.get(session_id)
        if session.end_status == 204:
            if stored is not None:
                audit.lost.append(f"session {session_id}: ended with 204 but still stored")
            continue
        if stored is None or stored[1] != session.guild_id:
            audit.lost.append(f"session {session_id}: acknowledged with 201 but not stored")
            continue
        if session.end_status == 200:
            assert session.end_body is not None
            if stored[2] != parse_time(session.end_body["EndedAt"]):
                audit.lost.append(f"session {session_id}: stored end {stored[2]} differs")

    for source_id, play in fleet.plays.items():
        stored = plays.get(source_id)
        if play.track_play_id is None:
            if stored is not None:
                audit.unacknowledged_applied += 1
            continue
        if stored is None or stored[0] != play.track_play_id or stored[1] != play.session_id:
            audit.lost.append(f"play {play.track_play_id}: acknowledged with 201 but not stored")
            continue
        if stored[2] != play.guild_id or stored[4] != play.duration_ms:
            audit.lost.append(f"play {play.track_play_id}: stored values differ from the request")
        if play.end_status == 200:
            assert play.end_body is not None
            matches = (
                stored[5] == play.end_body["PlayedDurationMs"]
                and stored[6] == 1
                and stored[7] == parse_time(play.end_body["EndedAt"])
            )
            if not matches:
                audit.lost.append(f"play {play.track_play_id}: stored end differs from its 200")
        elif play.end_status == 204 and (stored[6] != 0 or stored[7] is None):
            audit.lost.append(f"play {play.track_play_id}: stored end differs from its 204")

    # Every stored play, acknowledged or not, must carry all the listeners its request listed.
    for source_id, stored in plays.items():
        sent = fleet.plays.get(source_id)
        if sent is None:
            audit.half_written.append(f"play {stored[0]}: stored but never sent")
        elif listeners.get(stored[0], set()) != set(sent.listener_ids):
            audit.half_written.append(f"play {stored[0]}: listeners differ from its request")
    return audit


# The report


def service_durations(log_path: Path) -> dict[str, list[float]]:
    """Read the seconds each request spent inside the service from its JSON access log lines."""
    durations: dict[str, list[float]] = defaultdict(list)
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("logger") == "service.access" and "duration_ms" in entry:
            route = f"{entry['method']} {entry['route'].removeprefix('/api/v1')}"
            durations[route].append(entry["duration_ms"] / 1000)
    return durations


def route_label(route: str) -> str:
    """Turn a route template such as `PATCH /tracks/{trackPlayId}` into the fleet's label."""
    return re.sub(r"\{[^}]+\}", "{id}", route)


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def machine_description(server: MySQLServer) -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    connection = server.connect()
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        (version,) = cursor.fetchone()
    connection.close()
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, MySQL server {version} on {server.host}:{server.port}"
    )


@dataclass
class RunContext:
    """The conditions behind the figures: the machine, how busy it was and the client's share."""

    machine: str
    load_average_before: float
    client_cpu_seconds: float
    service_seconds: dict[str, list[float]]


def print_report(
    fleet: Fleet, audit: Audit, arguments: argparse.Namespace, context: RunContext
) -> None:
    elapsed = fleet.last_response - fleet.first_request
    total = sum(fleet.statuses.values())
    answered = sum(len(values) for values in fleet.latencies.values())
    server_errors = sum(count for (_, status), count in fleet.statuses.items() if status >= 500)
    no_response = sum(count for (_, status), count in fleet.statuses.items() if status == 0)

    print(f"machine: {context.machine}")
    print(
        f"load average (1 min) before the run: {context.load_average_before:.2f}; "
        f"the load client used {context.client_cpu_seconds:.1f} s of CPU"
    )
    print(
        f"fleet: {arguments.guilds} guilds for {arguments.duration:g} s against "
        f"{arguments.workers} uvicorn workers; think time {THINK_SECONDS[0] * 1000:g}-"
        f"{THINK_SECONDS[1] * 1000:g} ms"
    )
    print(
        f"sustained: {answered / elapsed:.0f} requests/s ({total} requests in {elapsed:.1f} s); "
        f"5xx: {server_errors}; no response: {no_response}"
    )
    print()
    print("latency in ms, as the client saw it and (service) as the service logged it:")
    print(
        f"{'route':<38} {'count':>6} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7} "
        f"{'(p50)':>7} {'(p99)':>7}  statuses"
    )
    for route in sorted(fleet.latencies):
        values = sorted(fleet.latencies[route])
        inside = sorted(context.service_seconds.get(route, [])) or [float("nan")]
        statuses = ", ".join(
            f"{status}: {count}"
            for (name, status), count in sorted(fleet.statuses.items())
            if name == route
        )
        print(
            f"{route:<38} {len(values):>6} {percentile(values, 0.5) * 1000:>7.1f} "
            f"{percentile(values, 0.9) * 1000:>7.1f} {percentile(values, 0.99) * 1000:>7.1f} "
            f"{values[-1] * 1000:>7.1f} {percentile(inside, 0.5) * 1000:>7.1f} "
            f"{percentile(inside, 0.99) * 1000:>7.1f}  {statuses}"
        )
    print()
    acknowledged_plays = [play for play in fleet.plays.values() if play.track_play_id]
    print(
        f"acknowledged writes: {len(fleet.sessions)} session starts, "
        f"{sum(1 for session in fleet.sessions.values() if session.end_status)} session ends, "
        f"{len(acknowledged_plays)} track starts with "
        f"{sum(len(play.listener_ids) for play in acknowledged_plays)} listeners, "
        f"{sum(1 for play in acknowledged_plays if play.end_status)} track ends"
    )
    print(
        f"stored: {audit.stored_plays} track plays, {audit.stored_listeners} listeners; "
        f"unacknowledged track starts found stored, complete: {audit.unacknowledged_applied}"
    )
    for problem in (audit.lost + audit.half_written)[:20]:
        print(f"  {problem}")
    print(f"database check: {len(audit.lost)} lost, {len(audit.half_written)} half-written")


# Entry point


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadtest",
        description="Drive the service with a simulated fleet of guilds on a fresh MySQL "
        "database, then check that no acknowledged write was lost.",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get("LOADTEST_SECONDS", DEFAULT_DURATION_SECONDS)),
        help="seconds the guilds keep starting tracks (default: LOADTEST_SECONDS, or 60)",
    )
    parser.add_argument(
        "--guilds",
        type=int,
        default=DEFAULT_GUILDS,
        help="number of simulated guilds (default: 200)",
    )
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="uvicorn workers (default: 2)"
    )
    parser.add_argument(
        "--mysql-url",
        default=os.environ.get("LOADTEST_MYSQL_URL")
        or os.environ.get("TEST_MYSQL_URL", DEFAULT_MYSQL_URL),
        help="MySQL server to create the database on (default: LOADTEST_MYSQL_URL, "
        f"TEST_MYSQL_URL, or {DEFAULT_MYSQL_URL})",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the guilds' random choices")
    arguments = parser.parse_args(argv)
    if arguments.duration <= 0 or arguments.guilds <= 0 or arguments.workers <= 0:
        parser.error("--duration, --guilds and --workers must be positive")
    return arguments


async def run_fleet(service_url: str, api_key: str, arguments: argparse.Namespace) -> Fleet:
    fleet = Fleet(deadline=time.monotonic() + arguments.duration)
    tls = ssl.create_default_context()
    await asyncio.gather(
        *(
            run_guild(fleet, index, arguments.seed, service_url, api_key, tls)
            for index in range(arguments.guilds)
        )
    )
    return fleet


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    server = MySQLServer.from_url(arguments.mysql_url)
    database = f"archive_load_{uuid.uuid4().hex[:12]}"
    api_key = secrets.token_urlsafe(32)
    workdir = Path(tempfile.mkdtemp(prefix="archive-loadtest-"))

    try:
        machine = machine_description(server)
    except pymysql.err.MySQLError as exc:
        print(f"error: cannot reach MySQL at {server.host}:{server.port}: {exc}", file=sys.stderr)
        return 2
    connection = server.connect()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    connection.close()
    print(f"created database {database}; service log in {workdir / 'service.log'}", flush=True)

    service = Service(server.url(database), arguments.workers, api_key, workdir / "service.log")
    try:
        service.wait_until_ready()
        load_average_before = os.getloadavg()[0]
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        fleet = asyncio.run(run_fleet(service.url, api_key, arguments))
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        exit_status = service.stop()
        audit = audit_database(fleet, server, database)
    finally:
        service.stop()
        connection = server.connect()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        connection.close()

    context = RunContext(
        machine=machine,
        load_average_before=load_average_before,
        client_cpu_seconds=(cpu_after.ru_utime - cpu_before.ru_utime)
        + (cpu_after.ru_stime - cpu_before.ru_stime),
        service_seconds={
            route_label(route): values
            for route, values in service_durations(service.log_path).items()
        },
    )
    print_report(fleet, audit, arguments, context)
    shutil.rmtree(workdir, ignore_errors=True)
    # uvicorn ends by raising the SIGTERM it caught again, once its shutdown is complete.
    if exit_status not in (0, -signal.SIGTERM):
        print(f"failed: the service did not shut down cleanly (exit status {exit_status})")
        return 1
    # The bot does not retry, so a 5xx or a request without a response loses that write too.
    failed_requests = sum(
        count for (_, status), count in fleet.statuses.items() if status == 0 or status >= 500
    )
    if audit.lost or audit.half_written or failed_requests:
        print(f"failed: {failed_requests} requests got a 5xx or no response")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
