"""JSON responses encoded with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(content, status_code=status_code, headers=headers)


def no_content() -> Response:
    """Return 204 with an empty body, which the bot reads as "this did not count"."""
    return Response(status_code=204)
