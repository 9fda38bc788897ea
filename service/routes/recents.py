"""Routes of the recently played tracks of a guild or a user, for the bot's /recents."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service.data import track_plays
from service.models import track_play_to_wire
from service.parsing import DEFAULT_LIMIT, MAX_LIMIT, parse_positive_int
from service.responses import json_response
from service.routes import path_snowflake, query_params


async def get_recent_track_plays_by_guild(request: Request) -> Response:
    guild_id = path_snowflake(request, "guildId")
    limit = parse_positive_int(query_params(request), "limit", DEFAULT_LIMIT, MAX_LIMIT)

    rows = await track_plays.get_recent_track_plays_by_guild(request.app.state.db, guild_id, limit)

    items = [track_play_to_wire(row) for row in rows]
    return json_response(
        {"trackPlays": items, "count": len(items), "guildId": request.path_params["guildId"]}
    )


async def get_recent_track_plays_by_user(request: Request) -> Response:
    user_id = path_snowflake(request, "userId")
    limit = parse_positive_int(query_params(request), "limit", DEFAULT_LIMIT, MAX_LIMIT)

    rows = await track_plays.get_recent_track_plays_by_user(request.app.state.db, user_id, limit)

    items = [track_play_to_wire(row) for row in rows]
    return json_response(
        {"trackPlays": items, "count": len(items), "userId": request.path_params["userId"]}
    )
