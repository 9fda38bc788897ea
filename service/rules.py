"""The archive's rules: which track plays count as valid listens, and how artists are weighted."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

# Lavalink reports this duration for live streams, whose length is unknown.
STREAM_DURATION_MS = 2**63 - 1
# Artists that name no one; they count inside the seed window but are never recommended.
PLACEHOLDER_ARTISTS = frozenset({"unknown artist", "various artists", "various", "unknown", "n/a"})
# Lowest weight a recommended artist gets, so a very old favourite still ranks above nothing.
MIN_ARTIST_WEIGHT = 0.0001


@dataclass(frozen=True)
class ListenRule:
    """Thresholds of a valid listen: `min_listen_ms` in milliseconds and a fraction of duration."""

    min_listen_ms: int = 30_000
    min_listen_fraction: float = 0.15

    def is_duration_known(self, duration_ms: int) -> bool:
        return duration_ms not in (0, STREAM_DURATION_MS)

    def stored_played_ms(self, duration_ms: int, played_ms: int) -> int:
        """Cap the played time at a known duration, so listening time is never inflated."""
        if self.is_duration_known(duration_ms):
            return min(played_ms, duration_ms)
        return played_ms

    def is_valid_listen(self, duration_ms: int, played_ms: int) -> bool:
        """Tell whether a play of `played_ms` out of a `duration_ms` track counts as a listen."""
        if not self.is_duration_known(duration_ms):
            return played_ms >= self.min_listen_ms
        if duration_ms < self.min_listen_ms:
            return False
        # Exact arithmetic: 0.15 x 100000 must be 15000, not a float a hair above or below it.
        fraction = Fraction(str(self.min_listen_fraction))
        needed = min(Fraction(self.min_listen_ms), fraction * duration_ms)
        return played_ms >= needed


def normalize_artist(artist: str) -> str:
    """Return an artist's grouping key: NFC, trimmed, inner space runs collapsed, case-folded."""
    return " ".join(unicodedata.normalize("NFC", artist).split()).casefold()


@dataclass
class _ArtistTally:
    spelling: str
    latest: datetime
    count: int


def recommend_artists(
    seeds: list[tuple[str, datetime]], now: datetime, tau_hours: float
) -> list[dict[str, object]]:
    """Weight each artist of the seed plays, given newest first, by recency and play count.

    weight = exp(-age / tau) x ln(1 + count), with the age of the artist's latest play in hours,
    floored at MIN_ARTIST_WEIGHT. The result is ordered by latest play, newest first.
    """
    tallies: dict[str, _ArtistTally] = {}
    # A guild has far fewer distinct spellings than seed plays, so each is normalized once.
    keys: dict[str, str] = {}
    for artist, started_at in seeds:
        key = keys.get(artist)
        if key is None:
            key = keys[artist] = normalize_artist(artist)
        tally = tallies.get(key)
        if tally is None:
            tallies[key] = _ArtistTally(spelling=artist, latest=started_at, count=1)
            continue
        tally.count += 1
        if started_at > tally.latest:
            tally.latest = started_at
            tally.spelling = artist

    ranked = sorted(
        (tally for key, tally in tallies.items() if key and key not in PLACEHOLDER_ARTISTS),
        key=lambda tally: tally.latest,
        reverse=True,
    )
    result = []
    for tally in ranked:
        age_hours = max(0.0, (now - tally.latest).total_seconds() / 3600)
        weight = math.exp(-age_hours / tau_hours) * math.log1p(tally.count)
        result.append({"artist": tally.spelling, "weight": max(weight, MIN_ARTIST_WEIGHT)})
    return result
