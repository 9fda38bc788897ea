"""Track plays and their listeners: start, end, read, and the recents of a guild or a user."""

from __future__ import annotations

from datetime import datetime

from service.data.sessions import check_end_after_start, new_id
from service.db import Database, Row
from service.errors import Conflict, NotFound
from service.models import CreateTrackPlayRequest
from service.parsing import show
from service.rules import ListenRule
from service.timestamps import utc_now


async def create_track_play(db: Database, session_id: str, request: CreateTrackPlayRequest) -> Row:
    """Insert a provisional play and its listeners in one transaction, in a session still open."""
    started_at = utc_now()
    listener_ids = list(dict.fromkeys(request.listener_ids))

    async with db.transaction() as connection:
        session = await connection.fetch_one("get_session_by_id_for_update", session_id=session_id)
        if session is None:
            raise NotFound(f"session {show(session_id)} not found")
        if session["ended_at"] is not None:
            raise Conflict(
                f"session {show(session_id)} has ended; start a new session to add tracks"
            )

        row = {
            "id": new_id(),
            "session_id": session_id,
            "guild_id": session["guild_id"],
            "source": request.source,
            "source_id": request.source_id,
            "url": request.url,
            "title": request.title,
            "artist": request.artist,
            "started_at": max(started_at, session["started_at"]),
            "ended_at": None,
            "duration_ms": request.duration_ms,
            "played_duration_ms": 0,
            "queued_by_user": request.queued_by_user,
            "is_valid": True,
        }
        await connection.execute(
            "create_track_play",
            track_play_id=row["id"],
            session_id=session_id,
            guild_id=row["guild_id"],
            source=row["source"],
            source_id=row["source_id"],
            url=row["url"],
            title=row["title"],
            artist=row["artist"],
            started_at=row["started_at"],
            duration_ms=row["duration_ms"],
            queued_by_user=row["queued_by_user"],
        )
        for user_id in listener_ids:
            await connection.execute(
                "create_track_play_listener",
                track_play_id=row["id"],
                user_id=user_id,
                started_at=row["started_at"],
            )
    return row


async def get_track_play_by_id(db: Database, track_play_id: str) -> Row:
    row = await db.fetch_one("get_track_play_by_id", track_play_id=track_play_id)
    if row is None:
        raise NotFound(f"track play {show(track_play_id)} not found")
    return row


async def get_track_plays_by_session_id(db: Database, session_id: str) -> list[Row]:
    rows = await db.fetch_all("get_track_plays_by_session_id", session_id=session_id)
    if not rows and await db.fetch_one("get_session_by_id", session_id=session_id) is None:
        raise NotFound(f"session {show(session_id)} not found")
    return rows


async def end_track_play(
    db: Database,
    rule: ListenRule,
    track_play_id: str,
    played_duration_ms: int,
    ended_at: datetime | None,
) -> tuple[Row, bool]:
    """End a play once; return it as stored and whether this call ended it.

    The update only matches a play that has not ended, so of two concurrent ends exactly one
    is stored, and both callers read that one back.
    """
    play = await get_track_play_by_id(db, track_play_id)
    if ended_at is not None:
        check_end_after_start(ended_at, play["started_at"], "track play")
    if play["ended_at"] is not None:
        return play, False

    duration_ms = play["duration_ms"] or 0
    changed = await db.execute(
        "end_track_play",
        track_play_id=track_play_id,
        ended_at=max(ended_at or utc_now(), play["started_at"]),
        played_duration_ms=rule.stored_played_ms(duration_ms, played_duration_ms),
        is_valid=rule.is_valid_listen(duration_ms, played_duration_ms),
    )
    return await get_track_play_by_id(db, track_play_id), changed == 1


async def get_listeners_by_track_play_id(db: Database, track_play_id: str) -> list[Row]:
    rows = await db.fetch_all("get_listeners_by_track_play_id", track_play_id=track_play_id)
    if not rows:
        await get_track_play_by_id(db, track_play_id)
    return rows


async def get_recent_track_plays_by_guild(db: Database, guild_id: int, limit: int) -> list[Row]:
    return await db.fetch_all("get_recent_track_plays_by_guild", guild_id=guild_id, limit=limit)


async def get_recent_track_plays_by_user(db: Database, user_id: int, limit: int) -> list[Row]:
    return await db.fetch_all("get_recent_track_plays_by_user", user_id=user_id, limit=limit)
