"""The archive's rules without a database: valid listens, artist keys and artist weights."""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from service.rules import (
    MIN_ARTIST_WEIGHT,
    PLACEHOLDER_ARTISTS,
    STREAM_DURATION_MS,
    ListenRule,
    normalize_artist,
    recommend_artists,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TAU_HOURS = 48.0
RULE = ListenRule()


def hours_ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


# ListenRule


def test_listen_rule_defaults():
    assert RULE.min_listen_ms == 30_000
    assert RULE.min_listen_fraction == 0.15


@pytest.mark.parametrize(
    ("duration_ms", "played_ms", "valid"),
    [
        (100_000, 14_999, False),
        (100_000, 15_000, True),
        (20_000, 20_000, False),
        (20_000, 10**9, False),
        (29_999, 29_999, False),
        (30_000, 4_499, False),
        (30_000, 4_500, True),
        (200_000, 29_999, False),
        (200_000, 30_000, True),
        (1_000_000, 30_000, True),
        (0, 29_999, False),
        (0, 30_000, True),
        (STREAM_DURATION_MS, 29_999, False),
        (STREAM_DURATION_MS, 30_000, True),
        (STREAM_DURATION_MS - 1, 30_000, True),
    ],
)
def test_listen_rule_is_valid_listen(duration_ms, played_ms, valid):
    assert RULE.is_valid_listen(duration_ms, played_ms) is valid


def test_listen_rule_fraction_is_exact():
    # In floats 0.07 x 100 is 7.000000000000001, which would make 7 ms of 100 ms fall short.
    rule = ListenRule(min_listen_ms=100, min_listen_fraction=0.07)

    assert 0.07 * 100 > 7
    assert rule.is_valid_listen(100, 7)
    assert not rule.is_valid_listen(100, 6)


def test_listen_rule_custom_thresholds():
    rule = ListenRule(min_listen_ms=10_000, min_listen_fraction=0.5)

    assert rule.is_valid_listen(15_000, 7_500)
    assert not rule.is_valid_listen(15_000, 7_499)
    assert not rule.is_valid_listen(9_999, 9_999)
    assert rule.is_valid_listen(0, 10_000)


@pytest.mark.parametrize(
    ("duration_ms", "played_ms", "stored"),
    [
        (100_000, 250_000, 100_000),
        (100_000, 100_000, 100_000),
        (100_000, 40_000, 40_000),
        (0, 250_000, 250_000),
        (STREAM_DURATION_MS, 10**12, 10**12),
    ],
)
def test_listen_rule_stored_played_ms(duration_ms, played_ms, stored):
    assert RULE.stored_played_ms(duration_ms, played_ms) == stored


# normalize_artist


@pytest.mark.parametrize(
    "spelling",
    [
        "  The   Beatles ",
        "the beatles",
        "THE BEATLES",
        "The\tBeatles",
        "The\u00a0Beatles",
        "\u3000The Beatles\n",
    ],
)
def test_normalize_artist_beatles(spelling):
    assert normalize_artist(spelling) == "the beatles"


def test_normalize_artist_nfd_equals_nfc():
    nfc = "Sigur R\u00f3s"
    nfd = unicodedata.normalize("NFD", nfc)

    assert nfd != nfc
    assert normalize_artist(nfd) == normalize_artist(nfc)


def test_normalize_artist_keeps_accents():
    assert normalize_artist("Beyonc\u00e9") != normalize_artist("Beyonce")


def test_normalize_artist_case_folds():
    assert normalize_artist("Die \u00c4RZTE STRASSE") == normalize_artist(
        "die \u00e4rzte stra\u00dfe"
    )


# recommend_artists


def test_recommend_groups_by_normalized_key():
    seeds = [
        ("  The   Beatles ", hours_ago(1)),
        ("the beatles", hours_ago(2)),
        (unicodedata.normalize("NFD", "Bj\u00f6rk"), hours_ago(3)),
        ("Bj\u00f6rk", hours_ago(4)),
        ("THE BEATLES", hours_ago(5)),
    ]

    result = recommend_artists(seeds, NOW, TAU_HOURS)

    assert [item["artist"] for item in result] == [
        "  The   Beatles ",
        unicodedata.normalize("NFD", "Bj\u00f6rk"),
    ]
    assert result[0]["weight"] == pytest.approx(math.exp(-1 / 48) * math.log(4))
    assert result[1]["weight"] == pytest.approx(math.exp(-3 / 48) * math.log(3))


def test_recommend_spelling_of_latest_play():
    seeds = [("queen", hours_ago(3)), ("QUEEN", hours_ago(1)), ("Queen", hours_ago(2))]

    result = recommend_artists(seeds, NOW, TAU_HOURS)

    assert result == [{"artist": "QUEEN", "weight": pytest.approx(math.exp(-1 / 48) * math.log(4))}]


@pytest.mark.parametrize("placeholder", sorted(PLACEHOLDER_ARTISTS))
def test_recommend_placeholder_excluded(placeholder):
    seeds = [(f"  {placeholder.upper()} ", hours_ago(1)), ("Queen", hours_ago(2))]

    result = recommend_artists(seeds, NOW, TAU_HOURS)

    assert [item["artist"] for item in result] == ["Queen"]


def test_recommend_placeholder_list():
    assert {"unknown artist", "various artists", "various", "unknown", "n/a"} == PLACEHOLDER_ARTISTS


def test_recommend_weight_formula():
    seeds = [("Muse", hours_ago(48))] * 3 + [("Blur", hours_ago(0))]

    result = {item["artist"]: item["weight"] for item in recommend_artists(seeds, NOW, TAU_HOURS)}

    assert result["Muse"] == pytest.approx(math.exp(-1) * math.log(4))
    assert result["Blur"] == pytest.approx(math.log(2))


def test_recommend_weight_uses_latest_play_age():
    seeds = [("Muse", hours_ago(24)), ("Muse", hours_ago(500))]

    result = recommend_artists(seeds, NOW, TAU_HOURS)

    assert result[0]["weight"] == pytest.approx(math.exp(-0.5) * math.log(3))


def test_recommend_weight_floor():
    seeds = [("Old", hours_ago(48 * 20)), ("Older", hours_ago(48 * 1000))]

    result = recommend_artists(seeds, NOW, TAU_HOURS)

    assert math.exp(-20) * math.log(2) < MIN_ARTIST_WEIGHT
    assert [item["weight"] for item in result] == [MIN_ARTIST_WEIGHT, MIN_ARTIST_WEIGHT]
    assert MIN_ARTIST_WEIGHT == 0.0001


def test_recommend_weight_above_floor_kept():
    seeds = [("Recent enough", hours_ago(48 * 8))]

    result = recommend_artists(seeds, NOW, TAU_HOURS)

    assert result[0]["weight"] == pytest.approx(math.exp(-8) * math.log(2))
    assert result[0]["weight"] > MIN_ARTIST_WEIGHT


def test_recommend_future_play_age_is_zero():
    seeds = [("Clock Skew", NOW + timedelta(hours=5))]

    result = recommend_artists(seeds, NOW, TAU_HOURS)

    assert result[0]["weight"] == pytest.approx(math.log(2))


def test_recommend_tau():
    seeds = [("Muse", hours_ago(24))]

    result = recommend_artists(seeds, NOW, 24.0)

    assert result[0]["weight"] == pytest.approx(math.exp(-1) * math.log(2))


def test_recommend_ordered_by_latest_play():
    seeds = [
        ("Often", hours_ago(10)),
        ("Often", hours_ago(11)),
        ("Often", hours_ago(12)),
        ("Latest", hours_ago(1)),
        ("Middle", hours_ago(5)),
    ]

    result = recommend_artists(seeds, NOW, TAU_HOURS)

    assert [item["artist"] for item in result] == ["Latest", "Middle", "Often"]


def test_recommend_unordered_seeds():
    seeds = [("Middle", hours_ago(5)), ("Latest", hours_ago(1)), ("Oldest", hours_ago(9))]

    result = recommend_artists(seeds, NOW, TAU_HOURS)

    assert [item["artist"] for item in result] == ["Latest", "Middle", "Oldest"]


def test_recommend_empty():
    assert recommend_artists([], NOW, TAU_HOURS) == []


def test_recommend_blank_artist_excluded():
    seeds = [("   ", hours_ago(1)), ("Queen", hours_ago(2))]

    result = recommend_artists(seeds, NOW, TAU_HOURS)

    assert [item["artist"] for item in result] == ["Queen"]
