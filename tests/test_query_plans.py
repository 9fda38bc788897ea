"""Query plans of the hot reads on a seeded MariaDB archive, checked with ANALYZE FORMAT=JSON.

Each read must walk one index in time order: a ref or range access on its index, no filesort,
no full scan, and about `limit` rows read however long the guild's or user's history is.
ANALYZE runs the statement and reports the rows really read (`r_rows`), which EXPLAIN's
estimates cannot show. The statements come from the query registry, so a change to sql/ or to
the migrations that loses an index fails here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pymysql
import pytest

from bench.seed import SeedOptions, seed_database
from service.queries import Queries
from service.resources import SQL_DIR
from service.settings import DatabaseConfig
from tests.conftest import create_mysql_database, drop_mysql_database, mysql_connect

SEED_OPTIONS = SeedOptions(plays=20_000, guilds=200, users=5_000, seed=7)
SEED_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIMIT = 50
SEED_LIMIT = 200
FULL_SCANS = ("ALL", "index")


@dataclass
class Archive:
    config: DatabaseConfig
    summary: dict[str, Any]
    connection: pymysql.Connection
    queries: Queries


@pytest.fixture(scope="module")
def archive(backend: str) -> Iterator[Archive]:
    """A MariaDB database seeded with a small skewed archive, its statistics analyzed."""
    if backend != "mysql":
        pytest.skip("query plans are checked on MariaDB only")
    config = create_mysql_database("archive_plans")
    try:
        summary = seed_database(config, SEED_OPTIONS, now=SEED_NOW, log=io.StringIO())
        connection = mysql_connect(config, config.database)
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            (version,) = cursor.fetchone()
        if "mariadb" not in version.lower():
            connection.close()
            pytest.skip(
                f"plans are read from MariaDB's ANALYZE FORMAT=JSON, the server is {version}"
            )
        yield Archive(config, summary, connection, Queries.load(SQL_DIR, "mysql"))
        connection.close()
    finally:
        drop_mysql_database(config)


def analyze(archive: Archive, name: str, **params: Any) -> dict[str, Any]:
    """Run the named query under ANALYZE FORMAT=JSON and return the executed plan."""
    sql, arguments = archive.queries[name].bind(params)
    with archive.connection.cursor() as cursor:
        cursor.execute("ANALYZE FORMAT=JSON " + sql, arguments)
        (plan,) = cursor.fetchone()
    return json.loads(plan)


def table_accesses(node: Any) -> list[dict[str, Any]]:
    """Return every table access of a plan, outermost first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "table" and isinstance(value, dict) and "table_name" in value:
                found.append(value)
            found.extend(table_accesses(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(table_accesses(item))
    return found


def sorts_or_copies(node: Any) -> list[str]:
    """Return the filesort and temporary table steps of a plan."""
    steps: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("filesort", "read_sorted_file", "temporary_table") or (
                key.startswith("using_") and "temporary" in key and value
            ):
                steps.append(key)
            steps.extend(sorts_or_copies(value))
    elif isinstance(node, list):
        for item in node:
            steps.extend(sorts_or_copies(item))
    return steps


def index_columns(archive: Archive, table: str, index: str) -> list[str]:
    with archive.connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.statistics "
            "WHERE table_schema = %s AND table_name = %s AND index_name = %s ORDER BY seq_in_index",
            (archive.config.database, table, index),
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class PlanCase:
    """A hot read, the index that must serve it, and how many rows it may read."""

    query: str
    table: str
    index: str
    params: Callable[[dict[str, Any]], dict[str, Any]]
    max_rows: int | Callable[[Archive, dict[str, Any]], int]
    ordered: bool = True


def check_plan(archive: Archive, case: PlanCase) -> None:
    """Assert the plan of one case: its index, time order from that index, rows read."""
    params = case.params(archive.summary)
    plan = analyze(archive, case.query, **params)
    accesses = table_accesses(plan)
    first = accesses[0]

    assert first["table_name"] == case.table, f"{case.query} starts from another table: {plan}"
    assert first.get("key") == case.index, f"{case.query} does not use {case.index}: {plan}"
    assert first["access_type"] in ("ref", "range"), f"{case.query} scans {case.table}: {plan}"
    full_scans = [
        access["table_name"] for access in accesses if access["access_type"] in FULL_SCANS
    ]
    assert not full_scans, f"{case.query} fully scans {full_scans}: {plan}"
    max_rows = case.max_rows if isinstance(case.max_rows, int) else case.max_rows(archive, params)
    rows_read = first["r_rows"] * first["r_loops"]
    assert rows_read <= max_rows, f"{case.query} read {rows_read} rows, expected <= {max_rows}"

    if case.ordered:
        steps = sorts_or_copies(plan)
        assert steps == [], f"{case.query} sorts or copies rows ({steps}): {plan}"
        # The index continues with started_at right after the columns matched by equality,
        # so walking it gives the rows in time order.
        columns = index_columns(archive, case.table, case.index)
        assert columns[len(first["used_key_parts"])] == "started_at", f"{case.index}: {columns}"


def _guild(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda summary: {"guild_id": summary[f"{kind}_guild"]["id"], "limit": LIMIT}


def _user(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda summary: {"user_id": summary[f"{kind}_user"]["id"], "limit": LIMIT}


def _session_plays(archive: Archive, params: dict[str, Any]) -> int:
    return int(archive.summary["longest_session"]["plays"])


def _sessions_of_guilds(archive: Archive, params: dict[str, Any]) -> int:
    placeholders = ", ".join(["%s"] * len(params["guild_ids"]))
    with archive.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM listening_sessions WHERE guild_id IN ({placeholders})",
            params["guild_ids"],
        )
        (count,) = cursor.fetchone()
    return int(count)


# At most every second play of the range is skipped as invalid or still open.
GUILD_RECENTS = PlanCase(
    "get_recent_track_plays_by_guild",
    "track_plays",
    "idx_get_recent_track_plays_by_guild",
    _guild("heaviest"),
    2 * LIMIT,
)
USER_RECENTS = PlanCase(
    "get_recent_track_plays_by_user",
    "track_play_listeners",
    "idx_get_recent_track_plays_by_user",
    _user("heaviest"),
    2 * LIMIT,
)
SESSION_TRACKS = PlanCase(
    "get_track_plays_by_session_id",
    "track_plays",
    "idx_get_track_plays_by_session_id",
    lambda summary: {"session_id": summary["longest_session"]["id"]},
    _session_plays,
)
GUILD_SEEDS = PlanCase(
    "get_recommendation_seeds_by_guild",
    "track_plays",
    "idx_get_recent_track_plays_by_guild",
    lambda summary: {"guild_id": summary["heaviest_guild"]["id"], "limit": SEED_LIMIT},
    2 * SEED_LIMIT,
)
USER_SEEDS = PlanCase(
    "get_recommendation_seeds_by_user",
    "track_play_listeners",
    "idx_get_recent_track_plays_by_user",
    lambda summary: {"user_id": summary["heaviest_user"]["id"], "limit": SEED_LIMIT},
    2 * SEED_LIMIT,
)
# Several guilds are several ranges of the index, merged by a bounded sort of `limit` rows.
# Each listed guild's rows are read through the index, and no other guild's rows are read.
SESSIONS_BY_GUILDS = PlanCase(
    "get_sessions_by_guild_ids",
    "listening_sessions",
    "idx_get_sessions_by_guild_ids",
    lambda summary: {
        "guild_ids": [summary["heaviest_guild"]["id"], summary["typical_guild"]["id"], 1],
        "limit": LIMIT,
    },
    _sessions_of_guilds,
    ordered=False,
)
CASES = [GUILD_RECENTS, USER_RECENTS, SESSION_TRACKS, GUILD_SEEDS, USER_SEEDS, SESSIONS_BY_GUILDS]


def test_seeded_archive_is_skewed(archive: Archive) -> None:
    summary = archive.summary
    assert summary["heaviest_guild"]["plays"] > 10 * LIMIT
    assert summary["heaviest_user"]["plays"] > 10 * LIMIT
    assert summary["longest_session"]["plays"] > 1


def test_guild_recents_plan(archive: Archive) -> None:
    check_plan(archive, GUILD_RECENTS)


def test_guild_recents_plan_typical_guild(archive: Archive) -> None:
    check_plan(archive, PlanCase(**{**GUILD_RECENTS.__dict__, "params": _guild("typical")}))


def test_user_recents_plan(archive: Archive) -> None:
    check_plan(archive, USER_RECENTS)


def test_user_recents_plan_typical_user(archive: Archive) -> None:
    check_plan(archive, PlanCase(**{**USER_RECENTS.__dict__, "params": _user("typical")}))


def test_session_tracks_plan(archive: Archive) -> None:
    check_plan(archive, SESSION_TRACKS)


def test_guild_seeds_plan(archive: Archive) -> None:
    check_plan(archive, GUILD_SEEDS)


def test_user_seeds_plan(archive: Archive) -> None:
    check_plan(archive, USER_SEEDS)


def test_sessions_by_guild_ids_plan(archive: Archive) -> None:
    check_plan(archive, SESSIONS_BY_GUILDS)


def test_sessions_by_one_guild_id_plan_is_ordered(archive: Archive) -> None:
    one_guild = PlanCase(
        **{
            **SESSIONS_BY_GUILDS.__dict__,
            "params": lambda summary: {
                "guild_ids": [summary["heaviest_guild"]["id"]],
                "limit": LIMIT,
            },
            "max_rows": 2 * LIMIT,
            "ordered": True,
        }
    )
    check_plan(archive, one_guild)


@pytest.mark.parametrize("case", CASES, ids=[case.query for case in CASES])
def test_plan_check_fails_without_index(archive: Archive, case: PlanCase) -> None:
    """With its index hidden from the optimizer, every case's plan check must fail."""
    with archive.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {case.table} ALTER INDEX {case.index} IGNORED")
    try:
        with pytest.raises(AssertionError):
            check_plan(archive, case)
    finally:
        with archive.connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {case.table} ALTER INDEX {case.index} NOT IGNORED")
