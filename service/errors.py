"""The archive's exceptions and the one table of handlers that turns them into JSON errors.

    ArchiveError
    ├── InvalidInput          400, with optional per-field details
    ├── Unauthorized          401
    ├── NotFound              404
    ├── MethodNotAllowed      405
    ├── Conflict              409
    ├── PayloadTooLarge       413
    ├── UnsupportedMediaType  415
    └── DatabaseUnavailable   503

The data layer and the request parsers raise these; no handler lets a traceback or SQL through.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

from service.responses import json_response

logger = logging.getLogger(__name__)


class ArchiveError(Exception):
    """Base of the errors that become a JSON error response."""

    status_code = 500

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(ArchiveError):
    status_code = 400


class Unauthorized(ArchiveError):
    status_code = 401


class NotFound(ArchiveError):
    status_code = 404


class MethodNotAllowed(ArchiveError):
    status_code = 405


class Conflict(ArchiveError):
    status_code = 409


class PayloadTooLarge(ArchiveError):
    status_code = 413


class UnsupportedMediaType(ArchiveError):
    status_code = 415


class DatabaseUnavailable(ArchiveError):
    status_code = 503


def error_response(error: ArchiveError, headers: dict[str, str] | None = None) -> Response:
    return json_response(error.body(), status_code=error.status_code, headers=headers)


async def handle_archive_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ArchiveError)
    if isinstance(exc, DatabaseUnavailable):
        logger.warning(
            "database unavailable for %s %s: %s", request.method, request.url.path, exc.__cause__
        )
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Give Starlette's own 404 and 405 the archive's JSON error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route matches {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette's Allow names the methods of the first route on the path, not of all of them.
        # Routing inside a Mount has moved root_path; match from the app's own root again.
        scope = {**request.scope, "root_path": request.scope.get("app_root_path", "")}
        headers["Allow"] = ", ".join(sorted(allowed_methods(request.app.routes, scope)))
    return json_response({"error": message}, status_code=exc.status_code, headers=headers)


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> set[str]:
    """Return every method that some route accepts on the scope's path."""
    methods: set[str] = set()
    for route in routes:
        match, child_scope = route.matches(scope)
        if match == Match.NONE:
            continue
        if isinstance(route, Mount):
            methods |= allowed_methods(route.routes, {**scope, **child_scope})
        elif isinstance(route, Route) and route.methods:
            methods |= route.methods
    return methods


async def handle_unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return json_response({"error": "internal server error"}, status_code=500)


EXCEPTION_HANDLERS = {
    ArchiveError: handle_archive_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected_error,
}
