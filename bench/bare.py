"""A bare Starlette app with JSON routes and no database: the HTTP ceiling of this machine.

`/tiny` returns a one-field object. `/page` returns 50 track plays shaped like a recents
response, encoded with orjson on every request, so the ceiling carries the same bytes.
Run it as the service runs: `uvicorn bench.bare:app` with one worker.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE_ROWS = 50


def _track_play(index: int) -> dict[str, Any]:
    return {
        "ID": f"bench{index:017d}",
        "SessionID": "benchsession0000000000",
        "GuildID": 1131329998275880929,
        "Source": "youtube",
        "SourceID": "dQw4w9WgXcQ",
        "URL": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "Title": f"Midnight Electric Dreams (Official Music Video) {index} 🌙",
        "Artist": "The Velvet Satellites",
        "StartedAt": "2026-11-30T21:14:03.123Z",
        "EndedAt": "2026-11-30T21:17:41.456Z",
        "DurationMs": 218000,
        "PlayedDurationMs": 218000,
        "QueuedByUser": 1545085268153688362,
        "IsValid": True,
    }


PAGE = {
    "trackPlays": [_track_play(index) for index in range(PAGE_ROWS)],
    "count": PAGE_ROWS,
    "guildId": "1131329998275880929",
}


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def tiny(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def page(request: Request) -> Response:
    return JSONResponse(PAGE)


app = Starlette(routes=[Route("/tiny", tiny), Route("/page", page)])
