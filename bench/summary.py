"""The shape of a seeded archive, read from the database itself, and its JSON summary file.

The benchmark takes the ids it requests from this summary: the heaviest guild and user, a
typical one of each, a typical and the longest session, and a sample of track play ids.
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path
from typing import Any

import pymysql

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# A typical guild or user has at least this many plays, two pages of recents at the default limit.
TYPICAL_MIN_PLAYS = 100
SAMPLE_TRACK_PLAY_IDS = 200


def summary_path(database: str) -> Path:
    return RESULTS_DIR / f"{database}.json"


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_summary(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _rows(connection: pymysql.Connection, statement: str, arguments: tuple = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, arguments)
        return list(cursor.fetchall())


def _heaviest_and_typical(counts: list[tuple[int, int]]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Return the (id, count) with the most plays, and the one at the median of the active ones."""
    ordered = sorted(counts, key=lambda item: (-item[1], item[0]))
    active = [item for item in ordered if item[1] >= TYPICAL_MIN_PLAYS] or ordered
    return ordered[0], active[len(active) // 2]


def describe_archive(connection: pymysql.Connection, database: str) -> dict[str, Any]:
    """Measure the archive in the connection's database: sizes, skew and the ids to benchmark."""
    guild_counts = _rows(
        connection,
        "SELECT guild_id, COUNT(*), SUM(is_valid) FROM track_plays GROUP BY guild_id",
    )
    user_counts = _rows(
        connection, "SELECT user_id, COUNT(*) FROM track_play_listeners GROUP BY user_id"
    )
    session_counts = _rows(
        connection, "SELECT session_id, COUNT(*) FROM track_plays GROUP BY session_id"
    )
    ((sessions,),) = _rows(connection, "SELECT COUNT(*) FROM listening_sessions")
    ((open_sessions,),) = _rows(
        connection, "SELECT COUNT(*) FROM listening_sessions WHERE ended_at IS NULL"
    )
    ((open_plays, first_play, last_play),) = _rows(
        connection,
        "SELECT COUNT(*) - COUNT(ended_at), MIN(started_at), MAX(started_at) FROM track_plays",
    )

    plays = sum(int(count) for _, count, _ in guild_counts)
    valid = sum(int(valid) for _, _, valid in guild_counts)
    listeners = sum(int(count) for _, count in user_counts)
    heaviest_guild, typical_guild = _heaviest_and_typical(
        [(int(guild), int(count)) for guild, count, _ in guild_counts]
    )
    heaviest_user, typical_user = _heaviest_and_typical(
        [(int(user), int(count)) for user, count in user_counts]
    )
    by_length = sorted(
        ((str(session), int(count)) for session, count in session_counts),
        key=lambda item: (item[1], item[0]),
    )
    typical_session = by_length[len(by_length) // 2] if by_length else None
    longest_session = by_length[-1] if by_length else None

    # Random ids spread over the key space, to read plays the way clients do: one at a time.
    rng = random.Random(0)
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    sample: list[str] = []
    for _ in range(SAMPLE_TRACK_PLAY_IDS if plays else 0):
        prefix = "".join(rng.choice(alphabet) for _ in range(4))
        found = _rows(
            connection, "SELECT id FROM track_plays WHERE id >= %s ORDER BY id LIMIT 1", (prefix,)
        )
        if found and str(found[0][0]) not in sample:
            sample.append(str(found[0][0]))

    return {
        "database": database,
        "track_plays": plays,
        "valid_plays": valid,
        "invalid_fraction": round(1 - valid / plays, 4) if plays else 0.0,
        "open_plays": int(open_plays),
        "listening_sessions": int(sessions),
        "open_sessions": int(open_sessions),
        "listeners": listeners,
        "listeners_per_play": round(listeners / plays, 3) if plays else 0.0,
        "guilds_with_plays": len(guild_counts),
        "users_with_plays": len(user_counts),
        "plays_per_session_median": statistics.median(c for _, c in by_length) if by_length else 0,
        "first_play_at": str(first_play),
        "last_play_at": str(last_play),
        "heaviest_guild": {"id": heaviest_guild[0], "plays": heaviest_guild[1]},
        "typical_guild": {"id": typical_guild[0], "plays": typical_guild[1]},
        "heaviest_user": {"id": heaviest_user[0], "plays": heaviest_user[1]},
        "typical_user": {"id": typical_user[0], "plays": typical_user[1]},
        "typical_session": {"id": typical_session[0], "plays": typical_session[1]}
        if typical_session
        else None,
        "longest_session": {"id": longest_session[0], "plays": longest_session[1]}
        if longest_session
        else None,
        "track_play_ids": sample,
    }
