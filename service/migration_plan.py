"""The migration plan that `migrate` and `serve` print before they change anything.

Planning only reads the database and creates nothing, not even yoyo's bookkeeping tables. The plan
gives the row count of each archive table, the steps that adopt a Go service schema, if there is
one, and the pending migrations.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pymysql
from yoyo import read_migrations
from yoyo.migrations import default_migration_table, get_migration_hash

from service.adopt import ARCHIVE_TABLES, plan_adoption
from service.resources import MIGRATIONS_DIR
from service.settings import ConfigurationError, DatabaseConfig

ADOPTION_MIGRATION = "0000_adopt_go_schema"
YOYO_MIGRATION_TABLE = default_migration_table


@dataclass(frozen=True)
class _Inspection:
    applied: set[str]
    row_counts: dict[str, int]
    rows_estimated: bool
    adoption_steps: list[str]
    note: str


def _fetch_all(connection: pymysql.connections.Connection, sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def _pending_migrations(backend: str, applied: set[str]) -> list[str]:
    migrations = read_migrations(str(MIGRATIONS_DIR / backend))
    return [migration.id for migration in migrations if migration.hash not in applied]


def _connect_mysql(config: DatabaseConfig) -> pymysql.connections.Connection:
    try:
        return pymysql.connect(
            host=config.host,
            port=config.port,
            user=config.user,
            password=config.password,
            database=config.database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=10,
        )
    except pymysql.err.MySQLError as exc:
        raise ConfigurationError(
            f"cannot reach the database to plan its migration ({config.describe()}): {exc.args[-1]}"
        ) from exc


def _inspect_mysql(config: DatabaseConfig) -> _Inspection:
    connection = _connect_mysql(config)
    try:
        tables = {row[0] for row in _fetch_all(connection, "SHOW TABLES")}
        applied = set()
        if YOYO_MIGRATION_TABLE in tables:
            applied = {
                row[0]
                for row in _fetch_all(
                    connection, f"SELECT migration_hash FROM {YOYO_MIGRATION_TABLE}"
                )
            }
        steps = plan_adoption(connection)
        present = [table for table in ARCHIVE_TABLES if table in tables]

        # Exact counts scan each table, so they are taken only when something is about to change.
        exact = bool(steps) or bool(_pending_migrations(config.backend, applied))
        counts: dict[str, int] = {}
        if exact:
            for table in present:
                counts[table] = int(_fetch_all(connection, f"SELECT COUNT(*) FROM {table}")[0][0])
        elif present:
            names = ", ".join(f"'{table}'" for table in present)
            for table, rows in _fetch_all(
                connection,
                "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
                f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({names})",
            ):
                counts[table] = int(rows or 0)
    finally:
        connection.close()

    if steps:
        note = f"found; migration {ADOPTION_MIGRATION} converts it in place:"
        if _hash(ADOPTION_MIGRATION) in applied:
            note = (
                f"found, but migration {ADOPTION_MIGRATION} is recorded as applied, "
                f"so no migration converts it; these steps are missing:"
            )
    elif present:
        note = "not found; the archive tables have this service's schema"
    else:
        note = "not found; the database has no archive tables yet"
    return _Inspection(applied, counts, not exact, steps, note)


def _inspect_sqlite(config: DatabaseConfig) -> _Inspection:
    note = "not applicable; the Go service ran on MySQL only"
    path = Path(config.path or "")
    if not path.exists():
        return _Inspection(set(), {}, False, [], note)

    # Read-only, so that planning creates no file and no table.
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        applied = set()
        if YOYO_MIGRATION_TABLE in tables:
            applied = {
                row[0]
                for row in connection.execute(f"SELECT migration_hash FROM {YOYO_MIGRATION_TABLE}")
            }
        counts = {
            table: int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ARCHIVE_TABLES
            if table in tables
        }
    finally:
        connection.close()
    return _Inspection(applied, counts, False, [], note)


def _hash(migration_id: str) -> str:
    return str(get_migration_hash(migration_id))


def migration_plan_lines(config: DatabaseConfig) -> list[str]:
    """Describe, changing nothing, what migrating would do and how many rows each table contains."""
    inspection = _inspect_sqlite(config) if config.backend == "sqlite" else _inspect_mysql(config)
    pending = _pending_migrations(config.backend, inspection.applied)

    if inspection.row_counts or config.backend == "mysql":
        counts = ", ".join(
            f"{table} {inspection.row_counts[table]}"
            if table in inspection.row_counts
            else f"{table} absent"
            for table in ARCHIVE_TABLES
        )
        label = "rows (estimated from table statistics)" if inspection.rows_estimated else "rows"
        lines = [f"{label}: {counts}"]
    else:
        lines = ["rows: the database file does not exist yet"]

    lines.append(f"Go service schema: {inspection.note}")
    lines += [
        f"  {number}. {step}" for number, step in enumerate(inspection.adoption_steps, start=1)
    ]
    lines.append(f"{len(pending)} pending migrations on {config.describe()}")
    lines += [f"  {migration_id}" for migration_id in pending]
    return lines


def print_migration_plan(config: DatabaseConfig, write: Callable[[str], object] = print) -> None:
    """Write the migration plan line by line, with `print` or a logger's method."""
    for line in migration_plan_lines(config):
        write(line)
