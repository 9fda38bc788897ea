"""Liveness and readiness probes; neither needs the API key."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from service.errors import DatabaseUnavailable
from service.responses import json_response

logger = logging.getLogger(__name__)


async def health(request: Request) -> Response:
    """Report that the process serves requests; touches no database, for liveness probes."""
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    """Report whether the database responds and its schema is current, for readiness probes."""
    state = request.app.state
    try:
        await state.db.ping()
    except DatabaseUnavailable:
        return json_response(
            {"status": "unavailable", "error": "database unavailable"}, status_code=503
        )

    pending = await state.migration_status.pending()
    if pending:
        return json_response(
            {"status": "unavailable", "error": f"migrations pending: {', '.join(pending)}"},
            status_code=503,
        )
    return json_response({"status": "ready"})
