"""Adoption of a database that the Go service created: the conversion, its reruns and its plan.

The legacy schema below is the one the Go service's GORM AutoMigrate created on MySQL. Rows are
written through connections whose time zone is an offset other than UTC, as a Go container in
another zone would have written them, so every TIMESTAMP stores an instant that must survive.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient
from yoyo import get_backend, read_migrations

from service import adopt
from service.adopt import (
    ADOPTION_STEPS,
    AdoptionError,
    adopt_go_schema,
    plan_adoption,
    run_step,
)
from service.app import create_app
from service.cli import main
from service.migrate import apply_migrations
from service.migration_plan import migration_plan_lines
from service.models import track_play_to_wire
from service.resources import MIGRATIONS_DIR
from service.rules import recommend_artists
from service.settings import DatabaseConfig
from service.timestamps import format_rfc3339
from tests.conftest import (
    MYSQL_SERVER,
    MYSQL_UNREACHABLE,
    TEST_API_KEY,
    create_mysql_database,
    drop_mysql_database,
    make_settings,
    mysql_connect,
)

requires_mysql = pytest.mark.skipif(MYSQL_SERVER is None, reason=MYSQL_UNREACHABLE or "no MySQL")

ARCHIVE_TABLES = ("listening_sessions", "track_plays", "track_play_listeners")

# The Go service's tables as GORM AutoMigrate created them on MySQL.
GO_SCHEMA = [
    """
    CREATE TABLE listening_sessions (
        id varchar(36) NOT NULL,
        guild_id bigint NOT NULL,
        started_at timestamp NOT NULL,
        ended_at timestamp NULL,
        PRIMARY KEY (id),
        KEY idx_listening_sessions_guild (guild_id),
        KEY idx_listening_sessions_started_at (started_at DESC)
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4
    """,
    """
    CREATE TABLE track_plays (
        id varchar(36) NOT NULL,
        session_id varchar(36) NOT NULL,
        guild_id bigint NOT NULL,
        source varchar(255) NOT NULL,
        source_id varchar(255) NOT NULL,
        url varchar(1000) NOT NULL,
        title varchar(500) NOT NULL,
        artist varchar(500) NOT NULL,
        started_at timestamp NOT NULL,
        ended_at timestamp NULL,
        duration_ms int,
        played_duration_ms int NOT NULL DEFAULT 0,
        queued_by_user bigint NOT NULL,
        is_valid tinyint(1) NOT NULL DEFAULT 1,
        PRIMARY KEY (id),
        KEY idx_track_plays_session (session_id),
        KEY idx_track_plays_guild_time (guild_id, started_at DESC),
        KEY idx_track_plays_source (source, source_id),
        KEY idx_track_plays_queued_by (queued_by_user),
        KEY idx_track_plays_is_valid (is_valid),
        CONSTRAINT fk_track_plays_session FOREIGN KEY (session_id)
            REFERENCES listening_sessions (id) ON DELETE NO ACTION
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4
    """,
    """
    CREATE TABLE track_play_listeners (
        track_play_id varchar(36) NOT NULL,
        user_id bigint NOT NULL,
        PRIMARY KEY (track_play_id, user_id),
        CONSTRAINT fk_track_play_listeners_track_play FOREIGN KEY (track_play_id)
            REFERENCES track_plays (id) ON DELETE CASCADE
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4
    """,
]

# shortuuid's alphabet: the ids mix upper and lower case, which ascii_bin distinguishes.
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
GUILD_IDS = [81_384_788_765_712_384 + 7919 * n for n in range(11)] + [9_223_372_036_854_775_000]
USER_IDS = [190_000_000_000_000_000 + 104_729 * n for n in range(80)]
# Time zones of the connections that wrote the rows, as the Go container's local zone.
WRITE_OFFSETS = ["+00:00", "+01:00", "+02:00", "-05:00", "+05:30", "+09:00", "-03:30"]
INT_MAX = 2**31 - 1
DURATIONS = [180_000, 215_500, 3_600_000, 0, None, INT_MAX, INT_MAX - 1, 45_000]
TITLES = [
    "Bohemian Rhapsody",
    "夜に駆ける",
    "🎵🔥 Party Mix 🔥🎵",
    "Família 👨‍👩‍👧‍👦 ao vivo",
    "Déjà vu",
    "사랑했나봐",
    "Песня о друге",  # noqa: RUF001
    "أغنية الحب",
    'It\'s \\ "quoted" `code`',
    "trailing space ",
    "🎸" * 500,
    "長" * 500,
]
ARTISTS = [
    "Queen",
    "YOASOBI",
    "DJ 🎧",
    "Yoasobi",
    "宇多田ヒカル",
    "Various Artists",
    "Björk",
    "山" * 500,
]
# Instants next to daylight-saving changes, each with the offset in force on its side of the change.
# Each pair shares a local wall time or straddles a skipped hour; both must stay distinct instants.
DST_EDGES = [
    (datetime(2024, 3, 31, 0, 59, 59), "+01:00"),  # 01:59:59 in Berlin, just before the skip
    (datetime(2024, 3, 31, 1, 0, 0), "+02:00"),  # 03:00:00 in Berlin, just after it
    (datetime(2024, 10, 27, 0, 30, 0), "+02:00"),  # 02:30 CEST in Berlin
    (datetime(2024, 10, 27, 1, 30, 0), "+01:00"),  # 02:30 CET, the same wall time an hour later
    (datetime(2024, 11, 3, 5, 30, 0), "-04:00"),  # 01:30 EDT in New York
    (datetime(2024, 11, 3, 6, 30, 0), "-05:00"),  # 01:30 EST, the same wall time an hour later
]
# The first and last instants a TIMESTAMP column can hold.
TIMESTAMP_MIN = datetime(1970, 1, 1, 0, 0, 1)
TIMESTAMP_MAX = datetime(2038, 1, 19, 3, 14, 7)


@dataclass
class LegacyArchive:
    """Rows for the Go schema, with naive UTC times and the offset each row is written through."""

    sessions: list[dict]
    plays: list[dict]
    listeners: list[tuple[str, int]]


def _new_id(rng: random.Random) -> str:
    return "".join(rng.choices(ID_ALPHABET, k=22))


def _play(
    rng: random.Random, session: dict, started_at: datetime, ended: bool, offset: str
) -> dict:
    duration = rng.choice(DURATIONS)
    played = rng.choice([30_000, 61_234, 200_000, INT_MAX]) if ended else 0
    ended_at = started_at + timedelta(seconds=rng.randrange(30, 900)) if ended else None
    return {
        "id": _new_id(rng),
        "session_id": session["id"],
        "guild_id": session["guild_id"],
        "source": rng.choice(["youtube", "spotify", "soundcloud"]),
        "source_id": _new_id(rng),
        "url": rng.choice(["https://youtu.be/", "https://open.spotify.com/track/"]) + _new_id(rng),
        "title": rng.choice(TITLES),
        "artist": rng.choice(ARTISTS),
        "started_at": started_at,
        "ended_at": ended_at,
        "duration_ms": duration,
        "played_duration_ms": played,
        "queued_by_user": rng.choice(USER_IDS),
        "is_valid": 1,
        "offset": offset,
    }


def _listeners(rng: random.Random, play: dict) -> list[tuple[str, int]]:
    # User 0 listens to most plays, so their recents reach back through the whole archive.
    users = set(rng.sample(USER_IDS, k=rng.randint(0, 4)))
    if rng.random() < 0.6:
        users.add(USER_IDS[0])
    return [(play["id"], user_id) for user_id in sorted(users)]


def generate_archive(seed: int, session_count: int) -> LegacyArchive:
    """Generate sessions over three years, some without plays and some open, and their plays."""
    rng = random.Random(seed)
    sessions: list[dict] = []
    plays: list[dict] = []
    listeners: list[tuple[str, int]] = []
    origin = datetime(2022, 1, 1)

    for index in range(session_count):
        offset = rng.choice(WRITE_OFFSETS)
        started_at = origin + timedelta(seconds=rng.randrange(0, 3 * 365 * 86_400))
        guild_id = rng.choices(GUILD_IDS, weights=[40, 20, 10, 5, 5, 5, 5, 3, 3, 2, 1, 1])[0]
        session = {"id": _new_id(rng), "guild_id": guild_id, "started_at": started_at}
        session_open = index % 17 == 3
        play_count = 0 if index % 13 == 5 else rng.randint(1, 16)

        moment = started_at
        latest_end = started_at
        for number in range(play_count):
            # A quarter of the plays start in the same second as the one before, so the
            # recents order them by id alone, which ascii_bin compares case-sensitively.
            if number == 0 or rng.random() > 0.25:
                moment = latest_end + timedelta(seconds=rng.choice([0, 1, 60, 240]))
            last = number == play_count - 1
            ended = not (session_open and last) and rng.random() > 0.03
            play = _play(rng, session, moment, ended, offset)
            plays.append(play)
            listeners += _listeners(rng, play)
            latest_end = max(latest_end, play["ended_at"] or moment)

        session["ended_at"] = (
            None if session_open else latest_end + timedelta(seconds=rng.randrange(600))
        )
        session["offset"] = offset
        sessions.append(session)

    edge_session = {
        "id": _new_id(rng),
        "guild_id": GUILD_IDS[0],
        "started_at": TIMESTAMP_MIN,
        "ended_at": TIMESTAMP_MAX,
        "offset": "+00:00",
    }
    sessions.append(edge_session)
    for started_at, offset in [(TIMESTAMP_MIN, "+00:00"), *DST_EDGES]:
        play = _play(rng, edge_session, started_at, True, offset)
        plays.append(play)
        listeners += _listeners(rng, play)
    last_play = _play(rng, edge_session, TIMESTAMP_MAX - timedelta(seconds=1), False, "+00:00")
    last_play["ended_at"] = TIMESTAMP_MAX
    plays.append(last_play)
    listeners += _listeners(rng, last_play)
    return LegacyArchive(sessions, plays, listeners)


def _offset(offset: str) -> timedelta:
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = offset[1:].split(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes))


def _local(moment: datetime | None, offset: str) -> datetime | None:
    return None if moment is None else moment + _offset(offset)


def build_go_database(
    config: DatabaseConfig, archive: LegacyArchive, explicit_timestamp_defaults: bool = True
) -> None:
    """Create the Go schema and write the rows, each through a connection in its own time zone.

    With `explicit_timestamp_defaults` off, the server gives the first TIMESTAMP column of each
    table DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, as older MySQL servers did.
    """
    connection = mysql_connect(config, config.database)
    with connection.cursor() as cursor:
        if not explicit_timestamp_defaults:
            cursor.execute("SET SESSION explicit_defaults_for_timestamp = OFF")
        for statement in GO_SCHEMA:
            cursor.execute(statement)
    connection.close()

    offsets = sorted({row["offset"] for row in archive.sessions + archive.plays})
    for table, rows, columns in [
        ("listening_sessions", archive.sessions, ["id", "guild_id", "started_at", "ended_at"]),
        ("track_plays", archive.plays, [name for name in archive.plays[0] if name != "offset"]),
    ]:
        for offset in offsets:
            values = [
                tuple(
                    _local(row[name], offset) if name in ("started_at", "ended_at") else row[name]
                    for name in columns
                )
                for row in rows
                if row["offset"] == offset
            ]
            if not values:
                continue
            connection = mysql_connect(config, config.database)
            with connection.cursor() as cursor:
                cursor.execute("SET time_zone = %s", (offset,))
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join(['%s'] * len(columns))})",
                    values,
                )
            connection.close()

    connection = mysql_connect(config, config.database)
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO track_play_listeners (track_play_id, user_id) VALUES (%s, %s)",
            archive.listeners,
        )
    connection.close()


def expected_rows(archive: LegacyArchive) -> dict[str, dict]:
    """Return the rows that the adopted database must contain. A NULL duration becomes 0."""
    plays = {}
    for play in archive.plays:
        values = {name: value for name, value in play.items() if name not in ("id", "offset")}
        values["duration_ms"] = values["duration_ms"] or 0
        plays[play["id"]] = tuple(values.values())
    return {
        "listening_sessions": {
            session["id"]: (session["guild_id"], session["started_at"], session["ended_at"])
            for session in archive.sessions
        },
        "track_plays": plays,
        "track_play_listeners": set(archive.listeners),
    }


PLAY_COLUMNS = (
    "session_id, guild_id, source, source_id, url, title, artist, started_at, ended_at, "
    "duration_ms, played_duration_ms, queued_by_user, is_valid"
)


def read_rows(config: DatabaseConfig, null_duration_as: int | None = None) -> dict[str, dict]:
    """Read every archive row through a UTC connection, keyed by id."""
    connection = mysql_connect(config, config.database)
    with connection.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute("SELECT id, guild_id, started_at, ended_at FROM listening_sessions")
        sessions = {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
        cursor.execute(f"SELECT id, {PLAY_COLUMNS} FROM track_plays")
        plays = {}
        for row in cursor.fetchall():
            values = list(row[1:])
            if values[9] is None:
                values[9] = null_duration_as
            plays[row[0]] = tuple(values)
        cursor.execute("SELECT track_play_id, user_id FROM track_play_listeners")
        listeners = {tuple(row) for row in cursor.fetchall()}
    connection.close()
    return {"listening_sessions": sessions, "track_plays": plays, "track_play_listeners": listeners}


def show_create_tables(config: DatabaseConfig) -> dict[str, str]:
    connection = mysql_connect(config, config.database)
    tables = {}
    with connection.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        names = sorted(row[0] for row in cursor.fetchall())
        for name in names:
            if name in ARCHIVE_TABLES:
                cursor.execute(f"SHOW CREATE TABLE {name}")
                tables[name] = cursor.fetchone()[1]
    connection.close()
    return tables


def table_names(config: DatabaseConfig) -> set[str]:
    connection = mysql_connect(config, config.database)
    with connection.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        names = {row[0] for row in cursor.fetchall()}
    connection.close()
    return names


def fetch(config: DatabaseConfig, sql: str) -> list[tuple]:
    connection = mysql_connect(config, config.database)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = list(cursor.fetchall())
    connection.close()
    return rows


def migrate_with_time_zone(config: DatabaseConfig, time_zone: str) -> None:
    """Apply the migrations through yoyo on connections whose time zone is `time_zone`."""
    init_command = f"SET time_zone = '{time_zone}'"
    url = f"{config.yoyo_url()}?init_command={quote(init_command)}"
    backend = get_backend(url)
    try:
        zone = backend.execute("SELECT @@session.time_zone").fetchone()[0]
        assert zone == time_zone, "the migration connection must not already be in UTC"
        with backend.lock():
            backend.apply_migrations(
                backend.to_apply(read_migrations(str(MIGRATIONS_DIR / "mysql")))
            )
    finally:
        backend.connection.close()


def column_types(config: DatabaseConfig) -> dict[tuple[str, str], tuple]:
    rows = fetch(
        config,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, "
        "CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE()",
    )
    return {(row[0], row[1]): tuple(row[2:]) for row in rows if row[0] in ARCHIVE_TABLES}


def index_columns(config: DatabaseConfig) -> dict[tuple[str, str], tuple[str, ...]]:
    indexes: dict[tuple[str, str], tuple[str, ...]] = {}
    for table, name, column in fetch(
        config,
        "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    ):
        indexes[(table, name)] = (*indexes.get((table, name), ()), column)
    return indexes


@dataclass
class Adopted:
    config: DatabaseConfig
    archive: LegacyArchive
    before: dict[str, dict]
    after: dict[str, dict]


@dataclass
class Reference:
    schema: dict[str, str]
    rows: dict[str, dict]


@pytest.fixture(scope="module")
def archive() -> LegacyArchive:
    return generate_archive(seed=20241027, session_count=360)


@pytest.fixture(scope="module")
def small_archive() -> LegacyArchive:
    return generate_archive(seed=7, session_count=40)


@pytest.fixture(scope="module")
def adopted(archive: LegacyArchive) -> Iterator[Adopted]:
    """The Go database with the archive's rows, migrated once through yoyo on a UTC+9 connection."""
    config = create_mysql_database("archive_adopt")
    try:
        build_go_database(config, archive)
        before = read_rows(config, null_duration_as=0)
        # Small batches make the listener fill run many times, with bounds inside a play's rows.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(adopt, "LISTENER_FILL_BATCH_ROWS", 97)
            migrate_with_time_zone(config, "+09:00")
        yield Adopted(config, archive, before, read_rows(config))
    finally:
        drop_mysql_database(config)


@pytest.fixture(scope="module")
def fresh_config() -> Iterator[DatabaseConfig]:
    """A database that this service's migrations created from nothing."""
    config = create_mysql_database("archive_fresh")
    try:
        apply_migrations(config)
        yield config
    finally:
        drop_mysql_database(config)


@pytest.fixture(scope="module")
def reference(small_archive: LegacyArchive) -> Iterator[Reference]:
    """The small Go database adopted in one run: the schema and rows every rerun must reach."""
    config = create_mysql_database("archive_adopt")
    try:
        build_go_database(config, small_archive)
        apply_migrations(config)
        yield Reference(show_create_tables(config), read_rows(config))
    finally:
        drop_mysql_database(config)


@pytest.fixture
def legacy_config(small_archive: LegacyArchive) -> Iterator[DatabaseConfig]:
    """A Go database with the small archive's rows, not migrated."""
    config = create_mysql_database("archive_adopt")
    try:
        build_go_database(config, small_archive)
        yield config
    finally:
        drop_mysql_database(config)


@pytest.fixture
def empty_config() -> Iterator[DatabaseConfig]:
    config = create_mysql_database("archive_adopt")
    try:
        yield config
    finally:
        drop_mysql_database(config)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Run the command line from an empty folder, and restore the logging setup it replaces."""
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# The rows


@requires_mysql
def test_go_database_holds_generated_instants(adopted: Adopted) -> None:
    """The legacy rows hold the generated instants, so comparing with them is meaningful."""
    assert adopted.before == expected_rows(adopted.archive)


@requires_mysql
def test_go_database_has_null_durations(adopted: Adopted) -> None:
    nulls = [play for play in adopted.archive.plays if play["duration_ms"] is None]
    assert len(nulls) > 100


@requires_mysql
def test_adopt_keeps_sessions(adopted: Adopted) -> None:
    assert adopted.after["listening_sessions"] == adopted.before["listening_sessions"]
    assert (
        adopted.after["listening_sessions"] == expected_rows(adopted.archive)["listening_sessions"]
    )


@requires_mysql
def test_adopt_keeps_track_plays(adopted: Adopted) -> None:
    assert adopted.after["track_plays"] == adopted.before["track_plays"]
    assert adopted.after["track_plays"] == expected_rows(adopted.archive)["track_plays"]


@requires_mysql
def test_adopt_keeps_listeners(adopted: Adopted) -> None:
    listeners = adopted.after["track_play_listeners"]
    assert listeners == adopted.before["track_play_listeners"]
    assert listeners == expected_rows(adopted.archive)["track_play_listeners"]


@requires_mysql
def test_adopt_keeps_open_plays_open(adopted: Adopted) -> None:
    open_ids = {play["id"] for play in adopted.archive.plays if play["ended_at"] is None}
    stored_open = {
        play_id for play_id, values in adopted.after["track_plays"].items() if values[8] is None
    }
    assert len(open_ids) > 20
    assert stored_open == open_ids


@requires_mysql
def test_adopt_keeps_dst_edge_instants(adopted: Adopted) -> None:
    starts = {values[7] for values in adopted.after["track_plays"].values()}
    for instant, _ in DST_EDGES:
        assert instant in starts
    assert TIMESTAMP_MIN in starts
    assert TIMESTAMP_MAX - timedelta(seconds=1) in starts


@requires_mysql
def test_adopt_copies_play_start_to_listeners(adopted: Adopted) -> None:
    rows = fetch(
        adopted.config,
        "SELECT listener.started_at, play.started_at FROM track_play_listeners AS listener "
        "JOIN track_plays AS play ON play.id = listener.track_play_id",
    )
    assert len(rows) == len(adopted.archive.listeners)
    assert [row for row in rows if row[0] != row[1]] == []


@requires_mysql
def test_adopt_stores_times_as_utc_datetimes(adopted: Adopted) -> None:
    """A UTC+9 session reads the adopted times unchanged, as DATETIME does not convert."""
    connection = mysql_connect(adopted.config, adopted.config.database)
    with connection.cursor() as cursor:
        cursor.execute("SET time_zone = '+09:00'")
        cursor.execute("SELECT id, started_at, ended_at FROM listening_sessions")
        rows = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    connection.close()
    expected = {
        session_id: (values[1], values[2])
        for session_id, values in adopted.after["listening_sessions"].items()
    }
    assert rows == expected


# The schema


@requires_mysql
def test_adopt_columns_match_fresh_schema(adopted: Adopted, fresh_config: DatabaseConfig) -> None:
    """Types, nullability and defaults match. Ids share the collation, and text keeps its own."""
    adopted_columns = column_types(adopted.config)
    fresh_columns = column_types(fresh_config)
    assert set(adopted_columns) == set(fresh_columns)
    for key, (column_type, nullable, default, charset, collation) in fresh_columns.items():
        assert adopted_columns[key][:4] == (column_type, nullable, default, charset), key
        if charset == "ascii":
            assert adopted_columns[key][4] == collation, key


@requires_mysql
def test_adopt_adds_project_indexes(adopted: Adopted, fresh_config: DatabaseConfig) -> None:
    adopted_indexes = index_columns(adopted.config)
    for key, columns in index_columns(fresh_config).items():
        if key[0] in ARCHIVE_TABLES:
            assert adopted_indexes.get(key) == columns, key


@requires_mysql
def test_adopt_drops_redundant_go_indexes(adopted: Adopted) -> None:
    indexes = index_columns(adopted.config)
    assert ("listening_sessions", "idx_listening_sessions_guild") not in indexes
    assert ("track_plays", "idx_track_plays_session") not in indexes


@requires_mysql
def test_adopt_drops_is_valid_index(adopted: Adopted) -> None:
    assert ("track_plays", "idx_track_plays_is_valid") not in index_columns(adopted.config)


@requires_mysql
def test_adopt_keeps_other_go_indexes(adopted: Adopted) -> None:
    indexes = index_columns(adopted.config)
    assert indexes[("listening_sessions", "idx_listening_sessions_started_at")] == ("started_at",)
    assert indexes[("track_plays", "idx_track_plays_guild_time")] == ("guild_id", "started_at")
    assert indexes[("track_plays", "idx_track_plays_source")] == ("source", "source_id")
    assert indexes[("track_plays", "idx_track_plays_queued_by")] == ("queued_by_user",)


@requires_mysql
def test_adopt_restores_foreign_keys(adopted: Adopted) -> None:
    rows = fetch(
        adopted.config,
        "SELECT CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME, DELETE_RULE "
        "FROM information_schema.REFERENTIAL_CONSTRAINTS "
        "WHERE CONSTRAINT_SCHEMA = DATABASE()",
    )
    assert sorted(rows) == [
        ("fk_track_play_listeners_track_play", "track_play_listeners", "track_plays", "CASCADE"),
        ("fk_track_plays_session", "track_plays", "listening_sessions", "RESTRICT"),
    ]


@requires_mysql
def test_adopt_second_run_changes_nothing(adopted: Adopted) -> None:
    schema = show_create_tables(adopted.config)

    assert apply_migrations(adopted.config) == []
    connection = mysql_connect(adopted.config, adopted.config.database)
    adopt_go_schema(connection)
    steps = plan_adoption(connection)
    connection.close()

    assert steps == []
    assert show_create_tables(adopted.config) == schema
    assert read_rows(adopted.config) == adopted.after


@requires_mysql
def test_adopt_is_recorded_by_yoyo(adopted: Adopted) -> None:
    rows = fetch(adopted.config, "SELECT migration_id FROM _yoyo_migration ORDER BY migration_id")
    assert rows == [
        ("0000_adopt_go_schema",),
        ("0001_create_archive",),
        ("0002_create_idempotency_keys",),
    ]


# The read routes over the adopted rows


def _play_rows(archive: LegacyArchive) -> dict[str, dict]:
    rows = {}
    for play in archive.plays:
        row = {name: value for name, value in play.items() if name != "offset"}
        row["duration_ms"] = row["duration_ms"] or 0
        row["started_at"] = row["started_at"].replace(tzinfo=UTC)
        if row["ended_at"] is not None:
            row["ended_at"] = row["ended_at"].replace(tzinfo=UTC)
        rows[play["id"]] = row
    return rows


def _newest_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: (row["started_at"], row["id"]), reverse=True)


def _listened(archive: LegacyArchive, user_id: int) -> list[dict]:
    plays = _play_rows(archive)
    ids = {play_id for play_id, listener in archive.listeners if listener == user_id}
    return [plays[play_id] for play_id in ids if plays[play_id]["ended_at"] is not None]


@pytest.fixture(scope="module")
def api(adopted: Adopted) -> Iterator[TestClient]:
    app = create_app(make_settings(adopted.config))
    with TestClient(app, headers={"X-API-Key": TEST_API_KEY}) as client:
        yield client


@requires_mysql
def test_api_lists_session_track_plays(adopted: Adopted, api: TestClient) -> None:
    plays = _play_rows(adopted.archive)
    session_ids = [session["id"] for session in adopted.archive.sessions]
    for session_id in session_ids[:25] + session_ids[-1:]:
        response = api.get(f"/api/v1/sessions/{session_id}/tracks")
        expected = sorted(
            (row for row in plays.values() if row["session_id"] == session_id),
            key=lambda row: (row["started_at"], row["id"]),
        )
        assert response.status_code == 200
        assert response.json()["trackPlays"] == [track_play_to_wire(row) for row in expected]


@requires_mysql
def test_api_lists_guild_recents(adopted: Adopted, api: TestClient) -> None:
    plays = _play_rows(adopted.archive)
    for guild_id in (GUILD_IDS[0], GUILD_IDS[7], GUILD_IDS[-1]):
        response = api.get(f"/api/v1/guilds/{guild_id}/tracks/recent?limit=500")
        ended = [row for row in plays.values() if row["guild_id"] == guild_id and row["ended_at"]]
        expected = _newest_first(ended)[:500]
        assert response.status_code == 200
        assert response.json()["trackPlays"] == [track_play_to_wire(row) for row in expected]


@requires_mysql
def test_api_lists_user_recents(adopted: Adopted, api: TestClient) -> None:
    for user_id in (USER_IDS[0], USER_IDS[33]):
        response = api.get(f"/api/v1/users/{user_id}/tracks/recent?limit=500")
        expected = _newest_first(_listened(adopted.archive, user_id))[:500]
        assert response.status_code == 200
        assert response.json()["trackPlays"] == [track_play_to_wire(row) for row in expected]


@requires_mysql
def test_api_lists_guild_recommended_artists(adopted: Adopted, api: TestClient) -> None:
    plays = _play_rows(adopted.archive).values()
    ended = [row for row in plays if row["guild_id"] == GUILD_IDS[0] and row["ended_at"]]
    seeds = [(row["artist"], row["started_at"]) for row in _newest_first(ended)[:200]]
    expected = [item["artist"] for item in recommend_artists(seeds, datetime.now(UTC), 48.0)]

    response = api.get(f"/api/v1/guilds/{GUILD_IDS[0]}/artists/recommended?seedCount=200")

    assert response.status_code == 200
    assert [item["artist"] for item in response.json()["recommended_artists"]] == expected


@requires_mysql
def test_api_lists_user_recommended_artists(adopted: Adopted, api: TestClient) -> None:
    listened = _newest_first(_listened(adopted.archive, USER_IDS[0]))[:200]
    seeds = [(row["artist"], row["started_at"]) for row in listened]
    expected = [item["artist"] for item in recommend_artists(seeds, datetime.now(UTC), 48.0)]

    response = api.get(f"/api/v1/users/{USER_IDS[0]}/artists/recommended?seedCount=200")

    assert response.status_code == 200
    assert [item["artist"] for item in response.json()["recommended_artists"]] == expected


@requires_mysql
def test_api_lists_listeners(adopted: Adopted, api: TestClient) -> None:
    for play in adopted.archive.plays[:40]:
        response = api.get(f"/api/v1/tracks/{play['id']}/listeners")
        users = sorted(
            user_id for play_id, user_id in adopted.archive.listeners if play_id == play["id"]
        )
        assert response.status_code == 200
        assert response.json()["listeners"] == [
            {"TrackPlayID": play["id"], "UserID": user_id} for user_id in users
        ]


@requires_mysql
def test_api_lists_guild_sessions(adopted: Adopted, api: TestClient) -> None:
    guild_ids = (GUILD_IDS[1], GUILD_IDS[-1])
    sessions = [session for session in adopted.archive.sessions if session["guild_id"] in guild_ids]
    expected = sorted(sessions, key=lambda session: (session["started_at"], session["id"]))[::-1]

    response = api.get(f"/api/v1/sessions?guildIds={guild_ids[0]},{guild_ids[1]}&limit=500")

    assert response.status_code == 200
    assert [item["ID"] for item in response.json()["sessions"]] == [row["id"] for row in expected]
    assert [item["StartedAt"] for item in response.json()["sessions"]] == [
        format_rfc3339(row["started_at"].replace(tzinfo=UTC)) for row in expected
    ]


@requires_mysql
def test_api_reads_null_duration_as_zero(adopted: Adopted, api: TestClient) -> None:
    play = next(play for play in adopted.archive.plays if play["duration_ms"] is None)

    response = api.get(f"/api/v1/tracks/{play['id']}")

    assert response.status_code == 200
    assert response.json()["DurationMs"] == 0


# Reruns after a crash half-way


@requires_mysql
@pytest.mark.parametrize("steps_done", range(1, len(ADOPTION_STEPS) + 1))
def test_adopt_resumes_after_crash(
    legacy_config: DatabaseConfig, reference: Reference, steps_done: int
) -> None:
    connection = mysql_connect(legacy_config, legacy_config.database)
    ran = [run_step(connection, step) for step in ADOPTION_STEPS[:steps_done]]
    connection.close()

    applied = apply_migrations(legacy_config)

    assert all(ran)
    assert applied == [
        "0000_adopt_go_schema",
        "0001_create_archive",
        "0002_create_idempotency_keys",
    ]
    assert show_create_tables(legacy_config) == reference.schema
    assert read_rows(legacy_config) == reference.rows


@requires_mysql
def test_adopt_resumes_half_filled_listener_times(
    legacy_config: DatabaseConfig, reference: Reference
) -> None:
    connection = mysql_connect(legacy_config, legacy_config.database)
    for step in ADOPTION_STEPS:
        if step.name == "fill_listener_start_times":
            break
        run_step(connection, step)
    with connection.cursor() as cursor:
        filled = cursor.execute(
            "UPDATE track_play_listeners AS listener "
            "JOIN track_plays AS play ON play.id = listener.track_play_id "
            "SET listener.started_at = play.started_at WHERE listener.track_play_id < 'M'"
        )
    connection.close()

    apply_migrations(legacy_config)

    assert filled > 10
    assert show_create_tables(legacy_config) == reference.schema
    assert read_rows(legacy_config) == reference.rows


@requires_mysql
def test_adopt_resumes_with_one_foreign_key_dropped(
    legacy_config: DatabaseConfig, reference: Reference
) -> None:
    fetch(
        legacy_config,
        "ALTER TABLE track_play_listeners DROP FOREIGN KEY fk_track_play_listeners_track_play",
    )

    apply_migrations(legacy_config)

    assert show_create_tables(legacy_config) == reference.schema
    assert read_rows(legacy_config) == reference.rows


# What a deployment added, and databases with nothing to adopt


@requires_mysql
def test_adopt_keeps_deployment_columns_and_indexes(
    legacy_config: DatabaseConfig, reference: Reference
) -> None:
    for statement in [
        "ALTER TABLE listening_sessions ADD COLUMN voice_channel_id BIGINT NULL, "
        "ADD KEY idx_sessions_voice_channel (voice_channel_id)",
        "ALTER TABLE track_plays ADD COLUMN thumbnail_url VARCHAR(300) NULL COMMENT 'cover art', "
        "MODIFY title varchar(500) NOT NULL COMMENT 'as the source names it', "
        "ADD KEY idx_track_plays_title (title(40))",
        "ALTER TABLE track_play_listeners ADD COLUMN joined_late TINYINT(1) NOT NULL DEFAULT 0",
        "UPDATE listening_sessions SET voice_channel_id = guild_id + 1",
        "UPDATE track_plays SET thumbnail_url = CONCAT('https://images.test/', id)",
        "UPDATE track_play_listeners SET joined_late = user_id % 2",
    ]:
        fetch(legacy_config, statement)
    extras_sql = [
        "SELECT id, voice_channel_id FROM listening_sessions ORDER BY id",
        "SELECT id, thumbnail_url FROM track_plays ORDER BY id",
        "SELECT track_play_id, user_id, joined_late FROM track_play_listeners "
        "ORDER BY track_play_id, user_id",
    ]
    extras = [sorted(fetch(legacy_config, sql)) for sql in extras_sql]

    apply_migrations(legacy_config)

    assert [sorted(fetch(legacy_config, sql)) for sql in extras_sql] == extras
    indexes = index_columns(legacy_config)
    assert indexes[("listening_sessions", "idx_sessions_voice_channel")] == ("voice_channel_id",)
    assert indexes[("track_plays", "idx_track_plays_title")] == ("title",)
    comments = fetch(
        legacy_config,
        "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_COMMENT FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'track_plays' AND COLUMN_COMMENT <> ''",
    )
    assert sorted(comments) == [
        ("thumbnail_url", "varchar(300)", "cover art"),
        ("title", "varchar(1000)", "as the source names it"),
    ]
    listener_columns = fetch(
        legacy_config,
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'track_play_listeners' ORDER BY ORDINAL_POSITION",
    )
    assert listener_columns == [("track_play_id",), ("user_id",), ("started_at",), ("joined_late",)]
    assert read_rows(legacy_config) == reference.rows


@requires_mysql
def test_adopt_keeps_on_update_timestamps(small_archive: LegacyArchive) -> None:
    """Filling NULL durations must not touch a TIMESTAMP column that updates itself."""
    config = create_mysql_database("archive_adopt")
    try:
        build_go_database(config, small_archive, explicit_timestamp_defaults=False)
        schema = show_create_tables(config)

        apply_migrations(config)

        assert "ON UPDATE current_timestamp()" in schema["track_plays"]
        assert read_rows(config) == expected_rows(small_archive)
    finally:
        drop_mysql_database(config)


@requires_mysql
def test_adopt_leaves_empty_database_alone(empty_config: DatabaseConfig) -> None:
    connection = mysql_connect(empty_config, empty_config.database)
    steps = plan_adoption(connection)
    adopt_go_schema(connection)
    connection.close()

    assert steps == []
    assert table_names(empty_config) == set()


@requires_mysql
def test_adopt_leaves_current_database_alone(
    empty_config: DatabaseConfig, fresh_config: DatabaseConfig
) -> None:
    """A database that 0001 created before 0000 existed gets 0000 recorded, its tables untouched."""
    backend = get_backend(empty_config.yoyo_url())
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR / "mysql"))
        creation = migrations.__class__([m for m in migrations if m.id == "0001_create_archive"])
        backend.apply_migrations(backend.to_apply(creation))
    finally:
        backend.connection.close()
    for statement in [
        "INSERT INTO listening_sessions VALUES ('Ab3', 1, '2026-03-29 01:30:00.123', NULL)",
        "INSERT INTO track_plays VALUES ('Cd4', 'Ab3', 1, 'youtube', 'x', 'https://y.test/x', "
        "'夜に駆ける', 'YOASOBI', '2026-03-29 01:30:00.456', NULL, 9223372036854775807, 0, 2, 1)",
        "INSERT INTO track_play_listeners VALUES ('Cd4', 3, '2026-03-29 01:30:00.456')",
    ]:
        fetch(empty_config, statement)
    schema = show_create_tables(empty_config)
    rows = read_rows(empty_config)

    applied = apply_migrations(empty_config)

    assert applied == ["0000_adopt_go_schema", "0002_create_idempotency_keys"]
    assert show_create_tables(empty_config) == schema
    assert schema == show_create_tables(fresh_config)
    assert read_rows(empty_config) == rows


def test_adopt_is_not_a_sqlite_migration(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = DatabaseConfig(backend="sqlite", path=str(tmp_path / "archive.sqlite3"))

    planned = migration_plan_lines(config)
    created_by_planning = (tmp_path / "archive.sqlite3").exists()
    applied = apply_migrations(config)

    assert not created_by_planning
    assert "Go service schema: not applicable; the Go service ran on MySQL only" in planned
    assert "  0001_create_archive" in planned
    assert applied == ["0001_create_archive", "0002_create_idempotency_keys"]
    assert "0 pending migrations on " + config.describe() in migration_plan_lines(config)


# Databases that the conversion must not touch


@requires_mysql
def test_adopt_rejects_non_ascii_id(legacy_config: DatabaseConfig) -> None:
    fetch(legacy_config, "INSERT INTO listening_sessions VALUES ('sesión-1', 5, NOW(), NULL)")
    schema = show_create_tables(legacy_config)

    with pytest.raises(AdoptionError, match="sesión-1"):
        apply_migrations(legacy_config)

    assert show_create_tables(legacy_config) == schema


@requires_mysql
def test_adopt_rejects_reference_in_other_case(legacy_config: DatabaseConfig) -> None:
    """The Go collation matched ids case-insensitively, so ascii_bin would orphan this play."""
    fetch(legacy_config, "INSERT INTO listening_sessions VALUES ('caseSession', 5, NOW(), NULL)")
    fetch(
        legacy_config,
        "INSERT INTO track_plays (id, session_id, guild_id, source, source_id, url, title, "
        "artist, started_at, queued_by_user) VALUES "
        "('casePlay', 'CASESESSION', 5, 'youtube', 'x', 'https://y.test/x', 't', 'a', NOW(), 1)",
    )
    schema = show_create_tables(legacy_config)

    with pytest.raises(AdoptionError, match="CASESESSION"):
        apply_migrations(legacy_config)

    assert show_create_tables(legacy_config) == schema


@requires_mysql
def test_adopt_rejects_deployment_foreign_key_on_ids(legacy_config: DatabaseConfig) -> None:
    fetch(
        legacy_config,
        "CREATE TABLE play_ratings (track_play_id varchar(36) NOT NULL, stars int NOT NULL, "
        "CONSTRAINT fk_play_ratings_track_play FOREIGN KEY (track_play_id) "
        "REFERENCES track_plays (id)) DEFAULT CHARSET = utf8mb4",
    )
    schema = show_create_tables(legacy_config)

    with pytest.raises(AdoptionError, match="fk_play_ratings_track_play"):
        apply_migrations(legacy_config)

    assert show_create_tables(legacy_config) == schema


@requires_mysql
def test_adopt_rejects_unrelated_table(empty_config: DatabaseConfig) -> None:
    fetch(empty_config, "CREATE TABLE track_plays (id INT PRIMARY KEY, name VARCHAR(10))")

    with pytest.raises(AdoptionError, match="track_plays has no column session_id"):
        apply_migrations(empty_config)

    assert table_names(empty_config) >= {"track_plays"}
    assert "listening_sessions" not in table_names(empty_config)


# The plan that migrate prints


@requires_mysql
def test_dry_run_prints_plan_only(
    legacy_config: DatabaseConfig,
    small_archive: LegacyArchive,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli: None,
) -> None:
    monkeypatch.setenv("DATABASE_URL", legacy_config.yoyo_url())
    tables = table_names(legacy_config)
    schema = show_create_tables(legacy_config)

    status = main(["migrate", "--dry-run"])

    output = capsys.readouterr().out
    assert status == 0
    assert (
        f"rows: listening_sessions {len(small_archive.sessions)}, "
        f"track_plays {len(small_archive.plays)}, "
        f"track_play_listeners {len(small_archive.listeners)}"
    ) in output
    assert "Go service schema: found; migration 0000_adopt_go_schema converts it" in output
    for number in range(1, len(ADOPTION_STEPS) + 1):
        assert f"\n  {number}. " in output
    assert (
        "\n  0000_adopt_go_schema\n  0001_create_archive\n  0002_create_idempotency_keys\n"
        in output
    )
    assert output.endswith("dry run: nothing was changed\n")
    assert table_names(legacy_config) == tables
    assert show_create_tables(legacy_config) == schema


@requires_mysql
def test_migrate_prints_plan_before_applying(
    legacy_config: DatabaseConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli: None,
) -> None:
    monkeypatch.setenv("DATABASE_URL", legacy_config.yoyo_url())

    first = main(["migrate"])
    first_output = capsys.readouterr().out
    second = main(["migrate"])
    second_output = capsys.readouterr().out

    assert first == 0
    assert first_output.index("Go service schema: found") < first_output.index(
        "applied 3 migrations"
    )
    assert second == 0
    assert "rows (estimated from table statistics): listening_sessions " in second_output
    assert (
        "Go service schema: not found; the archive tables have this service's schema"
        in second_output
    )
    assert "0 pending migrations on " in second_output


@requires_mysql
def test_migrate_dry_run_reports_blocking_rows(
    legacy_config: DatabaseConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli: None,
) -> None:
    fetch(legacy_config, "INSERT INTO listening_sessions VALUES ('sesión-2', 5, NOW(), NULL)")
    monkeypatch.setenv("DATABASE_URL", legacy_config.yoyo_url())

    status = main(["migrate", "--dry-run"])

    error = capsys.readouterr().err
    assert status == 2
    assert "sesión-2" in error
    assert "Traceback" not in error
