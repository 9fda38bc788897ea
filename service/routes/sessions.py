"""Routes of listening sessions and the track plays started in them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service import metrics
from service.bodies import read_body
from service.data import sessions, track_plays
from service.models import (
    CreateSessionRequest,
    CreateTrackPlayRequest,
    EndSessionRequest,
    session_to_wire,
    track_play_to_wire,
)
from service.parsing import DEFAULT_LIMIT, MAX_LIMIT, parse_guild_ids, parse_positive_int
from service.responses import json_response, no_content
from service.routes import path_record_id, query_params


async def list_sessions(request: Request) -> Response:
    query = query_params(request)
    guild_ids = parse_guild_ids(query)
    limit = parse_positive_int(query, "limit", DEFAULT_LIMIT, MAX_LIMIT)

    rows = await sessions.get_sessions_by_guild_ids(request.app.state.db, guild_ids, limit)

    items = [session_to_wire(row) for row in rows]
    return json_response({"sessions": items, "count": len(items)})


async def create_session(request: Request) -> Response:
    query_params(request)
    body = await read_body(request, CreateSessionRequest)

    row = await sessions.create_session(request.app.state.db, body.guild_id)

    return json_response(session_to_wire(row), status_code=201)


async def get_session(request: Request) -> Response:
    session_id = path_record_id(request, "sessionId")
    query_params(request)

    row = await sessions.get_session_by_id(request.app.state.db, session_id)

    return json_response(session_to_wire(row))


async def end_session(request: Request) -> Response:
    """End the session: 200 with it, or 204 when it had no track plays and was deleted."""
    session_id = path_record_id(request, "sessionId")
    query_params(request)
    body = await read_body(request, EndSessionRequest, allow_empty=True)

    row = await sessions.end_session(request.app.state.db, session_id, body.ended_at)

    if row is None:
        return no_content()
    return json_response(session_to_wire(row))


async def list_session_track_plays(request: Request) -> Response:
    session_id = path_record_id(request, "sessionId")
    query_params(request)

    rows = await track_plays.get_track_plays_by_session_id(request.app.state.db, session_id)

    items = [track_play_to_wire(row) for row in rows]
    return json_response({"trackPlays": items, "count": len(items)})


async def create_track_play(request: Request) -> Response:
    session_id = path_record_id(request, "sessionId")
    query_params(request)
    body = await read_body(request, CreateTrackPlayRequest)

    row = await track_plays.create_track_play(request.app.state.db, session_id, body)

    metrics.track_play_started()
    return json_response(track_play_to_wire(row), status_code=201)
