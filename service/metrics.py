"""Prometheus metrics of the archive's own events."""

from __future__ import annotations

from prometheus_client import Counter

TRACK_PLAYS_STARTED = Counter("archive_track_plays_started", "Track plays started.")
TRACK_PLAYS_ENDED = Counter(
    "archive_track_plays_ended", "Track plays ended, by whether they counted as a listen.", ["valid"]
)


def track_play_started() -> None:
    TRACK_PLAYS_STARTED.inc()


def track_play_ended(valid: bool) -> None:
    TRACK_PLAYS_ENDED.labels(valid="true" if valid else "false").inc()
