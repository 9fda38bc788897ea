"""Recently played tracks of a guild and of a user: only ended, valid plays, newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import (
    API,
    GUILD_ID,
    HISTORY_START,
    MAX_SNOWFLAKE,
    OTHER_GUILD_ID,
    OTHER_USER_ID,
    USER_ID,
    insert_history,
    insert_plays,
    insert_session,
    play_row,
    record_id,
    start_played_track,
    start_session,
    start_track,
)

GUILD_RECENTS = f"{API}/guilds/{GUILD_ID}/tracks/recent"
USER_RECENTS = f"{API}/users/{USER_ID}/tracks/recent"
RECENTS = [GUILD_RECENTS, USER_RECENTS]


def ids(body: dict) -> list[str]:
    return [track["ID"] for track in body["trackPlays"]]


def newest_first(plays: list[dict]) -> list[str]:
    """Return the ids newest first; plays that started at the same moment go by id, descending."""
    ordered = sorted(plays, key=lambda play: (play["started_at"], play["id"]), reverse=True)
    return [play["id"] for play in ordered]


# Guild recents


def test_guild_recents_response_keys(client, db_config):
    insert_history(db_config, 1)

    body = client.get(GUILD_RECENTS).json()

    assert set(body) == {"trackPlays", "count", "guildId"}
    assert body["guildId"] == str(GUILD_ID)
    assert body["count"] == 1


def test_guild_recents_guild_id_is_path_string(client, db_config):
    body = client.get(f"{API}/guilds/{MAX_SNOWFLAKE}/tracks/recent").json()

    assert body["guildId"] == str(MAX_SNOWFLAKE)


def test_guild_recents_newest_first(client, db_config):
    plays = insert_history(db_config, 6)

    body = client.get(GUILD_RECENTS).json()

    assert ids(body) == newest_first(plays)


def test_guild_recents_only_that_guild(client, db_config):
    plays = insert_history(db_config, 3, GUILD_ID)
    insert_history(db_config, 3, OTHER_GUILD_ID)

    body = client.get(GUILD_RECENTS).json()

    assert ids(body) == newest_first(plays)


def test_guild_recents_skip_open_and_invalid(client, db_config):
    session = start_session(client)
    valid = start_track(client, session["ID"], durationMs=100_000)
    client.patch(f"{API}/tracks/{valid['ID']}", json={"playedDurationMs": 15_000})
    invalid = start_track(client, session["ID"], durationMs=100_000)
    client.patch(f"{API}/tracks/{invalid['ID']}", json={"playedDurationMs": 14_999})
    start_track(client, session["ID"])

    body = client.get(GUILD_RECENTS).json()

    assert ids(body) == [valid["ID"]]


def test_guild_recents_unknown_guild_is_empty(client, db_config):
    response = client.get(f"{API}/guilds/42/tracks/recent")

    assert response.status_code == 200
    assert response.json() == {"trackPlays": [], "count": 0, "guildId": "42"}


def test_guild_recents_wire_objects(client, db_config):
    track = start_played_track(client, durationMs=100_000)
    ended = client.patch(f"{API}/tracks/{track['ID']}", json={"playedDurationMs": 50_000}).json()

    body = client.get(GUILD_RECENTS).json()

    assert body["trackPlays"] == [ended]


# User recents


def test_user_recents_response_keys(client, db_config):
    insert_history(db_config, 1)

    body = client.get(USER_RECENTS).json()

    assert set(body) == {"trackPlays", "count", "userId"}
    assert body["userId"] == str(USER_ID)
    assert body["count"] == 1


def test_user_recents_newest_first(client, db_config):
    plays = insert_history(db_config, 6)

    body = client.get(USER_RECENTS).json()

    assert ids(body) == newest_first(plays)


def test_user_recents_only_listened_plays(client, db_config):
    listened = insert_history(db_config, 3, GUILD_ID, listener_ids=[USER_ID, OTHER_USER_ID])
    insert_history(db_config, 3, GUILD_ID, listener_ids=[OTHER_USER_ID])
    other_guild = insert_history(db_config, 2, OTHER_GUILD_ID, listener_ids=[USER_ID])

    body = client.get(USER_RECENTS).json()

    assert ids(body) == newest_first(listened + other_guild)


def test_user_recents_queued_but_not_listening_excluded(client, db_config):
    track = start_played_track(
        client, durationMs=100_000, queuedByUser=USER_ID, listenerIds=[OTHER_USER_ID]
    )
    client.patch(f"{API}/tracks/{track['ID']}", json={"playedDurationMs": 50_000})

    body = client.get(USER_RECENTS).json()

    assert body["count"] == 0


def test_user_recents_skip_open_and_invalid(client, db_config):
    insert_session(db_config, "s" * 22)
    plays = [
        play_row("a" * 22, "s" * 22, HISTORY_START, ended_at=None, played_duration_ms=0),
        play_row("b" * 22, "s" * 22, HISTORY_START + timedelta(minutes=1), is_valid=False),
        play_row("c" * 22, "s" * 22, HISTORY_START + timedelta(minutes=2)),
    ]
    insert_plays(db_config, plays, [USER_ID])

    body = client.get(USER_RECENTS).json()

    assert ids(body) == ["c" * 22]


def test_user_recents_unknown_user_is_empty(client, db_config):
    response = client.get(f"{API}/users/42/tracks/recent")

    assert response.status_code == 200
    assert response.json() == {"trackPlays": [], "count": 0, "userId": "42"}


# Both: limit, path and query validation


@pytest.mark.parametrize("path", RECENTS, ids=["guild", "user"])
def test_recents_limit(client, db_config, path):
    plays = insert_history(db_config, 520)
    expected = newest_first(plays)

    default = client.get(path).json()
    seven = client.get(path, params={"limit": "7"}).json()
    at_max = client.get(path, params={"limit": "500"}).json()
    clamped = client.get(path, params={"limit": "501"}).json()
    huge = client.get(path, params={"limit": "99999999999999999999999"}).json()

    assert ids(default) == expected[:50]
    assert default["count"] == 50
    assert ids(seven) == expected[:7]
    assert ids(at_max) == expected[:500]
    assert ids(clamped) == expected[:500]
    assert clamped["count"] == 500
    assert huge["count"] == 500


@pytest.mark.parametrize("path", RECENTS, ids=["guild", "user"])
@pytest.mark.parametrize("limit", ["0", "-1", "abc", "2.5", "", "0x10"])
def test_recents_invalid_limit_is_400(client, db_config, path, limit):
    response = client.get(path, params={"limit": limit})

    assert response.status_code == 400
    assert "limit" in response.json()["error"]


@pytest.mark.parametrize("path", RECENTS, ids=["guild", "user"])
def test_recents_repeated_limit_is_400(client, db_config, path):
    response = client.get(f"{path}?limit=5&limit=6")

    assert response.status_code == 400
    assert "limit" in response.json()["error"]


@pytest.mark.parametrize("kind", ["guilds", "users"])
@pytest.mark.parametrize("snowflake", ["0", "abc", "-1", str(2**63), "1.5"])
def test_recents_invalid_path_snowflake_is_400(client, db_config, kind, snowflake):
    response = client.get(f"{API}/{kind}/{snowflake}/tracks/recent")

    assert response.status_code == 400
    assert snowflake in response.json()["error"]


@pytest.mark.parametrize("path", RECENTS, ids=["guild", "user"])
def test_recents_without_key_is_401(anonymous, db_config, path):
    response = anonymous.get(path)

    assert response.status_code == 401


def test_recents_same_start_ordered_by_id(client, db_config):
    insert_session(db_config, "s" * 22, GUILD_ID)
    same_time = [play_row(record_id("t", index), "s" * 22, HISTORY_START) for index in range(3)]
    insert_plays(db_config, same_time, [USER_ID])

    guild = client.get(GUILD_RECENTS).json()
    user = client.get(USER_RECENTS).json()

    assert ids(guild) == sorted(ids(guild), reverse=True)
    assert ids(user) == ids(guild)
