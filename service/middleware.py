"""ASGI middleware: request ids and the request log line, API key checks and the body size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge, Unauthorized, error_response
from service.keys import ApiKeys
from service.logs import request_id_var

logger = logging.getLogger("service.access")

API_PREFIX = "/api/v1"
# Bytes; larger request bodies get 413 before they are parsed.
MAX_BODY_BYTES = 64 * 1024
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def route_template(scope: Scope) -> str:
    """Return the matched route's path template, never the raw path, so ids stay out of labels."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    # A Mount stays the route when none of its own routes matched.
    if path is None or isinstance(route, Mount):
        return "unmatched"
    return API_PREFIX + path if scope.get("path", "").startswith(API_PREFIX) else path


class RequestLogMiddleware:
    """Give each request an id and write one log line when it ends.

    It belongs outside Starlette's ServerErrorMiddleware, so the 500 handler's line and response
    carry the id too. That handler logs the traceback, sends the 500 and re-raises. Once the
    response is complete, this layer drops the exception so that the server does not log it twice.
    """

    def __init__(
        self, app: ASGIApp, observers: list[Callable[[Scope, int, float], None]] | None = None
    ) -> None:
        self.app = app
        self.observers = observers or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        client_id = Headers(scope=scope).get("x-request-id")
        request_id = (
            client_id if client_id and _CLIENT_REQUEST_ID.fullmatch(client_id) else uuid.uuid4().hex
        )
        token = request_id_var.set(request_id)
        status_code = 500
        response_complete = False
        propagating = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status_code, response_complete
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                response_complete = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not response_complete:
                propagating = True
                raise
        finally:
            duration = time.perf_counter() - started
            route = route_template(scope)
            # uvicorn puts a forwarded address here only when the peer is in TRUSTED_PROXIES.
            client = scope["client"][0] if scope.get("client") else "-"
            logger.info(
                "%s %s %s %d %.1fms",
                client,
                scope["method"],
                route,
                status_code,
                duration * 1000,
                extra={
                    "client": client,
                    "method": scope["method"],
                    "route": route,
                    "status": status_code,
                    "duration_ms": round(duration * 1000, 2),
                },
            )
            for observe in self.observers:
                observe(scope, status_code, duration)
            # A propagating error keeps the id set: the server logs it next, in this task's context.
            if not propagating:
                request_id_var.reset(token)


class ApiKeyMiddleware:
    """Reject with 401 any request without a valid X-API-Key, except on the public paths."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, public_paths: frozenset[str]) -> None:
        self.app = app
        self.keys = keys
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return

        presented = Headers(scope=scope).get("x-api-key")
        if not self.keys.is_valid(presented):
            reason = "no" if not presented else "an invalid"
            logger.warning(
                "rejected a request with %s API key: %s %s", reason, scope["method"], scope["path"]
            )
            error = Unauthorized(
                "missing API key: send it in the X-API-Key header"
                if not presented
                else "invalid API key"
            )
            await error_response(error)(scope, receive, send)
            return
        scope.setdefault("state", {})["api_key"] = presented
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Reject with 413 a body over `max_bytes`, by Content-Length or by counting a chunked one."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(self._too_large())(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the endpoint's body read, so the handler table makes it a 413.
                    raise self._too_large()
            return message

        await self.app(scope, counting_receive, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"request body is larger than {self.max_bytes // 1024} KiB")
