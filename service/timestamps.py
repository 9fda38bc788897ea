"""UTC timestamps at millisecond precision: creation, wire format and database form."""

from __future__ import annotations

from datetime import UTC, datetime

SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def truncate_to_ms(moment: datetime) -> datetime:
    """Drop sub-millisecond digits: MariaDB truncates them but MySQL 8 rounds, so bind them cut."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    return truncate_to_ms(datetime.now(UTC))


def to_utc(moment: datetime) -> datetime:
    """Return the same instant in UTC, truncated to the millisecond; a naive value is an error."""
    if moment.tzinfo is None:
        raise ValueError("a timestamp without a UTC offset is ambiguous")
    return truncate_to_ms(moment.astimezone(UTC))


def format_rfc3339(moment: datetime | None) -> str | None:
    """Format as 2026-01-16T10:30:00.123Z, the form every response uses."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat() pads the year to four digits, which strftime("%Y") does not do on Linux.
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def to_database(moment: datetime, dialect: str) -> datetime | str:
    """Convert an aware datetime to what the driver binds: naive UTC, or text for SQLite."""
    naive = to_utc(moment).replace(tzinfo=None)
    if dialect == "sqlite":
        return naive.strftime(SQLITE_FORMAT)[:-3]
    return naive


def from_database(value: datetime | str | None) -> datetime | None:
    """Read a stored UTC time, naive datetime or SQLite text, as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)
