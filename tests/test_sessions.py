"""Listening sessions: create, read, list by guilds, end, and the track plays started in them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.conftest import query_sql
from tests.factories import (
    API,
    GUILD_ID,
    HISTORY_START,
    MAX_SNOWFLAKE,
    OTHER_GUILD_ID,
    insert_plays,
    insert_rows,
    insert_session,
    parse_wire_time,
    play_row,
    record_id,
    start_session,
    start_track,
    track_body,
    wire_time,
)

SESSION_KEYS = {"ID", "GuildID", "StartedAt", "EndedAt"}
PLUS_TEN = timezone(timedelta(hours=10))
WIRE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def stored_session_count(config) -> int:
    return query_sql(config, "SELECT COUNT(*) FROM listening_sessions")[0][0]


def insert_sessions(config, count: int, guild_id: int = GUILD_ID) -> list[str]:
    """Insert `count` open sessions one minute apart, oldest first; return their ids."""
    rows = [
        {
            "id": record_id(f"g{guild_id % 97}x", index),
            "guild_id": guild_id,
            "started_at": HISTORY_START + timedelta(minutes=index),
            "ended_at": None,
        }
        for index in range(count)
    ]
    insert_rows(config, "listening_sessions", rows)
    return [row["id"] for row in rows]


# POST /sessions


def test_create_session_returns_201(client, db_config):
    response = client.post(f"{API}/sessions", json={"guildId": GUILD_ID})

    assert response.status_code == 201
    assert set(response.json()) == SESSION_KEYS


def test_create_session_fields(client, db_config):
    before = datetime.now(UTC) - timedelta(milliseconds=1)

    session = client.post(f"{API}/sessions", json={"guildId": GUILD_ID}).json()

    assert isinstance(session["ID"], str)
    assert len(session["ID"]) == 22
    assert session["GuildID"] == GUILD_ID
    assert WIRE_TIME.fullmatch(session["StartedAt"])
    assert parse_wire_time(session["StartedAt"]) >= before
    assert session["EndedAt"] is None


def test_create_session_is_stored(client, db_config):
    session = start_session(client)

    rows = query_sql(
        db_config, f"SELECT guild_id, ended_at FROM listening_sessions WHERE id = '{session['ID']}'"
    )

    assert rows == [(GUILD_ID, None)]


def test_create_session_digit_string_guild_id(client, db_config):
    response = client.post(f"{API}/sessions", json={"guildId": str(GUILD_ID)})

    assert response.status_code == 201
    assert response.json()["GuildID"] == GUILD_ID


def test_create_session_max_snowflake_round_trips(client, db_config):
    session = start_session(client, MAX_SNOWFLAKE)

    assert session["GuildID"] == MAX_SNOWFLAKE
    assert client.get(f"{API}/sessions/{session['ID']}").json()["GuildID"] == MAX_SNOWFLAKE


@pytest.mark.parametrize(
    "guild_id",
    [1.5, 1.0, True, False, -1, 0, 2**63, "0", "-5", "12a", " 12", "", None, [1], {"id": 1}],
)
def test_create_session_invalid_guild_id_is_400(client, db_config, guild_id):
    response = client.post(f"{API}/sessions", json={"guildId": guild_id})

    assert response.status_code == 400
    assert "guildId" in response.json()["error"]
    assert stored_session_count(db_config) == 0


def test_create_session_missing_guild_id_is_400(client, db_config):
    response = client.post(f"{API}/sessions", json={"guild": GUILD_ID})

    assert response.status_code == 400
    assert "guildId" in response.json()["error"]
    assert stored_session_count(db_config) == 0


def test_create_session_unknown_fields_ignored(client, db_config):
    response = client.post(f"{API}/sessions", json={"guildId": GUILD_ID, "channelId": 5, "x": [1]})

    assert response.status_code == 201
    assert set(response.json()) == SESSION_KEYS


def test_create_session_malformed_json_is_400(client, db_config):
    response = client.post(
        f"{API}/sessions", content=b'{"guildId": 1', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert "JSON" in response.json()["error"]
    assert stored_session_count(db_config) == 0


def test_create_session_no_body_is_400(client, db_config):
    response = client.post(f"{API}/sessions")

    assert response.status_code == 400
    assert stored_session_count(db_config) == 0


def test_create_session_repeated_query_key_is_400(client, db_config):
    response = client.post(f"{API}/sessions?x=1&x=2", json={"guildId": GUILD_ID})

    assert response.status_code == 400
    assert "'x'" in response.json()["error"]


# GET /sessions/{sessionId}


def test_get_session_returns_stored(client, db_config):
    session = start_session(client)

    response = client.get(f"{API}/sessions/{session['ID']}")

    assert response.status_code == 200
    assert response.json() == session


def test_get_session_unknown_is_404(client, db_config):
    response = client.get(f"{API}/sessions/{record_id('nope', 1)}")

    assert response.status_code == 404
    assert record_id("nope", 1) in response.json()["error"]


def test_get_session_id_is_case_sensitive(client, db_config):
    insert_session(db_config, "AbCdEfGhIjKlMnOpQrStUv")

    response = client.get(f"{API}/sessions/abcdefghijklmnopqrstuv")

    assert response.status_code == 404


def test_get_session_malformed_id_is_400(client, db_config):
    response = client.get(f"{API}/sessions/not%20an%20id")

    assert response.status_code == 400
    assert "sessionId" in response.json()["error"]


# GET /sessions?guildIds=


def test_list_sessions_response_keys(client, db_config):
    start_session(client)

    body = client.get(f"{API}/sessions", params={"guildIds": str(GUILD_ID)}).json()

    assert set(body) == {"sessions", "count"}
    assert body["count"] == 1
    assert set(body["sessions"][0]) == SESSION_KEYS


def test_list_sessions_newest_first(client, db_config):
    ids = insert_sessions(db_config, 5)

    body = client.get(f"{API}/sessions", params={"guildIds": str(GUILD_ID)}).json()

    assert [session["ID"] for session in body["sessions"]] == ids[::-1]


def test_list_sessions_only_listed_guilds(client, db_config):
    listed = start_session(client, GUILD_ID)
    start_session(client, OTHER_GUILD_ID)

    body = client.get(f"{API}/sessions", params={"guildIds": str(GUILD_ID)}).json()

    assert [session["ID"] for session in body["sessions"]] == [listed["ID"]]


def test_list_sessions_several_guilds(client, db_config):
    first = start_session(client, GUILD_ID)
    second = start_session(client, OTHER_GUILD_ID)
    start_session(client, 5)

    body = client.get(f"{API}/sessions", params={"guildIds": f"{GUILD_ID},{OTHER_GUILD_ID}"}).json()

    assert {session["ID"] for session in body["sessions"]} == {first["ID"], second["ID"]}
    assert body["count"] == 2


def test_list_sessions_guild_ids_trimmed(client, db_config):
    first = start_session(client, GUILD_ID)
    second = start_session(client, OTHER_GUILD_ID)

    response = client.get(
        f"{API}/sessions", params={"guildIds": f" {GUILD_ID} ,, {OTHER_GUILD_ID},"}
    )

    assert response.status_code == 200
    assert {session["ID"] for session in response.json()["sessions"]} == {first["ID"], second["ID"]}


def test_list_sessions_unknown_guild_is_empty(client, db_config):
    response = client.get(f"{API}/sessions", params={"guildIds": "42"})

    assert response.status_code == 200
    assert response.json() == {"sessions": [], "count": 0}


def test_list_sessions_100_distinct_guild_ids(client, db_config):
    session = start_session(client, 100)
    guild_ids = [str(number) for number in range(1, 101)]

    response = client.get(f"{API}/sessions", params={"guildIds": ",".join(guild_ids + guild_ids)})

    assert response.status_code == 200
    assert [item["ID"] for item in response.json()["sessions"]] == [session["ID"]]


def test_list_sessions_101_guild_ids_is_400(client, db_config):
    guild_ids = ",".join(str(number) for number in range(1, 102))

    response = client.get(f"{API}/sessions", params={"guildIds": guild_ids})

    assert response.status_code == 400
    assert "100" in response.json()["error"]


def test_list_sessions_missing_guild_ids_is_400(client, db_config):
    response = client.get(f"{API}/sessions")

    assert response.status_code == 400
    assert "guildIds" in response.json()["error"]


@pytest.mark.parametrize("value", ["", ",", " , ,"])
def test_list_sessions_no_guild_id_is_400(client, db_config, value):
    response = client.get(f"{API}/sessions", params={"guildIds": value})

    assert response.status_code == 400
    assert "guildIds" in response.json()["error"]


@pytest.mark.parametrize("item", ["abc", "0", "-1", "1.5", str(2**63), "1e3"])
def test_list_sessions_invalid_guild_id_is_400(client, db_config, item):
    response = client.get(f"{API}/sessions", params={"guildIds": f"1,{item}"})

    assert response.status_code == 400
    assert "guildIds" in response.json()["error"]
    assert item in response.json()["error"]


def test_list_sessions_repeated_guild_ids_is_400(client, db_config):
    response = client.get(f"{API}/sessions?guildIds=1&guildIds=2")

    assert response.status_code == 400
    assert "guildIds" in response.json()["error"]


def test_list_sessions_repeated_limit_is_400(client, db_config):
    response = client.get(f"{API}/sessions?guildIds=1&limit=5&limit=5")

    assert response.status_code == 400
    assert "limit" in response.json()["error"]


def test_list_sessions_limit(client, db_config):
    ids = insert_sessions(db_config, 520)

    default = client.get(f"{API}/sessions", params={"guildIds": str(GUILD_ID)}).json()
    three = client.get(f"{API}/sessions", params={"guildIds": str(GUILD_ID), "limit": "3"}).json()
    clamped = client.get(
        f"{API}/sessions", params={"guildIds": str(GUILD_ID), "limit": "100000"}
    ).json()

    assert default["count"] == 50
    assert [session["ID"] for session in default["sessions"]] == ids[::-1][:50]
    assert [session["ID"] for session in three["sessions"]] == ids[::-1][:3]
    assert clamped["count"] == 500
    assert [session["ID"] for session in clamped["sessions"]] == ids[::-1][:500]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "2.5", "", "1e2", "+5"])
def test_list_sessions_invalid_limit_is_400(client, db_config, limit):
    response = client.get(f"{API}/sessions", params={"guildIds": "1", "limit": limit})

    assert response.status_code == 400
    assert "limit" in response.json()["error"]


# PATCH /sessions/{sessionId}


def test_end_session_without_plays_deletes_it(client, db_config):
    session = start_session(client)

    response = client.patch(f"{API}/sessions/{session['ID']}")

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"{API}/sessions/{session['ID']}").status_code == 404
    assert stored_session_count(db_config) == 0


def test_end_session_with_plays_sets_ended_at(client, db_config):
    session = start_session(client)
    start_track(client, session["ID"])

    response = client.patch(f"{API}/sessions/{session['ID']}")

    assert response.status_code == 200
    ended = response.json()
    assert set(ended) == SESSION_KEYS
    assert ended["ID"] == session["ID"]
    assert ended["StartedAt"] == session["StartedAt"]
    assert WIRE_TIME.fullmatch(ended["EndedAt"])
    assert parse_wire_time(ended["EndedAt"]) >= parse_wire_time(session["StartedAt"])
    assert client.get(f"{API}/sessions/{session['ID']}").json() == ended


def test_end_session_with_invalid_play_is_kept(client, db_config):
    session = start_session(client)
    track = start_track(client, session["ID"], durationMs=20_000)
    client.patch(f"{API}/tracks/{track['ID']}", json={"playedDurationMs": 1000})

    response = client.patch(f"{API}/sessions/{session['ID']}")

    assert response.status_code == 200
    assert response.json()["EndedAt"] is not None


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"content": b""},
        {"content": b"   "},
        {"json": {}},
        {"json": {"endedAt": None}},
        {"json": {"unknown": 1}},
    ],
    ids=["no-body", "empty-body", "blank-body", "empty-object", "null-ended-at", "unknown-field"],
)
def test_end_session_bodies_without_ended_at(client, db_config, request_body):
    session = start_session(client)
    start_track(client, session["ID"])
    empty = start_session(client)

    ended = client.patch(f"{API}/sessions/{session['ID']}", **request_body)
    deleted = client.patch(f"{API}/sessions/{empty['ID']}", **request_body)

    assert ended.status_code == 200
    assert ended.json()["EndedAt"] is not None
    assert deleted.status_code == 204


def test_end_session_given_ended_at(client, db_config):
    session = start_session(client)
    start_track(client, session["ID"])
    ended_at = parse_wire_time(session["StartedAt"]) + timedelta(seconds=2, microseconds=345_678)

    response = client.patch(
        f"{API}/sessions/{session['ID']}",
        json={"endedAt": ended_at.astimezone(PLUS_TEN).isoformat()},
    )

    assert response.status_code == 200
    assert response.json()["EndedAt"] == wire_time(ended_at)


def test_end_session_already_ended_is_unchanged(client, db_config):
    session = start_session(client)
    start_track(client, session["ID"])
    first = client.patch(f"{API}/sessions/{session['ID']}").json()
    later = parse_wire_time(first["EndedAt"]) + timedelta(seconds=1)

    response = client.patch(f"{API}/sessions/{session['ID']}", json={"endedAt": wire_time(later)})

    assert response.status_code == 200
    assert response.json() == first


def test_end_session_before_start_is_400(client, db_config):
    session = start_session(client)
    start_track(client, session["ID"])
    before = parse_wire_time(session["StartedAt"]) - timedelta(milliseconds=1)

    response = client.patch(f"{API}/sessions/{session['ID']}", json={"endedAt": wire_time(before)})

    assert response.status_code == 400
    assert "endedAt" in response.json()["error"]
    assert client.get(f"{API}/sessions/{session['ID']}").json()["EndedAt"] is None


def test_end_session_at_start_is_200(client, db_config):
    session = start_session(client)
    insert_plays(
        db_config,
        [play_row("p" * 22, session["ID"], parse_wire_time(session["StartedAt"]))],
    )

    response = client.patch(
        f"{API}/sessions/{session['ID']}", json={"endedAt": session["StartedAt"]}
    )

    assert response.status_code == 200
    assert response.json()["EndedAt"] == session["StartedAt"]


@pytest.mark.parametrize(
    "ended_at", ["2026-01-16T10:30:00", "2026-01-16", "yesterday", 1700000000, True]
)
def test_end_session_invalid_ended_at_is_400(client, db_config, ended_at):
    session = start_session(client)

    response = client.patch(f"{API}/sessions/{session['ID']}", json={"endedAt": ended_at})

    assert response.status_code == 400
    assert "endedAt" in response.json()["error"]
    assert stored_session_count(db_config) == 1


def test_end_session_unknown_is_404(client, db_config):
    response = client.patch(f"{API}/sessions/{record_id('nope', 2)}")

    assert response.status_code == 404


def test_end_session_unknown_with_bad_body_is_400(client, db_config):
    response = client.patch(f"{API}/sessions/{record_id('nope', 3)}", json={"endedAt": "soon"})

    assert response.status_code == 400


# GET /sessions/{sessionId}/tracks


def test_list_session_tracks_oldest_first(client, db_config):
    insert_session(db_config, "s" * 22)
    plays = [
        play_row(record_id("t", index), "s" * 22, HISTORY_START + timedelta(seconds=index))
        for index in range(5)
    ]
    insert_plays(db_config, plays[::-1])

    body = client.get(f"{API}/sessions/{'s' * 22}/tracks").json()

    assert set(body) == {"trackPlays", "count"}
    assert body["count"] == 5
    assert [track["ID"] for track in body["trackPlays"]] == [play["id"] for play in plays]


def test_list_session_tracks_includes_every_state(client, db_config):
    session = start_session(client)
    open_track = start_track(client, session["ID"])
    invalid = start_track(client, session["ID"], durationMs=20_000)
    client.patch(f"{API}/tracks/{invalid['ID']}", json={"playedDurationMs": 20_000})

    body = client.get(f"{API}/sessions/{session['ID']}/tracks").json()

    assert {track["ID"] for track in body["trackPlays"]} == {open_track["ID"], invalid["ID"]}


def test_list_session_tracks_empty(client, db_config):
    session = start_session(client)

    response = client.get(f"{API}/sessions/{session['ID']}/tracks")

    assert response.status_code == 200
    assert response.json() == {"trackPlays": [], "count": 0}


def test_list_session_tracks_unknown_is_404(client, db_config):
    response = client.get(f"{API}/sessions/{record_id('nope', 4)}/tracks")

    assert response.status_code == 404


# POST /sessions/{sessionId}/tracks: the session's state


def test_start_track_on_ended_session_is_409(client, db_config):
    session = start_session(client)
    start_track(client, session["ID"])
    client.patch(f"{API}/sessions/{session['ID']}")

    response = client.post(f"{API}/sessions/{session['ID']}/tracks", json=track_body())

    assert response.status_code == 409
    assert session["ID"] in response.json()["error"]
    assert query_sql(db_config, "SELECT COUNT(*) FROM track_plays")[0][0] == 1


def test_start_track_on_unknown_session_is_404(client, db_config):
    response = client.post(f"{API}/sessions/{record_id('nope', 5)}/tracks", json=track_body())

    assert response.status_code == 404


def test_start_track_ended_bad_body_is_400(client, db_config):
    session = start_session(client)
    start_track(client, session["ID"])
    client.patch(f"{API}/sessions/{session['ID']}")

    response = client.post(f"{API}/sessions/{session['ID']}/tracks", json=track_body(title=" "))

    assert response.status_code == 400


def test_start_track_unknown_bad_body_is_400(client, db_config):
    response = client.post(f"{API}/sessions/{record_id('nope', 6)}/tracks", json={})

    assert response.status_code == 400
