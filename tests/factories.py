"""Builders for request bodies and direct row inserts shared by the API tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from service.settings import DatabaseConfig
from tests.conftest import run_sql

API = "/api/v1"
GUILD_ID = 111111111111111111
OTHER_GUILD_ID = 222222222222222222
USER_ID = 333333333333333333
OTHER_USER_ID = 444444444444444444
STREAM_DURATION_MS = 2**63 - 1
MAX_SNOWFLAKE = 2**63 - 1
# Rows per INSERT statement of the bulk helpers.
INSERT_BATCH_ROWS = 1000
# Start of the history the bulk helpers write, far enough back to be before any test's "now".
HISTORY_START = datetime(2026, 1, 1, tzinfo=UTC)

_history_numbers = itertools.count(1)


def track_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid body for POST /sessions/{id}/tracks, with `overrides` replacing fields."""
    body: dict[str, Any] = {
        "source": "youtube",
        "sourceId": "dQw4w9WgXcQ",
        "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "title": "Never Gonna Give You Up",
        "artist": "Rick Astley",
        "durationMs": 213_000,
        "queuedByUser": USER_ID,
        "listenerIds": [USER_ID],
    }
    body.update(overrides)
    return body


def start_session(client: TestClient, guild_id: int = GUILD_ID) -> dict[str, Any]:
    response = client.post(f"{API}/sessions", json={"guildId": guild_id})
    assert response.status_code == 201, response.text
    return response.json()


def start_track(client: TestClient, session_id: str, **overrides: Any) -> dict[str, Any]:
    response = client.post(f"{API}/sessions/{session_id}/tracks", json=track_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def start_played_track(client: TestClient, **overrides: Any) -> dict[str, Any]:
    """Start a session and one track in it; return the track play."""
    session = start_session(client)
    return start_track(client, session["ID"], **overrides)


def record_id(prefix: str, number: int) -> str:
    """Return a 22-character id, the length of the short UUIDs the service generates."""
    return f"{prefix}{number:0{22 - len(prefix)}d}"


def sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return "'" + moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "'"
    if isinstance(value, str):
        # MariaDB reads a backslash as an escape, SQLite does not: keep them out of test data.
        assert "\\" not in value, "bulk test data must not contain backslashes"
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {value!r}")


def insert_rows(config: DatabaseConfig, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows with multi-row INSERT statements, far faster than one API call each."""
    if not rows:
        return
    columns = list(rows[0])
    statements = []
    for start in range(0, len(rows), INSERT_BATCH_ROWS):
        batch = rows[start : start + INSERT_BATCH_ROWS]
        values = ",\n".join(
            "(" + ", ".join(sql_literal(row[column]) for column in columns) + ")" for row in batch
        )
        statements.append(f"INSERT INTO {table} ({', '.join(columns)}) VALUES\n{values}")
    run_sql(config, statements)


def insert_session(
    config: DatabaseConfig,
    session_id: str,
    guild_id: int = GUILD_ID,
    started_at: datetime = HISTORY_START,
    ended_at: datetime | None = None,
) -> None:
    insert_rows(
        config,
        "listening_sessions",
        [{"id": session_id, "guild_id": guild_id, "started_at": started_at, "ended_at": ended_at}],
    )


def play_row(
    play_id: str, session_id: str, started_at: datetime, guild_id: int = GUILD_ID, **overrides: Any
) -> dict[str, Any]:
    """Return a stored track play row, by default ended a minute after it started and valid."""
    row: dict[str, Any] = {
        "id": play_id,
        "session_id": session_id,
        "guild_id": guild_id,
        "source": "youtube",
        "source_id": play_id,
        "url": f"https://www.youtube.com/watch?v={play_id}",
        "title": f"Title {play_id}",
        "artist": "Artist",
        "started_at": started_at,
        "ended_at": started_at + timedelta(minutes=1),
        "duration_ms": 180_000,
        "played_duration_ms": 60_000,
        "queued_by_user": USER_ID,
        "is_valid": True,
    }
    row.update(overrides)
    return row


def insert_plays(
    config: DatabaseConfig, plays: list[dict[str, Any]], listener_ids: Iterable[int] = ()
) -> None:
    """Insert track play rows, and each listener in `listener_ids` for every one of them."""
    insert_rows(config, "track_plays", plays)
    listeners = [
        {"track_play_id": play["id"], "user_id": user_id, "started_at": play["started_at"]}
        for play in plays
        for user_id in listener_ids
    ]
    insert_rows(config, "track_play_listeners", listeners)


def insert_history(
    config: DatabaseConfig,
    count: int,
    guild_id: int = GUILD_ID,
    listener_ids: Iterable[int] = (USER_ID,),
    step: timedelta = timedelta(minutes=5),
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Insert one session holding `count` ended, valid plays, one every `step`, oldest first."""
    number = next(_history_numbers)
    session_id = record_id(f"s{number}x", 0)
    insert_session(config, session_id, guild_id, HISTORY_START)
    plays = [
        play_row(
            record_id(f"p{number}x", index),
            session_id,
            HISTORY_START + step * (index + 1),
            guild_id,
            **overrides,
        )
        for index in range(count)
    ]
    insert_plays(config, plays, listener_ids)
    return plays


def wire_time(moment: datetime) -> str:
    """Format a time as the API writes it: UTC, milliseconds, Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_wire_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
