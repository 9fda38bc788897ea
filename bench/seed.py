"""Fill a MySQL/MariaDB database with a realistic listening archive: `python -m bench.seed`.

The archive has the shape of a busy bot's year. Guild activity follows a Zipf law, so a few
guilds hold most plays. Each guild's members are drawn by a global Zipf weight of users, and
a session's listeners by a steeper Zipf weight inside the guild, so a few regulars hear most
of their guild's plays. Sessions run back to back with realistic gaps, never overlapping in
one guild while the year has room. About a fifth of the plays are skips that do not count as a
listen, and a few sessions are still open with an unfinished last play.

Rows are written to tab-separated files and sorted by primary key. The ids are random, as the
service's are, and InnoDB inserts in key order far faster. The files are then bulk loaded with
LOAD DATA LOCAL INFILE, or with multi-row INSERTs when the server does not allow it.
The same seed always gives the same rows for the same `now`.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import pymysql

from bench.catalog import Track, build_catalog
from bench.summary import describe_archive, summary_path, write_summary
from service.migrate import apply_migrations
from service.rules import ListenRule
from service.settings import ConfigurationError, DatabaseConfig

DEFAULT_DATABASE_URL = "mysql://root@127.0.0.1:3306/archive_bench"
DEFAULT_PLAYS = 1_000_000
DEFAULT_GUILDS = 2000
DEFAULT_USERS = 50_000
DEFAULT_SEED = 1

DISCORD_EPOCH_MS = 1_420_070_400_000
DAY_MS = 86_400_000
# Times fall in this many days before `now`.
HISTORY_DAYS = 365
# Zipf exponents: guild activity, users' activity across guilds, and regulars inside a guild.
GUILD_ZIPF = 1.0
USER_ZIPF = 0.7
MEMBER_ZIPF = 1.3
TRACK_ZIPF = 0.9
# Share of plays skipped before they count. With too-short clips, about 20% are invalid.
SKIP_PROBABILITY = 0.19
# Chance that a session participant hears a given play of the session (the queuer always does).
PRESENCE_PROBABILITY = 0.85
# Share of guilds whose newest session is still open, with an unfinished last play.
OPEN_SESSION_SHARE = 0.005
# Maximum number of distinct tracks. Smaller archives get one track per five plays.
MAX_CATALOG_TRACKS = 50_000
# Rows per multi-row INSERT when LOAD DATA LOCAL INFILE is not allowed.
INSERT_BATCH_ROWS = 2000

SESSION_COLUMNS = ("id", "guild_id", "started_at", "ended_at")
PLAY_COLUMNS = (
    "id",
    "session_id",
    "guild_id",
    "source",
    "source_id",
    "url",
    "title",
    "artist",
    "started_at",
    "ended_at",
    "duration_ms",
    "played_duration_ms",
    "queued_by_user",
    "is_valid",
)
LISTENER_COLUMNS = ("track_play_id", "user_id", "started_at")
# Load order follows the foreign keys: sessions, then plays, then listeners.
TABLES = (
    ("listening_sessions", SESSION_COLUMNS),
    ("track_plays", PLAY_COLUMNS),
    ("track_play_listeners", LISTENER_COLUMNS),
)

NULL = "\\N"
_SHORT_UUID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})
_TSV_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "0": "\0"}


class SeedError(Exception):
    """Raised when the database cannot be seeded as requested; the message names the fix."""


@dataclass(frozen=True)
class SeedOptions:
    """The size of the archive to generate and its random seed."""

    plays: int = DEFAULT_PLAYS
    guilds: int = DEFAULT_GUILDS
    users: int = DEFAULT_USERS
    seed: int = DEFAULT_SEED

    def validate(self) -> None:
        for name in ("plays", "guilds", "users"):
            value = getattr(self, name)
            if value < 1:
                raise SeedError(f"--{name} must be a positive integer, got {value}")


def zipf_cumulative(count: int, exponent: float) -> list[float]:
    """Return cumulative Zipf weights of ranks 1..count, for `random.choices(cum_weights=...)`."""
    return list(itertools.accumulate(rank**-exponent for rank in range(1, count + 1)))


def short_uuid(rng: random.Random) -> str:
    """Return a 22-character id in the alphabet and length of `shortuuid.uuid()`."""
    number = rng.getrandbits(128)
    digits = []
    for _ in range(22):
        number, digit = divmod(number, 57)
        digits.append(_SHORT_UUID_ALPHABET[digit])
    return "".join(digits)


def snowflakes(rng: random.Random, count: int, first_ms: int, last_ms: int) -> list[int]:
    """Return `count` distinct Discord snowflakes created between the two Unix times in ms."""
    seen: set[int] = set()
    result: list[int] = []
    while len(result) < count:
        created = rng.randint(first_ms, last_ms)
        value = ((created - DISCORD_EPOCH_MS) << 22) | rng.getrandbits(22)
        if value not in seen:
            seen.add(value)
            result.append(value)
    return result


def format_ms(epoch_ms: int) -> str:
    """Format Unix milliseconds as the DATETIME(3) text MySQL reads, in UTC."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{epoch_ms % 1000:03d}"


def escape_tsv(value: str) -> str:
    return value.translate(_TSV_ESCAPES)


def unescape_tsv(field: str) -> str | None:
    """Read one field of a LOAD DATA file back: `\\N` is NULL, backslash escapes are undone."""
    if field == NULL:
        return None
    if "\\" not in field:
        return field
    out = []
    characters = iter(field)
    for character in characters:
        out.append(_TSV_UNESCAPES.get(next(characters, ""), "") if character == "\\" else character)
    return "".join(out)


def _weighted_distinct(
    rng: random.Random, population: Sequence[int], cum_weights: list[float], count: int
) -> list[int]:
    """Draw `count` distinct members, heavier ones more likely, in descending order of weight."""
    count = min(count, len(population))
    if count == len(population):
        return list(range(count))
    chosen: set[int] = set()
    for _ in range(50):
        for index in rng.choices(range(len(population)), cum_weights=cum_weights, k=2 * count):
            chosen.add(index)
            if len(chosen) == count:
                return sorted(chosen)
    # Past 50 rounds only the light tail is missing: take it uniformly.
    rest = [index for index in range(len(population)) if index not in chosen]
    chosen.update(rng.sample(rest, count - len(chosen)))
    return sorted(chosen)


class TsvWriter:
    """Writes the three tables as tab-separated files in LOAD DATA's default escaping."""

    def __init__(self, directory: Path, catalog: list[Track]) -> None:
        self.directory = directory
        self.paths = {table: directory / f"{table}.tsv" for table, _ in TABLES}
        self._files: dict[str, TextIO] = {
            table: path.open("w", encoding="utf-8", newline="\n")
            for table, path in self.paths.items()
        }
        self._sessions = self._files["listening_sessions"]
        self._plays = self._files["track_plays"]
        self._listeners = self._files["track_play_listeners"]
        # The text columns of a play come from its catalog track, so escape them once per track.
        self._track_fields = [
            "\t".join(
                escape_tsv(value)
                for value in (track.source, track.source_id, track.url, track.title, track.artist)
            )
            for track in catalog
        ]
        self.durations = [track.duration_ms for track in catalog]
        self.counts = dict.fromkeys(self.paths, 0)

    def session(self, session_id: str, guild_id: int, started: str, ended: str | None) -> None:
        self._sessions.write(f"{session_id}\t{guild_id}\t{started}\t{ended or NULL}\n")
        self.counts["listening_sessions"] += 1

    def play(
        self,
        play_id: str,
        session_id: str,
        guild_id: int,
        track_index: int,
        times: tuple[str, str | None],
        duration_ms: int,
        played_ms: int,
        queued_by: int,
        is_valid: bool,
    ) -> None:
        started, ended = times
        self._plays.write(
            f"{play_id}\t{session_id}\t{guild_id}\t{self._track_fields[track_index]}\t"
            f"{started}\t{ended or NULL}\t{duration_ms}\t{played_ms}\t{queued_by}\t"
            f"{int(is_valid)}\n"
        )
        self.counts["track_plays"] += 1

    def listener(self, play_id: str, user_id: int, started: str) -> None:
        self._listeners.write(f"{play_id}\t{user_id}\t{started}\n")
        self.counts["track_play_listeners"] += 1

    def close(self) -> None:
        for file in self._files.values():
            file.close()


@dataclass
class _Play:
    offset_ms: int
    elapsed_ms: int
    track_index: int
    played_ms: int
    is_valid: bool
    queued_by: int
    listeners: list[int]


def generate_archive(options: SeedOptions, now_ms: int, writer: TsvWriter) -> None:
    """Generate every session, play and listener of the archive into `writer`."""
    rng = random.Random(options.seed)
    rule = ListenRule()
    catalog_size = len(writer.durations)
    track_cum = zipf_cumulative(catalog_size, TRACK_ZIPF)
    catalog_range = range(catalog_size)

    first_ms = now_ms - 9 * 365 * DAY_MS
    guild_ids = snowflakes(rng, options.guilds, first_ms, now_ms - HISTORY_DAYS * DAY_MS)
    user_ids = snowflakes(rng, options.users, first_ms, now_ms - DAY_MS)
    rng.shuffle(guild_ids)
    rng.shuffle(user_ids)

    # Index i of guild_ids and user_ids has Zipf rank i + 1: the first guild is the busiest.
    guild_of_play = rng.choices(
        range(options.guilds),
        cum_weights=zipf_cumulative(options.guilds, GUILD_ZIPF),
        k=options.plays,
    )
    plays_per_guild = [0] * options.guilds
    for guild_index in guild_of_play:
        plays_per_guild[guild_index] += 1
    del guild_of_play

    user_cum = zipf_cumulative(options.users, USER_ZIPF)
    member_cums: dict[int, list[float]] = {}

    for guild_index, play_count in enumerate(plays_per_guild):
        if play_count == 0:
            continue
        guild_id = guild_ids[guild_index]
        member_count = 2 + math.ceil(4 * math.sqrt(play_count))
        members = [user_ids[i] for i in _weighted_distinct(rng, user_ids, user_cum, member_count)]
        # Who the regulars are differs from guild to guild.
        rng.shuffle(members)
        if len(members) not in member_cums:
            member_cums[len(members)] = zipf_cumulative(len(members), MEMBER_ZIPF)
        member_cum = member_cums[len(members)]
        taste_offset = rng.randrange(catalog_size)

        sessions = []
        remaining = play_count
        while remaining:
            length = max(1, min(remaining, int(rng.lognormvariate(2.1, 1.0))))
            remaining -= length
            participant_count = min(len(members), 1 + int(rng.expovariate(1 / 2.8)))
            participants = [
                members[i] for i in _weighted_distinct(rng, members, member_cum, participant_count)
            ]
            plays = []
            offset = rng.randint(1_000, 60_000)
            for _ in range(length):
                track_index = rng.choices(catalog_range, cum_weights=track_cum)[0]
                if rng.random() < 0.5:
                    track_index = (track_index + taste_offset) % catalog_size
                duration = writer.durations[track_index]
                played = _played_ms(rng, duration)
                queued_by = rng.choice(participants)
                listeners = [
                    user
                    for user in participants
                    if user == queued_by or rng.random() < PRESENCE_PROBABILITY
                ]
                plays.append(
                    _Play(
                        offset_ms=offset,
                        elapsed_ms=played,
                        track_index=track_index,
                        played_ms=rule.stored_played_ms(duration, played),
                        is_valid=rule.is_valid_listen(duration, played),
                        queued_by=queued_by,
                        listeners=listeners,
                    )
                )
                offset += played + rng.randint(300, 3_000)
            sessions.append((plays, offset + rng.randint(1_000, 300_000)))

        is_open = guild_index == 0 or rng.random() < OPEN_SESSION_SHARE
        _lay_out_guild(rng, writer, guild_id, sessions, now_ms, is_open)


def _played_ms(rng: random.Random, duration_ms: int) -> int:
    """Return how long a play ran: a skip, a partial listen or the whole track."""
    # Streams and very long mixes are left after a while.
    cap = min(duration_ms, rng.randint(10 * 60_000, 3 * 3600_000))
    if rng.random() < SKIP_PROBABILITY:
        return rng.randint(0, min(cap, 25_000))
    if rng.random() < 0.15:
        return rng.randint(min(cap, 30_000), cap)
    return cap


def _lay_out_guild(
    rng: random.Random,
    writer: TsvWriter,
    guild_id: int,
    sessions: list[tuple[list[_Play], int]],
    now_ms: int,
    is_open: bool,
) -> None:
    """Give the guild's sessions start times over its active days, then write their rows."""
    busy_ms = sum(length for _, length in sessions)
    active_days = HISTORY_DAYS if busy_ms > 30 * DAY_MS else rng.uniform(20, HISTORY_DAYS)
    window_ms = int(active_days * DAY_MS)
    window_start = now_ms - window_ms
    free_ms = window_ms - busy_ms

    if free_ms > 0:
        # Exponential gaps scaled to the free time: sessions never overlap and all end by now.
        gaps = [rng.expovariate(1.0) for _ in range(len(sessions) + 1)]
        scale = free_ms / sum(gaps)
        starts = []
        cursor = window_start
        for gap, (_, length) in zip(gaps, sessions, strict=False):
            cursor += int(gap * scale)
            starts.append(cursor)
            cursor += length
    else:
        # More music than the window holds: sessions overlap, each still ends by now.
        starts = sorted(rng.randint(window_start, now_ms - length) for _, length in sessions)

    last = len(sessions) - 1
    for number, ((plays, length), start) in enumerate(zip(sessions, starts, strict=True)):
        open_session = is_open and number == last
        session_id = short_uuid(rng)
        ended = None if open_session else format_ms(start + length)
        writer.session(session_id, guild_id, format_ms(start), ended)
        for play_number, play in enumerate(plays):
            play_id = short_uuid(rng)
            started = format_ms(start + play.offset_ms)
            times: tuple[str, str | None]
            if open_session and play_number == len(plays) - 1:
                times = (started, None)
                played_ms, is_valid = 0, True
            else:
                times = (started, format_ms(start + play.offset_ms + play.elapsed_ms))
                played_ms, is_valid = play.played_ms, play.is_valid
            writer.play(
                play_id,
                session_id,
                guild_id,
                play.track_index,
                times,
                writer.durations[play.track_index],
                played_ms,
                play.queued_by,
                is_valid,
            )
            for user_id in play.listeners:
                writer.listener(play_id, user_id, started)


def sort_file(path: Path) -> None:
    """Sort a table file by its leading primary key, in byte order like the ascii_bin ids."""
    environment = {**os.environ, "LC_ALL": "C"}
    subprocess.run(
        [
            "sort",
            "--buffer-size=256M",
            f"--temporary-directory={path.parent}",
            "-o",
            str(path),
            str(path),
        ],
        check=True,
        env=environment,
    )


def read_tsv_rows(path: Path) -> Iterator[tuple[str | None, ...]]:
    with path.open(encoding="utf-8", newline="\n") as file:
        for line in file:
            yield tuple(unescape_tsv(field) for field in line.rstrip("\n").split("\t"))


def mysql_connect(
    config: DatabaseConfig, database: str | None, local_infile: bool = False
) -> pymysql.Connection:
    return pymysql.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.password,
        database=database,
        charset="utf8mb4",
        autocommit=True,
        local_infile=local_infile,
        connect_timeout=10,
    )


def load_table(
    connection: pymysql.Connection, table: str, columns: Sequence[str], path: Path, method: str
) -> None:
    """Load one sorted table file with LOAD DATA LOCAL INFILE or with multi-row INSERTs."""
    column_list = ", ".join(columns)
    with connection.cursor() as cursor:
        if method == "load-data":
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                f"({column_list})",
                (str(path),),
            )
            return
        statement = (
            f"INSERT INTO {table} ({column_list}) VALUES ({', '.join(['%s'] * len(columns))})"
        )
        rows = read_tsv_rows(path)
        while batch := list(itertools.islice(rows, INSERT_BATCH_ROWS)):
            # PyMySQL turns executemany of an INSERT ... VALUES into multi-row statements.
            cursor.executemany(statement, batch)


def choose_method(connection: pymysql.Connection, requested: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@local_infile")
        (allowed,) = cursor.fetchone()
    if requested == "auto":
        return "load-data" if allowed else "insert"
    if requested == "load-data" and not allowed:
        raise SeedError(
            "the server does not allow LOAD DATA LOCAL INFILE (local_infile is OFF); "
            "use --method insert"
        )
    return requested


def ensure_database(config: DatabaseConfig) -> None:
    connection = mysql_connect(config, None)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS `{config.database}` CHARACTER SET utf8mb4"
            )
    finally:
        connection.close()


def count_rows(connection: pymysql.Connection, table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        (count,) = cursor.fetchone()
    return int(count)


def seed_database(
    config: DatabaseConfig,
    options: SeedOptions,
    method: str = "auto",
    now: datetime | None = None,
    log: TextIO = sys.stderr,
) -> dict[str, object]:
    """Create and migrate the database if needed, fill it, and return its summary."""
    options.validate()
    if config.backend != "mysql" or not config.database:
        raise SeedError(f"bench.seed fills a MySQL/MariaDB database, got {config.describe()}")
    ensure_database(config)
    apply_migrations(config)

    connection = mysql_connect(config, config.database, local_infile=True)
    try:
        existing = count_rows(connection, "listening_sessions")
        if existing:
            raise SeedError(
                f"{config.describe()} already contains {existing} listening sessions; "
                "seed an empty database, or drop this one first"
            )
        method = choose_method(connection, method)
        now_ms = int((now or datetime.now(UTC)).timestamp()) * 1000

        started = time.perf_counter()
        catalog_size = max(100, min(MAX_CATALOG_TRACKS, options.plays // 5))
        catalog = build_catalog(
            random.Random(f"catalog-{options.seed}"), catalog_size, max(10, catalog_size // 10)
        )
        with tempfile.TemporaryDirectory(prefix="archive-seed-") as directory:
            writer = TsvWriter(Path(directory), catalog)
            try:
                generate_archive(options, now_ms, writer)
            finally:
                writer.close()
            print(
                f"generated {writer.counts['track_plays']} plays, "
                f"{writer.counts['listening_sessions']} sessions and "
                f"{writer.counts['track_play_listeners']} listeners "
                f"in {time.perf_counter() - started:.1f} s",
                file=log,
            )

            with connection.cursor() as cursor:
                # The rows are consistent by construction, so InnoDB may bulk load unchecked.
                cursor.execute("SET foreign_key_checks = 0, unique_checks = 0")
            for table, columns in TABLES:
                step = time.perf_counter()
                sort_file(writer.paths[table])
                load_table(connection, table, columns, writer.paths[table], method)
                print(
                    f"loaded {table} with {method} in {time.perf_counter() - step:.1f} s", file=log
                )
            with connection.cursor() as cursor:
                cursor.execute("SET foreign_key_checks = 1, unique_checks = 1")
                cursor.execute(f"ANALYZE TABLE {', '.join(table for table, _ in TABLES)}")
                cursor.fetchall()
        print(f"seeded {config.describe()} in {time.perf_counter() - started:.1f} s", file=log)

        summary = describe_archive(connection, config.database)
    finally:
        connection.close()
    summary["seed"] = {
        "plays": options.plays,
        "guilds": options.guilds,
        "users": options.users,
        "seed": options.seed,
        "method": method,
    }
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.seed",
        description="Create, migrate and fill a MySQL/MariaDB database with a realistic archive, "
        "then write the ids of its heaviest and typical guild and user to a JSON summary.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        help="mysql://user:password@host:port/database "
        f"(default: DATABASE_URL, or {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument("--plays", type=int, default=DEFAULT_PLAYS, help="number of track plays")
    parser.add_argument("--guilds", type=int, default=DEFAULT_GUILDS, help="number of guilds")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="number of users")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--method",
        choices=("auto", "load-data", "insert"),
        default="auto",
        help="bulk load with LOAD DATA LOCAL INFILE or with multi-row INSERTs "
        "(default: LOAD DATA when the server allows it)",
    )
    parser.add_argument(
        "--summary",
        type=Path,
        help="where to write the JSON summary (default: bench/results/<database>.json)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = DatabaseConfig.from_url(args.database_url)
        options = SeedOptions(
            plays=args.plays, guilds=args.guilds, users=args.users, seed=args.seed
        )
        summary = seed_database(config, options, args.method)
    except (SeedError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = args.summary or summary_path(config.database or "archive")
    write_summary(path, summary)
    for kind in ("heaviest_guild", "typical_guild", "heaviest_user", "typical_user"):
        item = summary[kind]
        print(f"{kind.replace('_', ' ')}: {item['id']} ({item['plays']} plays)")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
