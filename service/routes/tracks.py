"""Routes of single track plays: read, end and list listeners."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service import metrics
from service.bodies import read_body
from service.data import track_plays
from service.models import EndTrackPlayRequest, listener_to_wire, track_play_to_wire
from service.responses import json_response, no_content
from service.routes import path_record_id, query_params


async def get_track_play(request: Request) -> Response:
    track_play_id = path_record_id(request, "trackPlayId")
    query_params(request)

    row = await track_plays.get_track_play_by_id(request.app.state.db, track_play_id)

    return json_response(track_play_to_wire(row))


async def end_track_play(request: Request) -> Response:
    """End the play: 200 with it when it counts as a listen, 204 with no body when it does not."""
    track_play_id = path_record_id(request, "trackPlayId")
    query_params(request)
    body = await read_body(request, EndTrackPlayRequest)
    state = request.app.state

    row, ended_now = await track_plays.end_track_play(
        state.db, state.listen_rule, track_play_id, body.played_duration_ms, body.ended_at
    )
    if ended_now:
        metrics.track_play_ended(bool(row["is_valid"]))

    if not row["is_valid"]:
        return no_content()
    return json_response(track_play_to_wire(row))


async def list_listeners(request: Request) -> Response:
    track_play_id = path_record_id(request, "trackPlayId")
    query_params(request)

    rows = await track_plays.get_listeners_by_track_play_id(request.app.state.db, track_play_id)

    items = [listener_to_wire(row) for row in rows]
    return json_response({"listeners": items, "count": len(items)})
