"""The database: a `databases` pool for MySQL/MariaDB or SQLite, running the named queries of sql/.

All use of the `databases` library stays in this module. It provides the pool and the connections.
Each named query was compiled once at load time to the driver's own parameter style, so a query
runs straight on the driver connection, without SQLAlchemy compiling or wrapping rows per call.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import databases
import pymysql

from service import metrics
from service.errors import DatabaseUnavailable
from service.queries import Queries
from service.resources import SQL_DIR
from service.settings import DatabaseConfig, Settings
from service.timestamps import from_database, to_database

logger = logging.getLogger(__name__)

# MySQL client and server error codes meaning the connection is gone, not that the query was wrong.
CONNECTION_LOST_CODES = frozenset({1053, 1927, 2003, 2006, 2013, 2055})
# SQLite: milliseconds a writer waits for another connection's lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 5000

Row = dict[str, Any]


def is_connection_lost(exc: BaseException) -> bool:
    """Tell whether a driver error means the server or the connection went away."""
    if isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError):
        return not exc.args or exc.args[0] in CONNECTION_LOST_CODES or exc.args[0] == 0
    return isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError)


def _is_unavailable(exc: BaseException) -> bool:
    if is_connection_lost(exc):
        return True
    # SQLite raises "database is locked" once the busy timeout has passed.
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


class Connection:
    """One acquired driver connection that runs named queries."""

    def __init__(self, database: Database, raw: Any) -> None:
        self._database = database
        self.raw = raw
        self._dialect = database.dialect

    def _bind(self, name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        converted = {
            key: to_database(value, self._dialect) if isinstance(value, datetime) else value
            for key, value in params.items()
        }
        return self._database.queries[name].bind(converted)

    async def _run(
        self, name: str, sql: str, arguments: dict[str, Any], fetch: bool
    ) -> tuple[list[Row], int]:
        started = time.perf_counter()
        try:
            return await self._run_on_driver(sql, arguments, fetch)
        finally:
            metrics.observe_query(name, time.perf_counter() - started)

    async def _run_on_driver(
        self, sql: str, arguments: dict[str, Any], fetch: bool
    ) -> tuple[list[Row], int]:
        if self._dialect == "mysql":
            async with self.raw.cursor() as cursor:
                rowcount = await cursor.execute(sql, arguments)
                if not fetch:
                    return [], rowcount
                rows = await cursor.fetchall()
                names = [column[0] for column in cursor.description]
        else:
            async with self.raw.execute(sql, arguments) as cursor:
                if not fetch:
                    return [], cursor.rowcount
                rows = await cursor.fetchall()
                names = [column[0] for column in cursor.description]
        return [_convert_row(names, row) for row in rows], len(rows)

    async def fetch_all(self, name: str, **params: Any) -> list[Row]:
        sql, arguments = self._bind(name, params)
        rows, _ = await self._run(name, sql, arguments, fetch=True)
        return rows

    async def fetch_one(self, name: str, **params: Any) -> Row | None:
        rows = await self.fetch_all(name, **params)
        return rows[0] if rows else None

    async def execute(self, name: str, **params: Any) -> int:
        """Run a statement and return the number of rows it changed."""
        sql, arguments = self._bind(name, params)
        _, rowcount = await self._run(name, sql, arguments, fetch=False)
        return rowcount

    async def execute_many(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        for params in rows:
            await self.execute(name, **params)

    async def begin(self) -> None:
        if self._dialect == "mysql":
            await self.raw.begin()
        else:
            # IMMEDIATE takes the write lock at once, so two writers never deadlock on an upgrade.
            await self.raw.execute("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        if self._dialect == "mysql":
            await self.raw.commit()
        else:
            await self.raw.execute("COMMIT")

    async def rollback(self) -> None:
        if self._dialect == "mysql":
            await self.raw.rollback()
        else:
            await self.raw.execute("ROLLBACK")


def _convert_row(names: list[str], values: Sequence[Any]) -> Row:
    row = dict(zip(names, values, strict=True))
    for name in names:
        if name.endswith("_at"):
            row[name] = from_database(row[name])
    return row


class Database:
    """The service's database: a pool plus the named queries compiled for its backend."""

    def __init__(self, config: DatabaseConfig, settings: Settings) -> None:
        self.config = config
        self.dialect = config.backend
        self.queries = Queries.load(SQL_DIR, self.dialect)
        self._database = databases.Database(config.async_url(), **_pool_options(config, settings))
        self._in_use = 0
        self._waiting = 0

    async def connect(self) -> None:
        if self.dialect == "sqlite" and self.config.path:
            Path(self.config.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            await self._database.connect()
            async with self.connection() as connection:
                if self.dialect == "sqlite":
                    # WAL lets readers run beside the writer; the mode is stored in the file.
                    await connection.raw.execute("PRAGMA journal_mode = WAL")
                await connection.fetch_all("ping")
        except Exception as exc:
            if self._database.is_connected:
                await self._database.disconnect()
            # At start-up a refused login or a missing database is as fatal as no server.
            if _is_unavailable(exc) or isinstance(exc, pymysql.err.MySQLError | sqlite3.Error):
                raise DatabaseUnavailable(
                    f"cannot reach the database ({self.config.describe()}): {exc}"
                ) from exc
            raise
        logger.info("connected to %s", self.config.describe())

    async def disconnect(self) -> None:
        if self._database.is_connected:
            await self._database.disconnect()
            logger.info("closed the connections to %s", self.config.describe())

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """Acquire this task's connection; connection failures become DatabaseUnavailable."""
        try:
            async with self._acquire() as connection:
                raw = connection.raw_connection
                if self.dialect == "sqlite":
                    # Each SQLite connection is new, and foreign keys are a per-connection setting.
                    await raw.execute("PRAGMA foreign_keys = ON")
                yield Connection(self, raw)
        except Exception as exc:
            if _is_unavailable(exc):
                raise DatabaseUnavailable("database unavailable") from exc
            raise

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[databases.core.Connection]:
        """Enter the library's connection, counting the tasks that wait and hold, for pool_stats."""
        self._waiting += 1
        waiting = True
        metrics.record_pool(self.pool_stats())
        try:
            async with self._database.connection() as connection:
                self._waiting -= 1
                waiting = False
                self._in_use += 1
                metrics.record_pool(self.pool_stats())
                try:
                    yield connection
                finally:
                    self._in_use -= 1
        finally:
            if waiting:
                self._waiting -= 1
            metrics.record_pool(self.pool_stats())

    def pool_stats(self) -> metrics.PoolStats:
        """Report this process's connections; SQLite opens one per use, so it has no idle ones."""
        # `databases` has no public accessor for the aiomysql pool it keeps.
        pool = getattr(self._database._backend, "_pool", None) if self.dialect == "mysql" else None
        if pool is None:
            return metrics.PoolStats(
                size=self._in_use, in_use=self._in_use, waiting=self._waiting, max_size=None
            )
        return metrics.PoolStats(
            size=pool.size, in_use=self._in_use, waiting=self._waiting, max_size=pool.maxsize
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Run the block in one transaction: commit on success, roll back on any error."""
        async with self.connection() as connection:
            await connection.begin()
            try:
                yield connection
            except BaseException:
                await connection.rollback()
                raise
            await connection.commit()

    async def fetch_all(self, name: str, **params: Any) -> list[Row]:
        """Run a read; a read whose connection was lost is retried once on a new connection."""
        for attempt in (1, 2):
            try:
                async with self.connection() as connection:
                    return await connection.fetch_all(name, **params)
            except DatabaseUnavailable as exc:
                if attempt == 2 or not is_connection_lost(exc.__cause__ or exc):
                    raise
                logger.warning("connection lost during %s, retrying once: %s", name, exc.__cause__)
        raise AssertionError("unreachable")

    async def fetch_one(self, name: str, **params: Any) -> Row | None:
        rows = await self.fetch_all(name, **params)
        return rows[0] if rows else None

    async def execute(self, name: str, **params: Any) -> int:
        async with self.connection() as connection:
            return await connection.execute(name, **params)


def _pool_options(config: DatabaseConfig, settings: Settings) -> dict[str, Any]:
    if config.backend == "sqlite":
        return {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    return {
        "minsize": settings.db_pool_min_size,
        "maxsize": settings.db_pool_max_size,
        "pool_recycle": settings.db_pool_recycle_seconds,
        "connect_timeout": settings.db_connect_timeout_seconds,
        # `databases` ignores these in the URL, so they go in as keyword arguments.
        "charset": "utf8mb4",
        "init_command": "SET time_zone = '+00:00'",
    }
