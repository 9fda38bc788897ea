"""CORS for the origins in CORS_ALLOW_ORIGINS, with no CORS headers at all for any other origin."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from service.parsing import show
from service.responses import json_response


class ListedOriginsCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, except that a preflight from an unlisted origin gets a bare 403.

    Starlette 1.10 responds to such a preflight with 400 and its Access-Control-Allow-Methods
    and -Headers. A browser ignores them without Access-Control-Allow-Origin, but they still
    describe the API to an origin that may not use it.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        origin = request_headers["origin"]
        if self.is_allowed_origin(origin=origin):
            return super().preflight_response(request_headers)
        return json_response(
            {"error": f"origin {show(origin)} is not allowed: it is not in CORS_ALLOW_ORIGINS"},
            status_code=403,
            headers={"Vary": "Origin"},
        )
