"""Schema migrations with yoyo: one folder of migrations per backend, applied under yoyo's lock."""

from __future__ import annotations

import logging
from pathlib import Path

import pymysql
from yoyo import get_backend, read_migrations
from yoyo.exceptions import LockTimeout

from service.resources import MIGRATIONS_DIR
from service.settings import ConfigurationError, DatabaseConfig

logger = logging.getLogger(__name__)

# Seconds an instance waits for another one that is applying migrations at the same time.
MIGRATION_LOCK_TIMEOUT_SECONDS = 120


def _backend(config: DatabaseConfig):  # type: ignore[no-untyped-def]
    if config.backend == "sqlite" and config.path:
        Path(config.path).parent.mkdir(parents=True, exist_ok=True)
    try:
        return get_backend(config.yoyo_url())
    except Exception as exc:
        raise ConfigurationError(
            f"cannot reach the database ({config.describe()}): {driver_message(exc)}"
        ) from exc


def driver_message(exc: Exception) -> str:
    """Return a driver error's own text, without PyMySQL's (code, message) tuple around it."""
    if isinstance(exc, pymysql.err.MySQLError) and exc.args:
        return str(exc.args[-1])
    return str(exc)


def _migrations(config: DatabaseConfig):  # type: ignore[no-untyped-def]
    return read_migrations(str(MIGRATIONS_DIR / config.backend))


def pending_migrations(config: DatabaseConfig) -> list[str]:
    """Return the ids of the migrations not yet applied, oldest first."""
    backend = _backend(config)
    try:
        return [migration.id for migration in backend.to_apply(_migrations(config))]
    finally:
        backend.connection.close()


def apply_migrations(config: DatabaseConfig) -> list[str]:
    """Apply every pending migration and return their ids; concurrent callers wait in turn."""
    backend = _backend(config)
    try:
        with backend.lock(timeout=MIGRATION_LOCK_TIMEOUT_SECONDS):
            pending = backend.to_apply(_migrations(config))
            for migration in pending:
                logger.info("applying migration %s", migration.id)
            backend.apply_migrations(pending)
    except LockTimeout as exc:
        raise ConfigurationError(
            f"another process has held the migration lock for over "
            f"{MIGRATION_LOCK_TIMEOUT_SECONDS} s; if it died, run 'yoyo break-lock' "
            f"on {config.describe()}"
        ) from exc
    finally:
        backend.connection.close()
    return [migration.id for migration in pending]
