"""The benchmark's pure parts: load-file escaping, ids, percentiles and the goal checks."""

from __future__ import annotations

import random

import pytest

from bench.client import PointResult
from bench.report import goal_checks
from bench.seed import NULL, escape_tsv, short_uuid, unescape_tsv


@pytest.mark.parametrize(
    "text",
    ["plain", "back\\slash", "tab\there", "new\nline", "cr\rlf", "nul\0byte", "\\N", "夜 🌙"],
)
def test_tsv_escape_round_trip(text: str) -> None:
    escaped = escape_tsv(text)
    assert "\t" not in escaped
    assert "\n" not in escaped
    assert unescape_tsv(escaped) == text


def test_tsv_null_field_is_none() -> None:
    assert unescape_tsv(NULL) is None


def test_short_uuid_form() -> None:
    rng = random.Random(3)
    ids = {short_uuid(rng) for _ in range(1000)}
    assert len(ids) == 1000
    assert {len(value) for value in ids} == {22}
    assert not any(character in value for value in ids for character in "01IOl")


def test_short_uuid_repeats_with_seed() -> None:
    assert short_uuid(random.Random(5)) == short_uuid(random.Random(5))


def test_percentile_nearest_rank() -> None:
    result = PointResult(concurrency=1, seconds=1.0, latencies_ms=[float(n) for n in range(1, 101)])
    assert result.percentile(0.50) == 50.0
    assert result.percentile(0.99) == 99.0
    assert result.percentile(1.0) == 100.0
    assert result.requests_per_second == 100.0


def _point(rps: float, p50: float, p99: float) -> dict[str, float]:
    return {"requests_per_second": rps, "p50_ms": p50, "p99_ms": p99}


def _medians(heavy_rps: float, p99: float, driver_rps: float) -> dict:
    medians = {}
    for owner in ("guild", "user"):
        for label, rps in (("heaviest", heavy_rps), ("typical", 500.0)):
            name = f"{owner} recents, {label}"
            medians[("service", name, 16)] = _point(rps, 16_000 / rps, p99)
            medians[("driver", name, 16)] = _point(driver_rps, 10.0, 20.0)
    return medians


def test_goal_checks_all_met() -> None:
    checks = goal_checks(_medians(heavy_rps=450.0, p99=20.0, driver_rps=800.0), (16,))
    assert [met for _, met, _ in checks] == [True, True, True, True]


def test_goal_checks_heaviest_too_slow() -> None:
    checks = goal_checks(_medians(heavy_rps=200.0, p99=20.0, driver_rps=800.0), (16,))
    assert [met for _, met, _ in checks[:2]] == [False, False]


def test_goal_checks_p99_over_limit() -> None:
    checks = goal_checks(_medians(heavy_rps=450.0, p99=25.0, driver_rps=800.0), (16,))
    assert checks[2][1] is False
    assert "guild recents, heaviest 25.0 ms" in checks[2][2]


def test_goal_checks_below_driver_share() -> None:
    checks = goal_checks(_medians(heavy_rps=450.0, p99=20.0, driver_rps=1000.0), (16,))
    assert checks[3][1] is False
