"""Build the Starlette application: its route table, middleware and lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from service import docs, metrics, openapi, operations
from service.cors import ListedOriginsCORSMiddleware
from service.db import Database
from service.errors import EXCEPTION_HANDLERS
from service.idempotency import IdempotencyKeys, idempotent
from service.keys import ApiKeys
from service.middleware import (
    API_PREFIX,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    RequestLogMiddleware,
)
from service.migrate import pending_migrations
from service.routes import artists, health, recents, sessions, tracks
from service.rules import ListenRule
from service.settings import DatabaseConfig, Settings

logger = logging.getLogger(__name__)

# Seconds the readiness probe reuses a "migrations are current" result.
MIGRATION_STATUS_TTL_SECONDS = 60
# Seconds the readiness probe waits for yoyo, whose MySQL connection has no read timeout.
MIGRATION_STATUS_TIMEOUT_SECONDS = 3

API_ROUTES: list[BaseRoute] = [
    Route("/health", health.health, methods=["GET"]),
    Route("/ready", health.ready, methods=["GET"]),
    Route("/sessions", sessions.list_sessions, methods=["GET"]),
    Route("/sessions", idempotent(sessions.create_session), methods=["POST"]),
    Route("/sessions/{sessionId}", sessions.get_session, methods=["GET"]),
    Route("/sessions/{sessionId}", sessions.end_session, methods=["PATCH"]),
    Route("/sessions/{sessionId}/tracks", sessions.list_session_track_plays, methods=["GET"]),
    Route(
        "/sessions/{sessionId}/tracks",
        idempotent(sessions.create_track_play),
        methods=["POST"],
    ),
    Route("/tracks/{trackPlayId}", tracks.get_track_play, methods=["GET"]),
    Route("/tracks/{trackPlayId}", tracks.end_track_play, methods=["PATCH"]),
    Route("/tracks/{trackPlayId}/listeners", tracks.list_listeners, methods=["GET"]),
    Route(
        "/guilds/{guildId}/tracks/recent", recents.get_recent_track_plays_by_guild, methods=["GET"]
    ),
    Route("/users/{userId}/tracks/recent", recents.get_recent_track_plays_by_user, methods=["GET"]),
    Route(
        "/guilds/{guildId}/artists/recommended",
        artists.get_recommended_artists_by_guild,
        methods=["GET"],
    ),
    Route(
        "/users/{userId}/artists/recommended",
        artists.get_recommended_artists_by_user,
        methods=["GET"],
    ),
    Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
    Route("/docs", docs.docs_page, methods=["GET"]),
    Route("/docs/assets/{name}", docs.docs_asset, methods=["GET"]),
]

PUBLIC_PATHS = frozenset(
    {
        f"{API_PREFIX}/health",
        f"{API_PREFIX}/ready",
        f"{API_PREFIX}/openapi.json",
        f"{API_PREFIX}/docs",
        *(f"{API_PREFIX}/docs/assets/{name}" for name in docs.ASSETS),
    }
)
METRICS_PATH = "/metrics"


class ArchiveApp(Starlette):
    """Starlette with the request id and log line as the outermost layer, around its 500 handler."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestLogMiddleware(
            super().build_middleware_stack(), observers=[metrics.observe_request]
        )


class MigrationStatus:
    """Pending migrations; once none are pending, yoyo is asked again only after a minute."""

    def __init__(self, config: DatabaseConfig) -> None:
        self._config = config
        self._current_until = 0.0

    async def pending(self) -> list[str]:
        if time.monotonic() < self._current_until:
            return []
        try:
            pending = await asyncio.wait_for(
                asyncio.to_thread(pending_migrations, self._config),
                MIGRATION_STATUS_TIMEOUT_SECONDS,
            )
        except TimeoutError:
            logger.warning(
                "cannot read the migration status: timed out after %d s",
                MIGRATION_STATUS_TIMEOUT_SECONDS,
            )
            return ["unknown: reading the migration table timed out"]
        except Exception as exc:
            logger.warning("cannot read the migration status: %s", exc)
            return ["unknown: the migration table cannot be read"]
        if not pending:
            self._current_until = time.monotonic() + MIGRATION_STATUS_TTL_SECONDS
        return pending


def create_app(settings: Settings, keys: ApiKeys | None = None) -> Starlette:
    """Build the app; it connects to the database when its lifespan starts."""
    config = settings.database()
    keys = keys or ApiKeys.from_settings(settings)
    db = Database(config, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.connect()
        try:
            async with metrics.worker_metrics():
                yield
        finally:
            await db.disconnect()

    middleware = []
    if settings.cors_origins():
        middleware.append(
            Middleware(
                ListedOriginsCORSMiddleware,
                allow_origins=settings.cors_origins(),
                allow_methods=["GET", "POST", "PATCH"],
                allow_headers=["X-API-Key", "Content-Type", "Idempotency-Key", "X-Request-ID"],
                allow_credentials=False,
            )
        )
    public_paths = PUBLIC_PATHS | {METRICS_PATH} if settings.metrics_public else PUBLIC_PATHS
    middleware += [
        Middleware(ApiKeyMiddleware, keys=keys, public_paths=public_paths),
        Middleware(BodyLimitMiddleware),
    ]

    app = ArchiveApp(
        routes=[
            Mount(API_PREFIX, routes=API_ROUTES),
            Route(METRICS_PATH, metrics.metrics, methods=["GET"]),
        ],
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.keys = keys
    app.state.listen_rule = ListenRule(settings.min_listen_ms, settings.min_listen_fraction)
    app.state.migration_status = MigrationStatus(config)
    document = openapi.build_openapi(
        app.routes, operations.operations(settings.recommend_seed_count, settings.metrics_public)
    )
    app.state.openapi_json = openapi.encode(document)
    app.state.idempotency_keys = IdempotencyKeys(db)
    return app
