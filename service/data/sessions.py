"""Listening sessions: create, read, list by guild and end."""

from __future__ import annotations

from datetime import datetime

import shortuuid

from service.db import Database, Row
from service.errors import InvalidInput, NotFound
from service.parsing import show
from service.timestamps import format_rfc3339, utc_now


def new_id() -> str:
    """Return a 22-character short UUID, the id form the archive has always used."""
    return shortuuid.uuid()


async def create_session(db: Database, guild_id: int) -> Row:
    row = {"id": new_id(), "guild_id": guild_id, "started_at": utc_now(), "ended_at": None}
    await db.execute(
        "create_session", session_id=row["id"], guild_id=guild_id, started_at=row["started_at"]
    )
    return row


async def get_session_by_id(db: Database, session_id: str) -> Row:
    row = await db.fetch_one("get_session_by_id", session_id=session_id)
    if row is None:
        raise NotFound(f"session {show(session_id)} not found")
    return row


async def get_sessions_by_guild_ids(db: Database, guild_ids: list[int], limit: int) -> list[Row]:
    return await db.fetch_all("get_sessions_by_guild_ids", guild_ids=guild_ids, limit=limit)


def check_end_after_start(ended_at: datetime, started_at: datetime, what: str) -> None:
    if ended_at < started_at:
        raise InvalidInput(
            f"endedAt {format_rfc3339(ended_at)} is before the {what} started "
            f"at {format_rfc3339(started_at)}"
        )


async def end_session(db: Database, session_id: str, ended_at: datetime | None) -> Row | None:
    """End a session and return it, or delete it and return None when it has no track plays.

    A session that already ended is returned unchanged. The row lock taken here also makes
    a concurrent track start wait, so no play is added to a session being deleted.
    """
    async with db.transaction() as connection:
        session = await connection.fetch_one("get_session_by_id_for_update", session_id=session_id)
        if session is None:
            raise NotFound(f"session {show(session_id)} not found")
        if ended_at is not None:
            check_end_after_start(ended_at, session["started_at"], "session")
        if session["ended_at"] is not None:
            return session

        any_play = await connection.fetch_one(
            "get_any_track_play_id_by_session_id", session_id=session_id
        )
        if any_play is None:
            await connection.execute("delete_session", session_id=session_id)
            return None

        session["ended_at"] = max(ended_at or utc_now(), session["started_at"])
        await connection.execute("end_session", session_id=session_id, ended_at=session["ended_at"])
        return session
