"""Parsers of the values in paths, query strings and bodies; each raises InvalidInput."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from starlette.datastructures import QueryParams

from service.errors import InvalidInput
from service.timestamps import to_utc

MAX_SNOWFLAKE = 2**63 - 1
MAX_GUILD_IDS = 100
# Comma-separated items guildIds may have before duplicates and empty items are dropped.
MAX_GUILD_ID_ITEMS = 1000
# How far in the future a client's clock may be before its endedAt is rejected.
MAX_CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500

_SNOWFLAKE_DIGITS = len(str(MAX_SNOWFLAKE))
_DIGITS = re.compile(r"[0-9]+")
_RECORD_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)


def show(value: object, limit: int = 60) -> str:
    """Quote a client's value for an error message, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_snowflake(value: object, field: str) -> int:
    """Parse a Discord snowflake from a JSON integer or a string of decimal digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        # int() raises ValueError over 4300 digits, and over 19 significant ones are out of range.
        significant = value.lstrip("0") or "0"
        number = int(significant) if len(significant) <= _SNOWFLAKE_DIGITS else MAX_SNOWFLAKE + 1
    else:
        raise InvalidInput(
            f"{field} must be a Discord snowflake (an integer or a string of digits), "
            f"got {show(value)}"
        )
    if not 1 <= number <= MAX_SNOWFLAKE:
        raise InvalidInput(
            f"{field} must be a snowflake from 1 to {MAX_SNOWFLAKE}, got {show(value)}"
        )
    return number


def parse_record_id(value: str, field: str) -> str:
    """Check a session or track play id from a path: 1 to 36 letters, digits, '-' or '_'."""
    if not _RECORD_ID.fullmatch(value):
        raise InvalidInput(
            f"{field} must be 1 to 36 letters, digits, '-' or '_', got {show(value)}"
        )
    return value


def parse_timestamp(value: object, field: str, now: datetime | None = None) -> datetime:
    """Parse an RFC 3339 date-time with an offset into UTC, truncated to the millisecond."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(
            f"{field} must be an RFC 3339 date-time with an offset, "
            f"as in 2026-01-16T10:30:00.123Z, got {show(value)}"
        )

    date, time, fraction, offset = match.groups()
    # Python's parser takes up to 6 fractional digits; the rest is below a millisecond anyway.
    fraction = f".{fraction[:6]}" if fraction else ""
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        moment = to_utc(datetime.fromisoformat(f"{date}T{time}{fraction}{offset}"))
    except (ValueError, OverflowError):
        raise InvalidInput(f"{field} is not a real date and time, got {show(value)}") from None

    now = now or datetime.now(UTC)
    if moment > now + MAX_CLOCK_SKEW:
        raise InvalidInput(f"{field} is more than 5 minutes in the future, got {show(value)}")
    return moment


def reject_repeated_keys(query: QueryParams) -> None:
    for key in query:
        if len(query.getlist(key)) > 1:
            raise InvalidInput(f"query parameter {key!r} is given more than once")


def parse_positive_int(query: QueryParams, name: str, default: int, maximum: int) -> int:
    """Read a positive integer query parameter; values above `maximum` are clamped to it."""
    raw = query.get(name)
    if raw is None:
        return default
    significant = raw.lstrip("0")
    if not _DIGITS.fullmatch(raw) or not significant:
        raise InvalidInput(f"{name} must be a positive integer, got {show(raw)}")
    # A value longer than `maximum` is clamped without int(), which raises over 4300 digits.
    if len(significant) > len(str(maximum)):
        return maximum
    return min(int(significant), maximum)


def parse_guild_ids(query: QueryParams) -> list[int]:
    """Read `guildIds`: comma-separated snowflakes, trimmed, empty items skipped, no duplicates."""
    raw = query.get("guildIds")
    if raw is None:
        raise InvalidInput("query parameter 'guildIds' is required, as in guildIds=123,456")

    items = raw.count(",") + 1
    if items > MAX_GUILD_ID_ITEMS:
        raise InvalidInput(
            f"guildIds has {items} comma-separated items, "
            f"more than the {MAX_GUILD_ID_ITEMS} allowed"
        )

    guild_ids: list[int] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        guild_id = parse_snowflake(item, "each of guildIds")
        if guild_id not in guild_ids:
            guild_ids.append(guild_id)
        if len(guild_ids) > MAX_GUILD_IDS:
            raise InvalidInput(f"guildIds lists more than {MAX_GUILD_IDS} distinct guilds")

    if not guild_ids:
        raise InvalidInput(f"guildIds must list at least one guild id, got {show(raw)}")
    return guild_ids
