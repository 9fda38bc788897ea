"""Request and response models: camelCase bodies in, the Go service's PascalCase objects out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from service.errors import InvalidInput
from service.parsing import MAX_SNOWFLAKE, parse_snowflake, parse_timestamp, show
from service.timestamps import format_rfc3339

MAX_DURATION_MS = 2**63 - 1
MAX_LISTENERS = 1000


def _snowflake(value: object) -> int:
    try:
        return parse_snowflake(value, "value")
    except InvalidInput as exc:
        raise PydanticCustomError(
            "snowflake",
            "must be a snowflake from 1 to {maximum} (an integer or a string of digits), "
            "got {value}",
            {"maximum": MAX_SNOWFLAKE, "value": show(value)},
        ) from exc


def _timestamp(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value, "value")
    except InvalidInput as exc:
        message = exc.message.removeprefix("value ")
        raise PydanticCustomError("timestamp", message) from exc


def _duration(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DURATION_MS:
        raise PydanticCustomError(
            "duration",
            "must be an integer from 0 to {maximum} (milliseconds), got {value}",
            {"maximum": MAX_DURATION_MS, "value": show(value)},
        )
    return value


def _text(max_length: int) -> Any:
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise PydanticCustomError(
                "text", "must be a string, got {value}", {"value": show(value)}
            )
        if not value.strip():
            raise PydanticCustomError("text", "must not be empty or only whitespace")
        if len(value) > max_length:
            raise PydanticCustomError(
                "text",
                "must be at most {maximum} characters, got {length}",
                {"maximum": max_length, "length": len(value)},
            )
        if "\x00" in value:
            raise PydanticCustomError("text", "must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PydanticCustomError(
                "text", "must be valid Unicode, but contains a lone surrogate"
            ) from None
        return value

    schema = {"type": "string", "minLength": 1, "maxLength": max_length}
    return Annotated[str, PlainValidator(check), WithJsonSchema(schema)]


# Decimal digits without leading zeros, 1 to 19 of them; the range check is the parser's.
SNOWFLAKE_PATTERN = "^[1-9][0-9]{0,18}$"
SNOWFLAKE_SCHEMA = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": MAX_SNOWFLAKE},
        {"type": "string", "pattern": SNOWFLAKE_PATTERN},
    ],
    "description": "Discord snowflake, as a JSON integer or a string of decimal digits",
}
Snowflake = Annotated[int, PlainValidator(_snowflake), WithJsonSchema(SNOWFLAKE_SCHEMA)]
Timestamp = Annotated[
    datetime | None,
    BeforeValidator(_timestamp),
    WithJsonSchema(
        {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "RFC 3339 with an offset; at most 5 minutes in the future",
        }
    ),
]
Duration = Annotated[
    int,
    PlainValidator(_duration),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_DURATION_MS}),
]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CreateSessionRequest(RequestModel):
    guild_id: Snowflake = Field(alias="guildId")


class EndSessionRequest(RequestModel):
    ended_at: Timestamp = Field(None, alias="endedAt")


class CreateTrackPlayRequest(RequestModel):
    source: _text(64)  # type: ignore[valid-type]
    source_id: _text(255) = Field(alias="sourceId")  # type: ignore[valid-type]
    url: _text(2048)  # type: ignore[valid-type]
    title: _text(1000)  # type: ignore[valid-type]
    artist: _text(1000)  # type: ignore[valid-type]
    duration_ms: Duration = Field(alias="durationMs")
    queued_by_user: Snowflake = Field(alias="queuedByUser")
    listener_ids: list[Snowflake] = Field(alias="listenerIds", max_length=MAX_LISTENERS)


class EndTrackPlayRequest(RequestModel):
    played_duration_ms: Duration = Field(alias="playedDurationMs")
    ended_at: Timestamp = Field(None, alias="endedAt")


# Response objects carry the Go service's field names, which the bot reads.


class Session(BaseModel):
    ID: str
    GuildID: int
    StartedAt: datetime
    EndedAt: datetime | None


class TrackPlay(BaseModel):
    ID: str
    SessionID: str
    GuildID: int
    Source: str
    SourceID: str
    URL: str
    Title: str
    Artist: str
    StartedAt: datetime
    EndedAt: datetime | None
    DurationMs: int
    PlayedDurationMs: int
    QueuedByUser: int
    IsValid: bool


class Listener(BaseModel):
    TrackPlayID: str
    UserID: int


def session_to_wire(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "ID": row["id"],
        "GuildID": row["guild_id"],
        "StartedAt": format_rfc3339(row["started_at"]),
        "EndedAt": format_rfc3339(row["ended_at"]),
    }


def track_play_to_wire(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "ID": row["id"],
        "SessionID": row["session_id"],
        "GuildID": row["guild_id"],
        "Source": row["source"],
        "SourceID": row["source_id"],
        "URL": row["url"],
        "Title": row["title"],
        "Artist": row["artist"],
        "StartedAt": format_rfc3339(row["started_at"]),
        "EndedAt": format_rfc3339(row["ended_at"]),
        "DurationMs": row["duration_ms"],
        "PlayedDurationMs": row["played_duration_ms"],
        "QueuedByUser": row["queued_by_user"],
        "IsValid": bool(row["is_valid"]),
    }


def listener_to_wire(row: dict[str, Any]) -> dict[str, Any]:
    return {"TrackPlayID": row["track_play_id"], "UserID": row["user_id"]}
