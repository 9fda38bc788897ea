"""Rows read back from the database: times are aware UTC datetimes and go out as RFC 3339 in ms."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from starlette.testclient import TestClient

from service.db import _read_utc_datetime
from service.settings import DatabaseConfig
from service.timestamps import format_rfc3339
from tests.conftest import query_sql

RFC3339_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
TRACK = {
    "source": "youtube",
    "sourceId": "abc123def45",
    "url": "https://www.youtube.com/watch?v=abc123def45",
    "title": "夜に 🌙 (Official Video)",
    "artist": "The Velvet Satellites",
    "durationMs": 200_000,
    "queuedByUser": 7,
    "listenerIds": [7, 8],
}


def test_recents_times_match_stored_rows(client: TestClient, db_config: DatabaseConfig) -> None:
    session = client.post("/api/v1/sessions", json={"guildId": 42}).json()
    play = client.post(f"/api/v1/sessions/{session['ID']}/tracks", json=TRACK).json()
    client.patch(f"/api/v1/tracks/{play['ID']}", json={"playedDurationMs": 200_000})

    recents = client.get("/api/v1/users/8/tracks/recent").json()["trackPlays"]

    ((started_at, ended_at),) = query_sql(
        db_config, f"SELECT started_at, ended_at FROM track_plays WHERE id = '{play['ID']}'"
    )
    # SQLite stores the times as text, MySQL as DATETIME(3); both are UTC.
    stored_start = datetime.fromisoformat(str(started_at))
    stored_end = datetime.fromisoformat(str(ended_at))
    assert [item["ID"] for item in recents] == [play["ID"]]
    assert RFC3339_MS.fullmatch(recents[0]["StartedAt"])
    assert RFC3339_MS.fullmatch(recents[0]["EndedAt"])
    assert recents[0]["StartedAt"] == stored_start.isoformat(timespec="milliseconds") + "Z"
    assert recents[0]["EndedAt"] == stored_end.isoformat(timespec="milliseconds") + "Z"
    assert recents[0]["StartedAt"] == play["StartedAt"]


def test_read_utc_datetime_is_aware() -> None:
    value = _read_utc_datetime("2026-03-29 01:30:00.125")
    assert value == datetime(2026, 3, 29, 1, 30, 0, 125_000, tzinfo=UTC)


def test_read_utc_datetime_keeps_zero_date_text() -> None:
    assert _read_utc_datetime("0000-00-00 00:00:00") == "0000-00-00 00:00:00"


def test_format_rfc3339_converts_offsets_to_utc() -> None:
    moment = datetime(2026, 3, 29, 3, 30, 0, 125_999, tzinfo=timezone(timedelta(hours=2)))
    assert format_rfc3339(moment) == "2026-03-29T01:30:00.125Z"


def test_format_rfc3339_keeps_whole_seconds_fraction() -> None:
    assert format_rfc3339(datetime(2026, 1, 16, 10, 30, tzinfo=UTC)) == "2026-01-16T10:30:00.000Z"
