"""Recommended artists of a guild and of a user, over their newest valid, ended plays."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from service.app import create_app
from tests.conftest import TEST_API_KEY, make_settings
from tests.factories import (
    API,
    GUILD_ID,
    HISTORY_START,
    OTHER_GUILD_ID,
    OTHER_USER_ID,
    USER_ID,
    insert_history,
    insert_plays,
    insert_session,
    play_row,
    record_id,
)

GUILD_ARTISTS = f"{API}/guilds/{GUILD_ID}/artists/recommended"
USER_ARTISTS = f"{API}/users/{USER_ID}/artists/recommended"
ARTISTS = [GUILD_ARTISTS, USER_ARTISTS]
SESSION_ID = "s" * 22


def insert_artist_plays(
    config, artists: list[str], start: datetime = HISTORY_START, **overrides
) -> list[dict]:
    """Insert one play per artist, a minute apart in list order, all listened to by USER_ID."""
    insert_session(config, SESSION_ID, GUILD_ID, min(start, HISTORY_START))
    plays = [
        play_row(record_id("a", index), SESSION_ID, start + timedelta(minutes=index), **overrides)
        for index, artist in enumerate(artists)
    ]
    for play, artist in zip(plays, artists, strict=True):
        play["artist"] = artist
    insert_plays(config, plays, [USER_ID])
    return plays


def names(body: dict) -> list[str]:
    return [item["artist"] for item in body["recommended_artists"]]


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_response_shape(client, db_config, path):
    insert_artist_plays(db_config, ["Queen"])

    body = client.get(path).json()

    assert set(body) == {"recommended_artists"}
    assert len(body["recommended_artists"]) == 1
    assert set(body["recommended_artists"][0]) == {"artist", "weight"}
    assert isinstance(body["recommended_artists"][0]["weight"], float)


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_empty(client, db_config, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == {"recommended_artists": []}


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_ordered_by_latest_play(client, db_config, path):
    insert_artist_plays(db_config, ["Queen", "ABBA", "Queen", "Muse", "Blur"])

    body = client.get(path).json()

    assert names(body) == ["Blur", "Muse", "Queen", "ABBA"]


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_grouped_by_normalized_artist(client, db_config, path):
    start = datetime.now(UTC) - timedelta(hours=1)
    nfc, nfd = "Beyonc\u00e9", "Beyonce\u0301"
    insert_artist_plays(
        db_config, ["the beatles", nfc, "THE BEATLES", "  The   Beatles ", nfd], start
    )

    body = client.get(path).json()

    assert names(body) == [nfd, "  The   Beatles "]
    weights = [item["weight"] for item in body["recommended_artists"]]
    assert weights[0] == pytest.approx(math.exp(-(56 / 60) / 48) * math.log(3), rel=1e-3)
    assert weights[1] == pytest.approx(math.exp(-(57 / 60) / 48) * math.log(4), rel=1e-3)


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_accents_not_merged(client, db_config, path):
    # MariaDB's utf8mb4 collations compare these equal; the service groups in Python instead.
    insert_artist_plays(db_config, ["Beyonc\u00e9", "Beyonce", "beyonce "])

    body = client.get(path).json()

    assert names(body) == ["beyonce ", "Beyonc\u00e9"]


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_placeholders_excluded(client, db_config, path):
    insert_artist_plays(
        db_config, ["Queen", "Unknown Artist", " various  artists", "VARIOUS", "unknown", "N/A"]
    )

    body = client.get(path).json()

    assert names(body) == ["Queen"]


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_placeholders_fill_seed_window(client, db_config, path):
    insert_artist_plays(db_config, ["Queen", "Muse", "Unknown Artist", "Various Artists"])

    body = client.get(path, params={"seedCount": "3"}).json()

    assert names(body) == ["Muse"]


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_skip_open_and_invalid(client, db_config, path):
    insert_session(db_config, SESSION_ID)
    plays = [
        play_row("o" * 22, SESSION_ID, HISTORY_START, ended_at=None, artist="Open"),
        play_row("i" * 22, SESSION_ID, HISTORY_START, is_valid=False, artist="Invalid"),
        play_row("v" * 22, SESSION_ID, HISTORY_START, artist="Valid"),
    ]
    insert_plays(db_config, plays, [USER_ID])

    body = client.get(path).json()

    assert names(body) == ["Valid"]


def test_recommended_guild_only_its_plays(client, db_config):
    insert_history(db_config, 2, GUILD_ID, artist="Mine")
    insert_history(db_config, 2, OTHER_GUILD_ID, artist="Theirs")

    body = client.get(GUILD_ARTISTS).json()

    assert names(body) == ["Mine"]


def test_recommended_user_only_listened_plays(client, db_config):
    insert_history(db_config, 2, OTHER_GUILD_ID, listener_ids=[USER_ID], artist="Listened")
    insert_history(db_config, 2, GUILD_ID, listener_ids=[OTHER_USER_ID], artist="Elsewhere")

    body = client.get(USER_ARTISTS).json()

    assert names(body) == ["Listened"]


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_weight_formula(client, db_config, path):
    two_days_ago = datetime.now(UTC) - timedelta(hours=48)
    insert_artist_plays(
        db_config, ["Queen", "Queen", "Queen"], start=two_days_ago - timedelta(minutes=2)
    )

    weight = client.get(path).json()["recommended_artists"][0]["weight"]

    assert weight == pytest.approx(math.exp(-1) * math.log(4), rel=1e-4)


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_weight_floor(client, db_config, path):
    insert_artist_plays(db_config, ["Queen"], start=datetime(2001, 1, 1, tzinfo=UTC))

    weight = client.get(path).json()["recommended_artists"][0]["weight"]

    assert weight == 0.0001


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_seed_count_limits_window(client, db_config, path):
    insert_artist_plays(db_config, ["Old", "Queen", "Muse"])

    body = client.get(path, params={"seedCount": "2"}).json()

    assert names(body) == ["Muse", "Queen"]


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_seed_count_default_1000(client, db_config, path):
    insert_history(db_config, 1, artist="Oldest", step=timedelta(minutes=1))
    insert_history(db_config, 1000, artist="Queen", step=timedelta(minutes=5))

    default = client.get(path).json()
    wider = client.get(path, params={"seedCount": "1001"}).json()

    assert names(default) == ["Queen"]
    assert names(wider) == ["Queen", "Oldest"]


def test_recommended_seed_count_clamped_to_5000(client, db_config):
    insert_history(db_config, 1, artist="Oldest", step=timedelta(seconds=1))
    insert_history(db_config, 5000, artist="Queen", listener_ids=(), step=timedelta(minutes=1))

    response = client.get(GUILD_ARTISTS, params={"seedCount": "5001"})

    assert response.status_code == 200
    assert names(response.json()) == ["Queen"]


def test_recommended_seed_count_setting(settings, db_config):
    insert_artist_plays(db_config, ["Old", "Queen", "Muse"])
    app = create_app(make_settings(db_config, recommend_seed_count=2))

    with TestClient(app, headers={"X-API-Key": TEST_API_KEY}) as client:
        body = client.get(GUILD_ARTISTS).json()

    assert names(body) == ["Muse", "Queen"]


def test_recommended_tau_setting(db_config):
    one_day_ago = datetime.now(UTC) - timedelta(hours=24)
    insert_artist_plays(db_config, ["Queen"], start=one_day_ago)
    app = create_app(make_settings(db_config, recommend_tau_hours=24))

    with TestClient(app, headers={"X-API-Key": TEST_API_KEY}) as client:
        weight = client.get(GUILD_ARTISTS).json()["recommended_artists"][0]["weight"]

    assert weight == pytest.approx(math.exp(-1) * math.log(2), rel=1e-4)


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
@pytest.mark.parametrize("seed_count", ["0", "-1", "abc", "1.5", ""])
def test_recommended_invalid_seed_count_is_400(client, db_config, path, seed_count):
    response = client.get(path, params={"seedCount": seed_count})

    assert response.status_code == 400
    assert "seedCount" in response.json()["error"]


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_repeated_seed_count_is_400(client, db_config, path):
    response = client.get(f"{path}?seedCount=5&seedCount=5")

    assert response.status_code == 400
    assert "seedCount" in response.json()["error"]


@pytest.mark.parametrize("kind", ["guilds", "users"])
@pytest.mark.parametrize("snowflake", ["0", "abc", str(2**63)])
def test_recommended_invalid_path_snowflake_is_400(client, db_config, kind, snowflake):
    response = client.get(f"{API}/{kind}/{snowflake}/artists/recommended")

    assert response.status_code == 400


@pytest.mark.parametrize("path", ARTISTS, ids=["guild", "user"])
def test_recommended_without_key_is_401(anonymous, db_config, path):
    assert anonymous.get(path).status_code == 401
