"""Track plays: start with listeners, read, end with the validity rule, list listeners."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from starlette.testclient import TestClient

from service.app import create_app
from tests.conftest import TEST_API_KEY, make_settings, query_sql, run_sql
from tests.factories import (
    API,
    GUILD_ID,
    MAX_SNOWFLAKE,
    OTHER_USER_ID,
    STREAM_DURATION_MS,
    USER_ID,
    parse_wire_time,
    record_id,
    start_played_track,
    start_session,
    start_track,
    track_body,
    wire_time,
)

TRACK_PLAY_KEYS = {
    "ID",
    "SessionID",
    "GuildID",
    "Source",
    "SourceID",
    "URL",
    "Title",
    "Artist",
    "StartedAt",
    "EndedAt",
    "DurationMs",
    "PlayedDurationMs",
    "QueuedByUser",
    "IsValid",
}
REQUIRED_FIELDS = [
    "source",
    "sourceId",
    "url",
    "title",
    "artist",
    "durationMs",
    "queuedByUser",
    "listenerIds",
]
TEXT_LIMITS = {"source": 64, "sourceId": 255, "url": 2048, "title": 1000, "artist": 1000}
TEXT_COLUMNS = {
    "source": "source",
    "sourceId": "source_id",
    "url": "url",
    "title": "title",
    "artist": "artist",
}
# A user id that the test trigger rejects as a listener.
REJECTED_LISTENER_ID = 13


def stored_play_count(config) -> int:
    return query_sql(config, "SELECT COUNT(*) FROM track_plays")[0][0]


def stored_listener_count(config) -> int:
    return query_sql(config, "SELECT COUNT(*) FROM track_play_listeners")[0][0]


def stored_play(config, track_play_id: str) -> tuple:
    rows = query_sql(
        config,
        "SELECT played_duration_ms, is_valid, ended_at, duration_ms "
        f"FROM track_plays WHERE id = '{track_play_id}'",
    )
    assert len(rows) == 1
    return rows[0]


def end_track(client: TestClient, track_play_id: str, played_ms: int, **fields):
    return client.patch(
        f"{API}/tracks/{track_play_id}", json={"playedDurationMs": played_ms, **fields}
    )


def later(track: dict, **delta: float) -> datetime:
    """Return a moment after the play's start, inside the 5 minutes a clock may run ahead."""
    return parse_wire_time(track["StartedAt"]) + timedelta(**delta)


# POST /sessions/{sessionId}/tracks


def test_start_track_returns_201(client, db_config):
    session = start_session(client)

    response = client.post(f"{API}/sessions/{session['ID']}/tracks", json=track_body())

    assert response.status_code == 201
    assert set(response.json()) == TRACK_PLAY_KEYS


def test_start_track_is_provisional(client, db_config):
    session = start_session(client)
    body = track_body()

    track = start_track(client, session["ID"])

    assert len(track["ID"]) == 22
    assert track["SessionID"] == session["ID"]
    assert track["GuildID"] == GUILD_ID
    assert track["Source"] == body["source"]
    assert track["SourceID"] == body["sourceId"]
    assert track["URL"] == body["url"]
    assert track["Title"] == body["title"]
    assert track["Artist"] == body["artist"]
    assert track["DurationMs"] == body["durationMs"]
    assert track["QueuedByUser"] == USER_ID
    assert track["EndedAt"] is None
    assert track["PlayedDurationMs"] == 0
    assert track["IsValid"] is True
    assert parse_wire_time(track["StartedAt"]) >= parse_wire_time(session["StartedAt"])


def test_start_track_guild_is_sessions(client, db_config):
    session = start_session(client, 77)

    track = start_track(client, session["ID"], guildId=GUILD_ID)

    assert track["GuildID"] == 77


def test_get_track_returns_stored(client, db_config):
    track = start_played_track(client)

    response = client.get(f"{API}/tracks/{track['ID']}")

    assert response.status_code == 200
    assert response.json() == track


def test_get_track_unknown_is_404(client, db_config):
    response = client.get(f"{API}/tracks/{record_id('nope', 1)}")

    assert response.status_code == 404
    assert record_id("nope", 1) in response.json()["error"]


def test_get_track_id_is_case_sensitive(client, db_config):
    track = start_played_track(client)

    response = client.get(f"{API}/tracks/{track['ID'].swapcase()}")

    assert response.status_code == 404


def test_start_track_zero_duration_accepted(client, db_config):
    track = start_played_track(client, durationMs=0)

    assert track["DurationMs"] == 0


@pytest.mark.parametrize("duration_ms", [STREAM_DURATION_MS, 2**53 + 1, 2**31])
def test_start_track_duration_returned_exactly(client, db_config, duration_ms):
    track = start_played_track(client, durationMs=duration_ms)

    assert track["DurationMs"] == duration_ms
    assert client.get(f"{API}/tracks/{track['ID']}").json()["DurationMs"] == duration_ms
    assert stored_play(db_config, track["ID"])[3] == duration_ms


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_start_track_missing_field_is_400(client, db_config, field):
    session = start_session(client)
    body = track_body()
    del body[field]

    response = client.post(f"{API}/sessions/{session['ID']}/tracks", json=body)

    assert response.status_code == 400
    assert field in response.json()["error"]
    assert stored_play_count(db_config) == 0


def test_start_track_empty_object_names_every_field(client, db_config):
    session = start_session(client)

    response = client.post(f"{API}/sessions/{session['ID']}/tracks", json={})

    assert response.status_code == 400
    fields = {detail["field"] for detail in response.json()["details"]}
    assert fields == set(REQUIRED_FIELDS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("durationMs", 1.5),
        ("durationMs", 1000.0),
        ("durationMs", True),
        ("durationMs", -1),
        ("durationMs", 2**63),
        ("durationMs", "1000"),
        ("durationMs", None),
        ("queuedByUser", 1.5),
        ("queuedByUser", True),
        ("queuedByUser", -1),
        ("queuedByUser", 0),
        ("queuedByUser", 2**63),
        ("queuedByUser", "12x"),
        ("queuedByUser", None),
        ("listenerIds", [0]),
        ("listenerIds", [-5]),
        ("listenerIds", [2**63]),
        ("listenerIds", [1.5]),
        ("listenerIds", [True]),
        ("listenerIds", ["abc"]),
        ("listenerIds", str(USER_ID)),
        ("listenerIds", USER_ID),
        ("listenerIds", None),
        ("title", 5),
        ("title", None),
        ("title", ["a"]),
        ("source", False),
        ("url", {"href": "x"}),
    ],
)
def test_start_track_wrong_type_is_400(client, db_config, field, value):
    session = start_session(client)

    response = client.post(
        f"{API}/sessions/{session['ID']}/tracks", json=track_body(**{field: value})
    )

    assert response.status_code == 400
    assert field in response.json()["error"]
    assert stored_play_count(db_config) == 0


def test_start_track_digit_string_snowflakes_accepted(client, db_config):
    session = start_session(client)

    track = start_track(
        client, session["ID"], queuedByUser=str(USER_ID), listenerIds=[str(OTHER_USER_ID)]
    )
    listeners = client.get(f"{API}/tracks/{track['ID']}/listeners").json()["listeners"]

    assert track["QueuedByUser"] == USER_ID
    assert listeners == [{"TrackPlayID": track["ID"], "UserID": OTHER_USER_ID}]


def test_start_track_max_snowflakes_round_trip(client, db_config):
    track = start_played_track(client, queuedByUser=MAX_SNOWFLAKE, listenerIds=[MAX_SNOWFLAKE])

    listeners = client.get(f"{API}/tracks/{track['ID']}/listeners").json()["listeners"]

    assert track["QueuedByUser"] == MAX_SNOWFLAKE
    assert listeners[0]["UserID"] == MAX_SNOWFLAKE


@pytest.mark.parametrize("field", list(TEXT_LIMITS))
def test_start_track_text_at_limit_accepted(client, db_config, field):
    # Three- and four-byte characters, so a limit counted in bytes or UTF-16 units would show.
    value = ("曲🎵" * TEXT_LIMITS[field])[: TEXT_LIMITS[field]]

    track = start_played_track(client, **{field: value})

    stored = query_sql(
        db_config, f"SELECT {TEXT_COLUMNS[field]} FROM track_plays WHERE id = '{track['ID']}'"
    )
    assert stored == [(value,)]


@pytest.mark.parametrize("field", list(TEXT_LIMITS))
def test_start_track_text_over_limit_is_400(client, db_config, field):
    session = start_session(client)
    value = "a" * (TEXT_LIMITS[field] + 1)

    response = client.post(
        f"{API}/sessions/{session['ID']}/tracks", json=track_body(**{field: value})
    )

    assert response.status_code == 400
    assert field in response.json()["error"]
    assert str(TEXT_LIMITS[field]) in response.json()["error"]
    assert stored_play_count(db_config) == 0


@pytest.mark.parametrize("field", list(TEXT_LIMITS))
@pytest.mark.parametrize("value", ["", " ", "\t\n ", "\u3000"])
def test_start_track_blank_text_is_400(client, db_config, field, value):
    session = start_session(client)

    response = client.post(
        f"{API}/sessions/{session['ID']}/tracks", json=track_body(**{field: value})
    )

    assert response.status_code == 400
    assert field in response.json()["error"]
    assert stored_play_count(db_config) == 0


def test_start_track_unknown_fields_ignored(client, db_config):
    session = start_session(client)

    response = client.post(
        f"{API}/sessions/{session['ID']}/tracks",
        json=track_body(thumbnail="https://example.invalid/x.jpg", isStream=False, extra={"a": 1}),
    )

    assert response.status_code == 201
    assert set(response.json()) == TRACK_PLAY_KEYS


def test_start_track_malformed_json_is_400(client, db_config):
    session = start_session(client)

    response = client.post(
        f"{API}/sessions/{session['ID']}/tracks",
        content=b'{"source": "youtube",',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert "JSON" in response.json()["error"]
    assert stored_play_count(db_config) == 0


@pytest.mark.parametrize(
    ("title", "artist"),
    [
        ("夜に駆ける 🌙🎵", "YOASOBI"),
        ("\uff2d\uff4f\uff4f\uff4e 月亮代表我的心", "鄧麗君"),
        ("강남스타일 👨‍👩‍👧‍👦", "PSY"),
        ("Café del Mar (e\u0301)", "Señor 🇦🇺"),
        ("'quoted' \"double\" % _ ;", "O'Connor"),
    ],
)
def test_start_track_unicode_round_trips(client, db_config, title, artist):
    track = start_played_track(client, title=title, artist=artist)

    read = client.get(f"{API}/tracks/{track['ID']}").json()
    stored = query_sql(
        db_config, f"SELECT title, artist FROM track_plays WHERE id = '{track['ID']}'"
    )

    assert track["Title"] == title
    assert read["Title"] == title
    assert read["Artist"] == artist
    assert stored == [(title, artist)]


# Listeners


def test_start_track_listeners_stored_once(client, db_config):
    track = start_played_track(
        client, listenerIds=[OTHER_USER_ID, USER_ID, OTHER_USER_ID, str(USER_ID)]
    )

    body = client.get(f"{API}/tracks/{track['ID']}/listeners").json()

    assert body == {
        "listeners": [
            {"TrackPlayID": track["ID"], "UserID": USER_ID},
            {"TrackPlayID": track["ID"], "UserID": OTHER_USER_ID},
        ],
        "count": 2,
    }
    assert stored_listener_count(db_config) == 2


def test_start_track_no_listeners(client, db_config):
    track = start_played_track(client, listenerIds=[])

    response = client.get(f"{API}/tracks/{track['ID']}/listeners")

    assert response.status_code == 200
    assert response.json() == {"listeners": [], "count": 0}


def test_list_listeners_unknown_play_is_404(client, db_config):
    response = client.get(f"{API}/tracks/{record_id('nope', 2)}/listeners")

    assert response.status_code == 404


@pytest.fixture
def rejecting_listener_trigger(db_config):
    """Make the database reject REJECTED_LISTENER_ID as a listener, as a failing insert would."""
    if db_config.backend == "sqlite":
        create = (
            "CREATE TRIGGER reject_test_listener BEFORE INSERT ON track_play_listeners "
            f"WHEN NEW.user_id = {REJECTED_LISTENER_ID} "
            "BEGIN SELECT RAISE(ABORT, 'test trigger rejected the listener'); END"
        )
    else:
        create = (
            "CREATE TRIGGER reject_test_listener BEFORE INSERT ON track_play_listeners "
            f"FOR EACH ROW BEGIN IF NEW.user_id = {REJECTED_LISTENER_ID} THEN "
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'test trigger rejected the listener'; "
            "END IF; END"
        )
    run_sql(db_config, [create])
    yield
    run_sql(db_config, ["DROP TRIGGER IF EXISTS reject_test_listener"])


@pytest.fixture
def server_error_client(settings, rejecting_listener_trigger) -> Iterator[TestClient]:
    """A client that receives the 500 response instead of the server's exception."""
    app = create_app(settings)
    with TestClient(
        app, headers={"X-API-Key": TEST_API_KEY}, raise_server_exceptions=False
    ) as test_client:
        yield test_client


def test_start_track_failed_listener_leaves_nothing(server_error_client, db_config):
    session = start_session(server_error_client)

    response = server_error_client.post(
        f"{API}/sessions/{session['ID']}/tracks",
        json=track_body(listenerIds=[USER_ID, REJECTED_LISTENER_ID]),
    )

    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}
    assert stored_play_count(db_config) == 0
    assert stored_listener_count(db_config) == 0


def test_start_track_after_failed_listener_works(server_error_client, db_config):
    session = start_session(server_error_client)
    server_error_client.post(
        f"{API}/sessions/{session['ID']}/tracks",
        json=track_body(listenerIds=[REJECTED_LISTENER_ID]),
    )

    track = start_track(server_error_client, session["ID"], listenerIds=[USER_ID])

    assert stored_play_count(db_config) == 1
    assert track["SessionID"] == session["ID"]


# PATCH /tracks/{trackPlayId}: the validity rule at its boundaries


@pytest.mark.parametrize(
    ("duration_ms", "played_ms", "valid"),
    [
        (100_000, 14_999, False),
        (100_000, 15_000, True),
        (20_000, 20_000, False),
        (20_000, 60_000, False),
        (29_999, 29_999, False),
        (30_000, 4_499, False),
        (30_000, 4_500, True),
        (300_000, 29_999, False),
        (300_000, 30_000, True),
        (0, 29_999, False),
        (0, 30_000, True),
        (STREAM_DURATION_MS, 29_999, False),
        (STREAM_DURATION_MS, 30_000, True),
    ],
)
def test_end_track_validity(client, db_config, duration_ms, played_ms, valid):
    track = start_played_track(client, durationMs=duration_ms)

    response = end_track(client, track["ID"], played_ms)

    assert response.status_code == (200 if valid else 204)
    assert bool(stored_play(db_config, track["ID"])[1]) is valid


def test_end_track_valid_returns_play(client, db_config):
    track = start_played_track(client, durationMs=100_000)

    response = end_track(client, track["ID"], 15_000)

    ended = response.json()
    assert set(ended) == TRACK_PLAY_KEYS
    assert ended["PlayedDurationMs"] == 15_000
    assert ended["IsValid"] is True
    assert parse_wire_time(ended["EndedAt"]) >= parse_wire_time(track["StartedAt"])
    assert ended["StartedAt"] == track["StartedAt"]
    assert client.get(f"{API}/tracks/{track['ID']}").json() == ended


def test_end_track_invalid_is_204_and_kept(client, db_config):
    track = start_played_track(client, durationMs=100_000)

    response = end_track(client, track["ID"], 14_999)

    assert response.status_code == 204
    assert response.content == b""
    kept = client.get(f"{API}/tracks/{track['ID']}").json()
    assert kept["IsValid"] is False
    assert kept["PlayedDurationMs"] == 14_999
    assert kept["EndedAt"] is not None


def test_end_track_played_capped_at_duration(client, db_config):
    track = start_played_track(client, durationMs=100_000)

    response = end_track(client, track["ID"], 250_000)

    assert response.json()["PlayedDurationMs"] == 100_000
    assert stored_play(db_config, track["ID"])[0] == 100_000


def test_end_track_invalid_played_capped(client, db_config):
    track = start_played_track(client, durationMs=20_000)

    end_track(client, track["ID"], 90_000)

    assert stored_play(db_config, track["ID"])[0] == 20_000


@pytest.mark.parametrize("duration_ms", [0, STREAM_DURATION_MS])
def test_end_track_unknown_duration_not_capped(client, db_config, duration_ms):
    track = start_played_track(client, durationMs=duration_ms)

    response = end_track(client, track["ID"], 7_200_000)

    assert response.json()["PlayedDurationMs"] == 7_200_000
    assert response.json()["DurationMs"] == duration_ms


def test_end_track_max_played_duration(client, db_config):
    track = start_played_track(client, durationMs=STREAM_DURATION_MS)

    response = end_track(client, track["ID"], 2**63 - 1)

    assert response.json()["PlayedDurationMs"] == 2**63 - 1


def test_end_track_zero_played_is_invalid(client, db_config):
    track = start_played_track(client)

    assert end_track(client, track["ID"], 0).status_code == 204


def test_end_track_thresholds_from_settings(db_config):
    settings = make_settings(db_config, min_listen_ms=10_000, min_listen_fraction=0.5)

    with TestClient(create_app(settings), headers={"X-API-Key": TEST_API_KEY}) as client:
        short = start_played_track(client, durationMs=15_000)
        long = start_played_track(client, durationMs=100_000)
        short_end = end_track(client, short["ID"], 7_500)
        long_end = end_track(client, long["ID"], 9_999)

    assert short_end.status_code == 200
    assert long_end.status_code == 204


# PATCH /tracks/{trackPlayId}: the first end wins


def test_end_track_already_ended_valid_unchanged(client, db_config):
    track = start_played_track(client, durationMs=100_000)
    first = end_track(client, track["ID"], 50_000).json()

    again = end_track(client, track["ID"], 1_000, endedAt=wire_time(later(track, seconds=1)))

    assert again.status_code == 200
    assert again.json() == first


def test_end_track_already_ended_invalid_unchanged(client, db_config):
    track = start_played_track(client, durationMs=100_000)
    end_track(client, track["ID"], 1_000)
    first = client.get(f"{API}/tracks/{track['ID']}").json()

    again = end_track(client, track["ID"], 100_000)

    assert again.status_code == 204
    assert again.content == b""
    assert client.get(f"{API}/tracks/{track['ID']}").json() == first


def test_end_track_first_ended_at_wins(client, db_config):
    track = start_played_track(client, durationMs=100_000)
    first_end = later(track, seconds=3)
    end_track(client, track["ID"], 50_000, endedAt=wire_time(first_end))

    again = end_track(client, track["ID"], 50_000, endedAt=wire_time(later(track, seconds=9)))

    assert again.json()["EndedAt"] == wire_time(first_end)


async def end_concurrently(settings, track_play_id: str, played: list[int]) -> list[httpx.Response]:
    """Send every end at once through one app, whose requests interleave at each database call."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"X-API-Key": TEST_API_KEY}
        ) as async_client,
    ):
        return await asyncio.gather(
            *(
                async_client.patch(f"{API}/tracks/{track_play_id}", json={"playedDurationMs": ms})
                for ms in played
            )
        )


def test_end_track_concurrent_ends_store_one(client, settings, db_config):
    track = start_played_track(client, durationMs=100_000)
    played = [5_000 if index % 2 else 50_000 + index for index in range(8)]

    responses = asyncio.run(end_concurrently(settings, track["ID"], played))

    stored = client.get(f"{API}/tracks/{track['ID']}").json()
    assert {response.status_code for response in responses} in ({200}, {204})
    assert len({response.text for response in responses}) == 1
    assert stored["PlayedDurationMs"] in played
    if stored["IsValid"]:
        assert responses[0].json() == stored


# PATCH /tracks/{trackPlayId}: bad input


@pytest.mark.parametrize("played", [-1, 1.5, True, "15000", None, 2**63])
def test_end_track_invalid_played_is_400(client, db_config, played):
    track = start_played_track(client)

    response = end_track(client, track["ID"], played)

    assert response.status_code == 400
    assert "playedDurationMs" in response.json()["error"]
    assert client.get(f"{API}/tracks/{track['ID']}").json()["EndedAt"] is None


@pytest.mark.parametrize(
    "request_body",
    [{}, {"content": b""}, {"json": {}}, {"json": {"endedAt": None}}],
    ids=["no-body", "empty-body", "empty-object", "only-ended-at"],
)
def test_end_track_missing_played_is_400(client, db_config, request_body):
    track = start_played_track(client)

    response = client.patch(f"{API}/tracks/{track['ID']}", **request_body)

    assert response.status_code == 400
    assert client.get(f"{API}/tracks/{track['ID']}").json()["EndedAt"] is None


def test_end_track_missing_played_names_field(client, db_config):
    track = start_played_track(client)

    response = client.patch(f"{API}/tracks/{track['ID']}", json={"played": 1})

    assert "playedDurationMs" in response.json()["error"]


def test_end_track_unknown_is_404(client, db_config):
    response = end_track(client, record_id("nope", 3), 50_000)

    assert response.status_code == 404


def test_end_track_unknown_bad_body_is_400(client, db_config):
    response = end_track(client, record_id("nope", 4), -5)

    assert response.status_code == 400


def test_end_track_already_ended_bad_body_is_400(client, db_config):
    track = start_played_track(client, durationMs=100_000)
    end_track(client, track["ID"], 50_000)

    response = end_track(client, track["ID"], -1)

    assert response.status_code == 400


# PATCH /tracks/{trackPlayId}: endedAt


def test_end_track_ended_at_before_start_is_400(client, db_config):
    track = start_played_track(client)

    response = end_track(
        client, track["ID"], 50_000, endedAt=wire_time(later(track, milliseconds=-1))
    )

    assert response.status_code == 400
    assert "endedAt" in response.json()["error"]
    assert stored_play(db_config, track["ID"])[2] is None


def test_end_track_ended_at_equal_start_accepted(client, db_config):
    track = start_played_track(client)

    response = end_track(client, track["ID"], 50_000, endedAt=track["StartedAt"])

    assert response.status_code == 200
    assert response.json()["EndedAt"] == track["StartedAt"]


def test_end_track_ended_at_offset_stored_as_utc(client, db_config):
    track = start_played_track(client)
    ended_at = later(track, seconds=2)
    with_offset = ended_at.astimezone(timezone(timedelta(hours=10)))

    response = end_track(client, track["ID"], 50_000, endedAt=with_offset.isoformat())

    assert with_offset.isoformat().endswith("+10:00")
    assert response.json()["EndedAt"] == wire_time(ended_at)
    stored = stored_play(db_config, track["ID"])[2]
    stored_text = (
        stored if isinstance(stored, str) else stored.isoformat(sep=" ", timespec="milliseconds")
    )
    assert stored_text == ended_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def test_end_track_negative_offset_stored_as_utc(client, db_config):
    track = start_played_track(client)
    ended_at = later(track, seconds=2)
    with_offset = ended_at.astimezone(timezone(-timedelta(hours=5, minutes=30)))

    response = end_track(client, track["ID"], 50_000, endedAt=with_offset.isoformat())

    assert response.json()["EndedAt"] == wire_time(ended_at)


@pytest.mark.parametrize(
    ("digits", "expected"), [("9999", "999"), ("1234567", "123"), ("5", "500")]
)
def test_end_track_sub_millisecond_truncated(client, db_config, digits, expected):
    track = start_played_track(client)
    second = later(track, seconds=2).strftime("%Y-%m-%dT%H:%M:%S")

    response = end_track(client, track["ID"], 50_000, endedAt=f"{second}.{digits}Z")

    assert response.json()["EndedAt"] == f"{second}.{expected}Z"
    stored = stored_play(db_config, track["ID"])[2]
    stored_text = (
        stored if isinstance(stored, str) else stored.isoformat(sep=" ", timespec="milliseconds")
    )
    assert stored_text.endswith(f".{expected}")


@pytest.mark.parametrize(
    "ended_at",
    [
        "2026-01-16T10:30:00.123",
        "2026-01-16T10:30:00",
        "2026-01-16",
        "2026-01-16T10:30:00.123+1000",
        "16/01/2026 10:30",
        "2026-13-01T00:00:00Z",
        "now",
        1768559400,
        True,
    ],
)
def test_end_track_invalid_ended_at_is_400(client, db_config, ended_at):
    track = start_played_track(client)

    response = end_track(client, track["ID"], 50_000, endedAt=ended_at)

    assert response.status_code == 400
    assert "endedAt" in response.json()["error"]
    assert stored_play(db_config, track["ID"])[2] is None


def test_end_track_far_future_is_400(client, db_config):
    track = start_played_track(client)
    future = datetime.now(UTC) + timedelta(minutes=5, seconds=30)

    response = end_track(client, track["ID"], 50_000, endedAt=wire_time(future))

    assert response.status_code == 400
    assert "future" in response.json()["error"]
    assert stored_play(db_config, track["ID"])[2] is None


def test_end_track_near_future_accepted(client, db_config):
    track = start_played_track(client)
    future = datetime.now(UTC) + timedelta(minutes=4)

    response = end_track(client, track["ID"], 50_000, endedAt=wire_time(future))

    assert response.status_code == 200
    assert response.json()["EndedAt"] == wire_time(future)


def test_end_track_null_ended_at_is_now(client, db_config):
    track = start_played_track(client)
    before = datetime.now(UTC) - timedelta(milliseconds=1)

    response = end_track(client, track["ID"], 50_000, endedAt=None)

    ended_at = parse_wire_time(response.json()["EndedAt"])
    assert before <= ended_at <= datetime.now(UTC)
