"""Routes of recommended artists, which seed the bot's autoplay."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service.data import artists
from service.parsing import parse_positive_int
from service.responses import json_response
from service.routes import path_snowflake, query_params

# Maximum number of plays a caller may request to seed recommendations.
MAX_SEED_COUNT = 5000


def _seed_count(request: Request) -> int:
    default = min(request.app.state.settings.recommend_seed_count, MAX_SEED_COUNT)
    return parse_positive_int(query_params(request), "seedCount", default, MAX_SEED_COUNT)


async def get_recommended_artists_by_guild(request: Request) -> Response:
    guild_id = path_snowflake(request, "guildId")
    seed_count = _seed_count(request)
    settings = request.app.state.settings

    recommended = await artists.get_recommended_artists_by_guild(
        request.app.state.db, guild_id, seed_count, settings.recommend_tau_hours
    )

    return json_response({"recommended_artists": recommended})


async def get_recommended_artists_by_user(request: Request) -> Response:
    user_id = path_snowflake(request, "userId")
    seed_count = _seed_count(request)
    settings = request.app.state.settings

    recommended = await artists.get_recommended_artists_by_user(
        request.app.state.db, user_id, seed_count, settings.recommend_tau_hours
    )

    return json_response({"recommended_artists": recommended})
