"""The database: a `databases` pool for MySQL/MariaDB or SQLite, running the named queries of sql/.

All use of the `databases` library stays in this module. It provides the pool and the connections.
Each named query was compiled once at load time to the driver's own parameter style, so a query
runs straight on the driver connection, without SQLAlchemy compiling or wrapping rows per call.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import databases
import pymysql
from pymysql.constants import FIELD_TYPE
from pymysql.converters import conversions

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


class ConnectionLost(DatabaseUnavailable):
    """The connection broke after it was acquired; a read may run again on a new connection.

    `sent` is False when the statement never left the process, so even a write may run again.
    """

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


def is_connection_lost(exc: BaseException) -> bool:
    """Tell whether a driver error means the server or the connection went away."""
    if isinstance(exc, pymysql.err.InterfaceError):
        # aiomysql raises InterfaceError("(0, 'Not connected')"), with the code inside the
        # message, on a connection that it closed after an earlier failure.
        return True
    if isinstance(exc, pymysql.err.OperationalError):
        return not exc.args or exc.args[0] in CONNECTION_LOST_CODES or exc.args[0] == 0
    return isinstance(exc, ConnectionError | TimeoutError)


def _transport_closed(raw: Any) -> bool:
    """Tell whether aiomysql's socket is closed, which uvloop reports only at the next write."""
    writer = getattr(raw, "_writer", None)
    return writer is None or writer.transport.is_closing()


def _is_unavailable(exc: BaseException) -> bool:
    if is_connection_lost(exc):
        return True
    # SQLite raises "database is locked" once the busy timeout has passed.
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _is_connect_failure(exc: BaseException) -> bool:
    """Tell whether opening a connection failed on the database's side, such as a refused login."""
    return _is_unavailable(exc) or isinstance(exc, pymysql.err.MySQLError)


class Connection:
    """One acquired driver connection that runs named queries.

    Every round trip goes through `_call`, which bounds it on MySQL, closes a MySQL connection
    that broke so the pool never hands it out again, and raises the archive's errors.
    """

    def __init__(self, database: Database, raw: Any) -> None:
        self._database = database
        self.raw = raw
        self._dialect = database.dialect

    @property
    def is_closed(self) -> bool:
        return self._dialect == "mysql" and self.raw.closed

    async def _call(self, operation: Awaitable[Any], what: str) -> Any:
        if self._dialect == "mysql" and _transport_closed(self.raw):
            # Nothing runs between this check and aiomysql's write of the statement.
            if inspect.iscoroutine(operation):
                operation.close()
            self.raw.close()
            raise ConnectionLost("database unavailable", sent=False) from ConnectionResetError(
                f"the server closed the connection before {what} was sent"
            )
        try:
            if self._dialect != "mysql":
                return await operation
            # aiomysql has no read timeout, so a server that stops responding would hold requests.
            async with asyncio.timeout(self._database.query_timeout):
                return await operation
        except TimeoutError:
            # A cancelled read leaves aiomysql's connection closed, so the pool discards it.
            timeout = self._database.query_timeout
            raise DatabaseUnavailable("database unavailable") from TimeoutError(
                f"{what} timed out after {timeout:g} s"
            )
        except Exception as exc:
            closed_on_write = isinstance(exc, RuntimeError) and _transport_closed(self.raw)
            if self._dialect == "mysql" and (is_connection_lost(exc) or closed_on_write):
                # aiomysql leaves the connection open after an error packet, such as the one a
                # server that is shutting down sends. Once closed, the pool drops it on release.
                self.raw.close()
                # aiomysql raises InterfaceError from its check before it writes anything, and
                # uvloop raises RuntimeError when the write meets a closed socket.
                sent = not isinstance(exc, pymysql.err.InterfaceError | RuntimeError)
                raise ConnectionLost("database unavailable", sent=sent) from exc
            if _is_unavailable(exc):
                raise DatabaseUnavailable("database unavailable") from exc
            raise

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
            result: tuple[list[Row], int] = await self._call(
                self._run_on_driver(sql, arguments, fetch), f"query {name}"
            )
            return result
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
        return _convert_rows(names, rows, self._dialect), len(rows)

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
            await self._call(self.raw.begin(), "BEGIN")
        else:
            # IMMEDIATE takes the write lock at once, so a second writer waits (up to the busy
            # timeout) instead of failing when it tries to upgrade a read lock.
            await self._call(self.raw.execute("BEGIN IMMEDIATE"), "BEGIN")

    async def commit(self) -> None:
        if self._dialect == "mysql":
            await self._call(self.raw.commit(), "COMMIT")
        else:
            await self._call(self.raw.execute("COMMIT"), "COMMIT")

    async def rollback(self) -> None:
        if self._dialect == "mysql":
            await self._call(self.raw.rollback(), "ROLLBACK")
        else:
            await self._call(self.raw.execute("ROLLBACK"), "ROLLBACK")

    async def rollback_after_error(self) -> None:
        """Roll back after a failed statement; a lost connection needs none and is only logged."""
        if self.is_closed:
            # The server rolls back the transaction of a connection that closes.
            return
        try:
            await self.rollback()
        except DatabaseUnavailable as exc:
            logger.warning("rollback failed, the server drops the transaction: %s", exc.__cause__)


def _convert_rows(names: list[str], rows: Sequence[Sequence[Any]], dialect: str) -> list[Row]:
    if dialect == "mysql":
        # The driver already read every DATETIME as an aware UTC datetime.
        return [dict(zip(names, values, strict=True)) for values in rows]
    time_columns = [name for name in names if name.endswith("_at")]
    converted = []
    for values in rows:
        row = dict(zip(names, values, strict=True))
        for name in time_columns:
            row[name] = from_database(row[name])
        converted.append(row)
    return converted


def _read_utc_datetime(text: str) -> datetime | str:
    """Read a DATETIME column, stored in UTC, as an aware datetime, in C rather than by regex."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        # A zero date such as '0000-00-00 00:00:00' stays text, as PyMySQL leaves it.
        return text


MYSQL_CONVERSIONS = {
    **conversions,
    FIELD_TYPE.DATETIME: _read_utc_datetime,
    FIELD_TYPE.TIMESTAMP: _read_utc_datetime,
}


class Database:
    """The service's database: a pool plus the named queries compiled for its backend.

    The pool opens at startup when the database is reachable, and otherwise on the first request
    after it comes back, so a server that is down at startup or restarts later needs no
    restart of the service.
    """

    def __init__(self, config: DatabaseConfig, settings: Settings) -> None:
        self.config = config
        self.dialect = config.backend
        self.queries = Queries.load(SQL_DIR, self.dialect)
        self.connect_timeout = settings.db_connect_timeout_seconds
        self.query_timeout = settings.db_query_timeout_seconds
        self._database = databases.Database(config.async_url(), **_pool_options(config, settings))
        self._open_lock = asyncio.Lock()
        self._closed = False
        self._in_use = 0
        self._waiting = 0

    async def connect(self) -> None:
        """Open the pool; an unreachable database is logged and retried on the first request.

        A refused login or a missing database does not fix itself, so it stops the start-up.
        """
        if self.dialect == "sqlite" and self.config.path:
            Path(self.config.path).parent.mkdir(parents=True, exist_ok=True)
        self._closed = False
        try:
            await self._open()
            async with self.connection() as connection:
                if self.dialect == "sqlite":
                    # WAL lets readers run beside the writer; the mode is stored in the file.
                    wal = connection.raw.execute("PRAGMA journal_mode = WAL")
                    await connection._call(wal, "PRAGMA")
                await connection.fetch_all("ping")
        except DatabaseUnavailable as exc:
            cause = exc.__cause__ or exc
            if not _is_unavailable(cause):
                if self._database.is_connected:
                    await self._database.disconnect()
                raise DatabaseUnavailable(
                    f"cannot reach the database ({self.config.describe()}): {cause}"
                ) from cause
            logger.warning(
                "cannot reach the database (%s) at startup; requests get 503 until it is back: %s",
                self.config.describe(),
                cause,
            )
            return
        except (sqlite3.Error, pymysql.err.MySQLError) as exc:
            if self._database.is_connected:
                await self._database.disconnect()
            raise DatabaseUnavailable(
                f"cannot reach the database ({self.config.describe()}): {exc}"
            ) from exc
        logger.info("connected to %s", self.config.describe())

    async def _open(self) -> None:
        # Requests that arrive while the pool opens wait for it, each up to the connect timeout.
        try:
            async with asyncio.timeout(self.connect_timeout), self._open_lock:
                if not self._database.is_connected:
                    await self._database.connect()
        except Exception as exc:
            if _is_connect_failure(exc):
                raise DatabaseUnavailable("database unavailable") from exc
            raise

    async def disconnect(self) -> None:
        self._closed = True
        if self._database.is_connected:
            await self._database.disconnect()
            logger.info("closed the connections to %s", self.config.describe())

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """Acquire this task's connection within the connect timeout or raise DatabaseUnavailable.

        A connection whose round trip fails because it broke is closed by `Connection`,
        so releasing it here drops it from the pool instead of handing it to the next request.
        """
        if not self._database.is_connected:
            if self._closed:
                raise DatabaseUnavailable("database unavailable") from ConnectionError(
                    "the pool is closed because the service is shutting down"
                )
            await self._open()
        async with AsyncExitStack() as stack:
            try:
                # Bounds the TCP connect, the server's greeting (which aiomysql waits for without
                # a timeout) and the wait for a free connection when the pool is at its maximum.
                async with asyncio.timeout(self.connect_timeout):
                    handle = await stack.enter_async_context(self._acquire())
            except TimeoutError:
                raise DatabaseUnavailable("database unavailable") from TimeoutError(
                    f"no database connection within {self.connect_timeout:g} s"
                )
            except Exception as exc:
                if _is_connect_failure(exc):
                    raise DatabaseUnavailable("database unavailable") from exc
                raise

            connection = Connection(self, handle.raw_connection)
            if self.dialect == "sqlite":
                # Each SQLite connection is new, and foreign keys are a per-connection setting.
                pragma = connection.raw.execute("PRAGMA foreign_keys = ON")
                await connection._call(pragma, "PRAGMA")
            yield connection

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
        async with AsyncExitStack() as stack:
            connection = await self._begin(stack)
            try:
                yield connection
            except BaseException:
                await connection.rollback_after_error()
                raise
            await connection.commit()

    async def _begin(self, stack: AsyncExitStack) -> Connection:
        """Acquire a connection and BEGIN on it, on a second connection if the first one is dead."""
        for attempt in (1, 2):
            scope = AsyncExitStack()
            connection = await scope.enter_async_context(self.connection())
            try:
                await connection.begin()
            except ConnectionLost as exc:
                await scope.aclose()
                if attempt == 2:
                    raise
                # BEGIN applies nothing, so running it again on a new connection is safe.
                logger.warning("connection lost at BEGIN, retrying once: %s", exc.__cause__)
                continue
            except BaseException:
                await scope.aclose()
                raise
            stack.push_async_exit(scope)
            return connection
        raise AssertionError("unreachable")

    async def fetch_all(self, name: str, **params: Any) -> list[Row]:
        """Run a read; a read whose connection was lost is retried once on a new connection."""
        for attempt in (1, 2):
            try:
                async with self.connection() as connection:
                    return await connection.fetch_all(name, **params)
            except ConnectionLost as exc:
                if attempt == 2:
                    raise
                logger.warning("connection lost during %s, retrying once: %s", name, exc.__cause__)
        raise AssertionError("unreachable")

    async def fetch_one(self, name: str, **params: Any) -> Row | None:
        rows = await self.fetch_all(name, **params)
        return rows[0] if rows else None

    async def execute(self, name: str, **params: Any) -> int:
        """Run a write; it runs again only when its connection was found dead before it was sent.

        A write whose connection breaks after sending may have been applied, so it never reruns.
        """
        for attempt in (1, 2):
            try:
                async with self.connection() as connection:
                    return await connection.execute(name, **params)
            except ConnectionLost as exc:
                if attempt == 2 or exc.sent:
                    raise
                logger.warning(
                    "connection lost before %s was sent, retrying once: %s", name, exc.__cause__
                )
        raise AssertionError("unreachable")

    async def ping(self) -> None:
        """Run one trivial query, without a retry, within the connect timeout."""
        try:
            async with asyncio.timeout(self.connect_timeout), self.connection() as connection:
                await connection.fetch_all("ping")
        except TimeoutError:
            raise DatabaseUnavailable("database unavailable") from TimeoutError(
                f"the ping timed out after {self.connect_timeout:g} s"
            )


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
        "conv": MYSQL_CONVERSIONS,
    }
