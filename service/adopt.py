"""Adoption of the Go service's MySQL database: its tables are converted in place to this schema.

The Go service (GORM AutoMigrate) created the same three tables as this service, with TIMESTAMP
times, INT durations, utf8mb4 ids, its own index names and no listener start times. The migration
0000_adopt_go_schema runs the steps below before 0001 creates whatever is still missing.

MySQL commits each DDL statement by itself, so no step can be rolled back. Each step reads
information_schema right before it runs and does only what is still missing: a run after a crash
half-way finishes the job, and a run on an empty or current database changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pymysql.converters import escape_string

from service.settings import ConfigurationError

logger = logging.getLogger(__name__)

SESSIONS = "listening_sessions"
PLAYS = "track_plays"
LISTENERS = "track_play_listeners"
ARCHIVE_TABLES = (SESSIONS, PLAYS, LISTENERS)

ID_CHARSET = "ascii"
ID_COLLATION = "ascii_bin"
ID_LENGTH = 36
TIME_PRECISION = 3
# Listener rows that one UPDATE fills with start times. Each batch commits on its own.
LISTENER_FILL_BATCH_ROWS = 10_000

ID_COLUMNS = {SESSIONS: ("id",), PLAYS: ("id", "session_id"), LISTENERS: ("track_play_id",)}
TIME_COLUMNS = {SESSIONS: ("started_at", "ended_at"), PLAYS: ("started_at", "ended_at")}
# Defaults of the duration columns of track_plays. A NULL duration from the Go service becomes 0,
# which this service reads as an unknown duration.
DURATION_DEFAULTS: dict[str, int | None] = {"duration_ms": None, "played_duration_ms": 0}
# Minimum widths in characters of the text columns of track_plays. A wider column keeps its width.
TEXT_WIDTHS = {"source": 255, "source_id": 255, "url": 2048, "title": 1000, "artist": 1000}
# Columns that both schemas have. A table without one of them contains something else.
SHARED_COLUMNS = {
    SESSIONS: ("id", "guild_id", "started_at", "ended_at"),
    PLAYS: (
        "id",
        "session_id",
        "guild_id",
        "source",
        "source_id",
        "url",
        "title",
        "artist",
        "started_at",
        "ended_at",
        "duration_ms",
        "played_duration_ms",
        "queued_by_user",
        "is_valid",
    ),
    LISTENERS: ("track_play_id", "user_id"),
}

Connection = Any  # a PyMySQL connection, as yoyo hands it to a migration step


class AdoptionError(ConfigurationError):
    """Rows or tables that block the conversion, which the message names.

    It derives from ConfigurationError, so the command line prints it without a traceback.
    """


@dataclass(frozen=True)
class IndexSpec:
    table: str
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKeySpec:
    name: str
    table: str
    column: str
    parent: str
    on_delete: str


PROJECT_INDEXES = (
    IndexSpec(SESSIONS, "idx_get_sessions_by_guild_ids", ("guild_id", "started_at")),
    IndexSpec(PLAYS, "idx_get_track_plays_by_session_id", ("session_id", "started_at")),
    IndexSpec(PLAYS, "idx_get_recent_track_plays_by_guild", ("guild_id", "is_valid", "started_at")),
    IndexSpec(LISTENERS, "idx_get_recent_track_plays_by_user", ("user_id", "started_at")),
)
# Go indexes that are a left prefix of a project index, which serves their queries as well.
REDUNDANT_GO_INDEXES = {
    IndexSpec(
        SESSIONS, "idx_listening_sessions_guild", ("guild_id",)
    ): "idx_get_sessions_by_guild_ids",
    IndexSpec(
        PLAYS, "idx_track_plays_session", ("session_id",)
    ): "idx_get_track_plays_by_session_id",
}
# Go indexes that mislead the optimizer. The Go service deleted invalid plays, so nearly every
# row has is_valid = 1. With 95 000 adopted plays, MariaDB 10.11 scanned this index for a user's
# recents and sorted every valid play, in place of walking idx_get_recent_track_plays_by_user.
MISLEADING_GO_INDEXES = {
    IndexSpec(PLAYS, "idx_track_plays_is_valid", ("is_valid",)): "nearly every play is valid",
}
FOREIGN_KEYS = (
    ForeignKeySpec("fk_track_plays_session", PLAYS, "session_id", SESSIONS, ""),
    ForeignKeySpec(
        "fk_track_play_listeners_track_play",
        LISTENERS,
        "track_play_id",
        PLAYS,
        " ON DELETE CASCADE",
    ),
)


# Reading the schema


@dataclass(frozen=True)
class Column:
    data_type: str
    length: int | None
    precision: int | None
    nullable: bool
    charset: str | None
    collation: str | None
    comment: str


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class Schema:
    """The archive tables' columns, indexes and foreign keys, as information_schema lists them."""

    columns: dict[tuple[str, str], Column]
    indexes: dict[tuple[str, str], tuple[str, ...]]
    foreign_keys: tuple[ForeignKey, ...]

    @property
    def tables(self) -> set[str]:
        return {table for table, _ in self.columns}

    def column(self, table: str, name: str) -> Column | None:
        return self.columns.get((table, name))

    def needs_id_conversion(self, table: str, name: str) -> bool:
        column = self.column(table, name)
        return column is not None and column.collation != ID_COLLATION

    def matching_foreign_key(self, spec: ForeignKeySpec) -> ForeignKey | None:
        for key in self.foreign_keys:
            if (
                key.table == spec.table
                and key.columns == (spec.column,)
                and key.parent == spec.parent
            ):
                return key
        return None


def _fetch_all(
    connection: Connection, sql: str, params: tuple[Any, ...] | None = None
) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _execute(connection: Connection, sql: str, params: tuple[Any, ...] | None = None) -> int:
    with connection.cursor() as cursor:
        return int(cursor.execute(sql, params))


def read_schema(connection: Connection) -> Schema:
    tables = ", ".join(f"'{table}'" for table in ARCHIVE_TABLES)
    columns = {}
    for row in _fetch_all(
        connection,
        "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, DATETIME_PRECISION, "
        "IS_NULLABLE, CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_COMMENT "
        "FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({tables})",
    ):
        table, name, data_type, length, precision, nullable, charset, collation, comment = row
        columns[(table, name)] = Column(
            data_type=data_type.lower(),
            length=None if length is None else int(length),
            precision=None if precision is None else int(precision),
            nullable=nullable == "YES",
            charset=charset,
            collation=collation,
            comment=comment or "",
        )

    indexes: dict[tuple[str, str], tuple[str, ...]] = {}
    for table, name, column in _fetch_all(
        connection,
        "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({tables}) "
        "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    ):
        indexes[(table, name)] = (*indexes.get((table, name), ()), column)

    # Every foreign key from or to an archive table, including ones a deployment added.
    key_parts: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for name, table, column, parent, parent_column in _fetch_all(
        connection,
        "SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, "
        "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_SCHEMA = DATABASE() "
        f"AND (TABLE_NAME IN ({tables}) OR REFERENCED_TABLE_NAME IN ({tables})) "
        "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
    ):
        key_parts.setdefault((table, name), []).append((column, parent, parent_column))
    foreign_keys = tuple(
        ForeignKey(
            name=name,
            table=table,
            columns=tuple(part[0] for part in parts),
            parent=parts[0][1],
            parent_columns=tuple(part[2] for part in parts),
        )
        for (table, name), parts in key_parts.items()
    )
    return Schema(columns=columns, indexes=indexes, foreign_keys=foreign_keys)


# Column definitions


def _null(column: Column) -> str:
    return "NULL" if column.nullable else "NOT NULL"


def _comment(column: Column) -> str:
    return f" COMMENT '{escape_string(column.comment)}'" if column.comment else ""


def _id_definition(column: Column) -> str:
    length = max(column.length or 0, ID_LENGTH)
    return (
        f"VARCHAR({length}) CHARACTER SET {ID_CHARSET} COLLATE {ID_COLLATION} "
        f"{_null(column)}{_comment(column)}"
    )


def _time_definition(column: Column) -> str:
    precision = max(column.precision or 0, TIME_PRECISION)
    return f"DATETIME({precision}) {_null(column)}{_comment(column)}"


def _needs_time_conversion(column: Column | None) -> bool:
    return column is not None and (
        column.data_type != "datetime" or (column.precision or 0) < TIME_PRECISION
    )


def _needs_duration_conversion(column: Column | None) -> bool:
    return column is not None and (column.data_type != "bigint" or column.nullable)


def _needs_widening(column: Column | None, width: int) -> bool:
    return (
        column is not None
        and column.data_type in ("varchar", "char")
        and (column.length or 0) < width
    )


# Changes inside one ALTER TABLE


@dataclass(frozen=True)
class Change:
    summary: str
    clauses: tuple[str, ...]


def _id_changes(schema: Schema, table: str) -> list[Change]:
    names = [name for name in ID_COLUMNS.get(table, ()) if schema.needs_id_conversion(table, name)]
    if not names:
        return []
    clauses = []
    for name in names:
        column = schema.column(table, name)
        assert column is not None
        clauses.append(f"MODIFY {name} {_id_definition(column)}")
    return [
        Change(f"{', '.join(names)} to {ID_CHARSET} with collation {ID_COLLATION}", tuple(clauses))
    ]


def _time_changes(schema: Schema, table: str) -> list[Change]:
    names = [
        name
        for name in TIME_COLUMNS.get(table, ())
        if _needs_time_conversion(schema.column(table, name))
    ]
    if not names:
        return []
    clauses = []
    kinds = set()
    for name in names:
        column = schema.column(table, name)
        assert column is not None
        kinds.add(column.data_type.upper())
        clauses.append(f"MODIFY {name} {_time_definition(column)}")
    return [
        Change(
            f"{', '.join(names)} from {'/'.join(sorted(kinds))} "
            f"to DATETIME({TIME_PRECISION}) in UTC",
            tuple(clauses),
        )
    ]


def _duration_changes(schema: Schema) -> list[Change]:
    names = [
        name for name in DURATION_DEFAULTS if _needs_duration_conversion(schema.column(PLAYS, name))
    ]
    if not names:
        return []
    clauses = []
    for name in names:
        column = schema.column(PLAYS, name)
        assert column is not None
        default = DURATION_DEFAULTS[name]
        default_clause = "" if default is None else f" DEFAULT {default}"
        clauses.append(f"MODIFY {name} BIGINT NOT NULL{default_clause}{_comment(column)}")
    return [Change(f"{', '.join(names)} to BIGINT NOT NULL", tuple(clauses))]


def _text_changes(schema: Schema) -> list[Change]:
    changes = []
    for name, width in TEXT_WIDTHS.items():
        column = schema.column(PLAYS, name)
        if column is None or not _needs_widening(column, width):
            continue
        # The column keeps its character set and collation; MODIFY would otherwise take the table's.
        clause = (
            f"MODIFY {name} VARCHAR({width}) CHARACTER SET {column.charset} "
            f"COLLATE {column.collation} {_null(column)}{_comment(column)}"
        )
        changes.append(
            Change(f"{name} from VARCHAR({column.length}) to VARCHAR({width})", (clause,))
        )
    return changes


def _index_changes(schema: Schema, table: str) -> list[Change]:
    changes = []
    added = set()
    for index in PROJECT_INDEXES:
        if index.table != table or (table, index.name) in schema.indexes:
            continue
        columns = ", ".join(index.columns)
        changes.append(
            Change(f"add index {index.name} ({columns})", (f"ADD KEY {index.name} ({columns})",))
        )
        added.add(index.name)
    for index, replacement in REDUNDANT_GO_INDEXES.items():
        if index.table != table or schema.indexes.get((table, index.name)) != index.columns:
            continue
        if replacement in added or (table, replacement) in schema.indexes:
            changes.append(
                Change(
                    f"drop index {index.name}, which {replacement} covers",
                    (f"DROP KEY {index.name}",),
                )
            )
    for index, reason in MISLEADING_GO_INDEXES.items():
        if index.table == table and schema.indexes.get((table, index.name)) == index.columns:
            changes.append(
                Change(
                    f"drop index {index.name}, which misleads the optimizer: {reason}",
                    (f"DROP KEY {index.name}",),
                )
            )
    return changes


def _alter_table(connection: Connection, table: str, changes: list[Change]) -> None:
    clauses = ",\n    ".join(clause for change in changes for clause in change.clauses)
    _execute(connection, f"ALTER TABLE {table}\n    {clauses}")


def _describe_changes(table: str, changes: list[Change]) -> str | None:
    if not changes:
        return None
    return f"alter {table}: " + "; ".join(change.summary for change in changes)


# The steps, in the order they run


@dataclass(frozen=True)
class Step:
    """One step of the conversion. `describe` returns None when the schema needs nothing of it."""

    name: str
    describe: Callable[[Schema], str | None]
    run: Callable[[Connection, Schema], None]


def _foreign_keys_to_drop(schema: Schema) -> list[ForeignKeySpec]:
    return [
        spec
        for spec in FOREIGN_KEYS
        if schema.matching_foreign_key(spec) is not None
        and (
            schema.needs_id_conversion(spec.table, spec.column)
            or schema.needs_id_conversion(spec.parent, "id")
        )
    ]


def _describe_drop_foreign_keys(schema: Schema) -> str | None:
    specs = _foreign_keys_to_drop(schema)
    if not specs:
        return None
    names = ", ".join(spec.name for spec in specs)
    return f"drop foreign keys {names}, so the ids they join can change collation"


def _run_drop_foreign_keys(connection: Connection, schema: Schema) -> None:
    for spec in _foreign_keys_to_drop(schema):
        key = schema.matching_foreign_key(spec)
        assert key is not None
        _execute(connection, f"ALTER TABLE {spec.table} DROP FOREIGN KEY {key.name}")


def _session_changes(schema: Schema) -> list[Change]:
    if SESSIONS not in schema.tables:
        return []
    return (
        _id_changes(schema, SESSIONS)
        + _time_changes(schema, SESSIONS)
        + _index_changes(schema, SESSIONS)
    )


def _durations_with_nulls(schema: Schema) -> list[str]:
    return [
        name
        for name in DURATION_DEFAULTS
        if (column := schema.column(PLAYS, name)) and column.nullable
    ]


def _describe_fill_durations(schema: Schema) -> str | None:
    names = _durations_with_nulls(schema)
    if not names:
        return None
    return f"set NULL {', '.join(names)} of track_plays to 0, which this service reads as unknown"


def _run_fill_durations(connection: Connection, schema: Schema) -> None:
    # Assigning each TIMESTAMP column its own value keeps an ON UPDATE CURRENT_TIMESTAMP column,
    # which GORM gets when explicit_defaults_for_timestamp is off, from changing.
    keep_times = "".join(
        f", {name} = {name}"
        for name in TIME_COLUMNS[PLAYS]
        if (column := schema.column(PLAYS, name)) and column.data_type == "timestamp"
    )
    for name in _durations_with_nulls(schema):
        _execute(connection, f"UPDATE {PLAYS} SET {name} = 0{keep_times} WHERE {name} IS NULL")
        connection.commit()


def _play_changes(schema: Schema) -> list[Change]:
    if PLAYS not in schema.tables:
        return []
    return (
        _id_changes(schema, PLAYS)
        + _text_changes(schema)
        + _time_changes(schema, PLAYS)
        + _duration_changes(schema)
        + _index_changes(schema, PLAYS)
    )


def _listener_column_changes(schema: Schema) -> list[Change]:
    if LISTENERS not in schema.tables:
        return []
    changes = _id_changes(schema, LISTENERS)
    if schema.column(LISTENERS, "started_at") is None:
        changes.append(
            Change(
                "add started_at, a copy of the play's start",
                (f"ADD COLUMN started_at DATETIME({TIME_PRECISION}) NULL AFTER user_id",),
            )
        )
    return changes


def _listener_times_missing(schema: Schema) -> bool:
    if LISTENERS not in schema.tables:
        return False
    column = schema.column(LISTENERS, "started_at")
    return column is None or column.nullable


def _describe_fill_listener_times(schema: Schema) -> str | None:
    if not _listener_times_missing(schema):
        return None
    return (
        f"copy each play's started_at to its rows in track_play_listeners, "
        f"{LISTENER_FILL_BATCH_ROWS} rows per transaction"
    )


def _run_fill_listener_times(connection: Connection, schema: Schema) -> None:
    update = (
        f"UPDATE {LISTENERS} AS listener JOIN {PLAYS} AS play ON play.id = listener.track_play_id "
        "SET listener.started_at = play.started_at "
        "WHERE listener.started_at IS NULL AND listener.track_play_id > %s"
    )
    # Batches are ranges of the primary key, so each UPDATE reads only its own rows.
    after = ""
    while True:
        rows = _fetch_all(
            connection,
            f"SELECT track_play_id FROM {LISTENERS} WHERE track_play_id > %s "
            "ORDER BY track_play_id LIMIT 1 OFFSET %s",
            (after, LISTENER_FILL_BATCH_ROWS - 1),
        )
        if not rows:
            _execute(connection, update, (after,))
            connection.commit()
            return
        last = rows[0][0]
        _execute(connection, update + " AND listener.track_play_id <= %s", (after, last))
        connection.commit()
        after = last


def _listener_finish_changes(schema: Schema) -> list[Change]:
    if LISTENERS not in schema.tables:
        return []
    changes = []
    if _listener_times_missing(schema):
        changes.append(
            Change(
                "make started_at NOT NULL",
                (f"MODIFY started_at DATETIME({TIME_PRECISION}) NOT NULL",),
            )
        )
    return changes + _index_changes(schema, LISTENERS)


def _foreign_keys_to_add(schema: Schema) -> list[ForeignKeySpec]:
    return [
        spec
        for spec in FOREIGN_KEYS
        if {spec.table, spec.parent} <= schema.tables
        and (schema.matching_foreign_key(spec) is None or spec in _foreign_keys_to_drop(schema))
    ]


def _describe_add_foreign_keys(schema: Schema) -> str | None:
    specs = _foreign_keys_to_add(schema)
    if not specs:
        return None
    names = ", ".join(spec.name for spec in specs)
    return f"add foreign keys {names}, after checking that every id they join has its row"


def _run_add_foreign_keys(connection: Connection, schema: Schema) -> None:
    for spec in _foreign_keys_to_add(schema):
        _check_references(connection, schema, spec)
        # The rows were checked just above. With the checks off, the server adds the key in
        # place instead of copying the whole table to check the rows again.
        _execute(connection, "SET SESSION foreign_key_checks = 0")
        try:
            _execute(
                connection,
                f"ALTER TABLE {spec.table} ADD CONSTRAINT {spec.name} FOREIGN KEY ({spec.column}) "
                f"REFERENCES {spec.parent} (id){spec.on_delete}",
            )
        finally:
            _execute(connection, "SET SESSION foreign_key_checks = 1")


def _alter_step(name: str, table: str, changes: Callable[[Schema], list[Change]]) -> Step:
    return Step(
        name=name,
        describe=lambda schema: _describe_changes(table, changes(schema)),
        run=lambda connection, schema: _alter_table(connection, table, changes(schema)),
    )


ADOPTION_STEPS = (
    Step("drop_id_foreign_keys", _describe_drop_foreign_keys, _run_drop_foreign_keys),
    _alter_step("alter_listening_sessions", SESSIONS, _session_changes),
    Step("fill_null_durations", _describe_fill_durations, _run_fill_durations),
    _alter_step("alter_track_plays", PLAYS, _play_changes),
    _alter_step("add_listener_start_time", LISTENERS, _listener_column_changes),
    Step("fill_listener_start_times", _describe_fill_listener_times, _run_fill_listener_times),
    _alter_step("finish_track_play_listeners", LISTENERS, _listener_finish_changes),
    Step("add_id_foreign_keys", _describe_add_foreign_keys, _run_add_foreign_keys),
)


# Checks that run before any change


def _check_shared_columns(schema: Schema) -> None:
    for table, names in SHARED_COLUMNS.items():
        if table not in schema.tables:
            continue
        missing = [name for name in names if schema.column(table, name) is None]
        if missing:
            raise AdoptionError(
                f"table {table} has no column {', '.join(missing)}, so it is neither the Go "
                f"service's table nor this service's; rename or drop it before migrating"
            )


def _check_other_foreign_keys(schema: Schema) -> None:
    """Reject foreign keys that a deployment added on ids whose collation is about to change."""
    known = {schema.matching_foreign_key(spec) for spec in FOREIGN_KEYS}
    converted = {
        (table, name)
        for table, names in ID_COLUMNS.items()
        for name in names
        if schema.needs_id_conversion(table, name)
    }
    for key in schema.foreign_keys:
        if key in known:
            continue
        joined = {(key.table, column) for column in key.columns} | {
            (key.parent, column) for column in key.parent_columns
        }
        if joined & converted:
            raise AdoptionError(
                f"foreign key {key.name} of table {key.table} joins ids whose collation changes "
                f"to {ID_COLLATION}; drop it before migrating and add it again afterwards"
            )


def _check_id_characters(connection: Connection, schema: Schema) -> None:
    for table, names in ID_COLUMNS.items():
        for name in names:
            if not schema.needs_id_conversion(table, name):
                continue
            # In utf8mb4 a character outside ASCII takes more than one byte.
            rows = _fetch_all(
                connection,
                f"SELECT COUNT(*), MIN({name}) FROM {table} "
                f"WHERE LENGTH({name}) <> CHAR_LENGTH({name})",
            )
            count, example = rows[0]
            if count:
                raise AdoptionError(
                    f"{count} rows of {table} have a {name} with characters outside ASCII, "
                    f"for example {example!r}; ids are stored as ASCII, so fix or delete those rows"
                )


def _check_references(connection: Connection, schema: Schema, spec: ForeignKeySpec) -> None:
    """Raise unless every id of the child column equals its parent's id byte for byte."""
    parent = schema.column(spec.parent, "id")
    assert parent is not None
    # The probe takes the parent's collation so that the parent's primary key serves the lookup.
    rows = _fetch_all(
        connection,
        f"SELECT COUNT(*), MIN(child.{spec.column}) FROM {spec.table} AS child "
        f"WHERE NOT EXISTS (SELECT 1 FROM {spec.parent} AS parent "
        f"WHERE parent.id = CONVERT(child.{spec.column} USING {parent.charset}) "
        f"COLLATE {parent.collation} "
        f"AND CAST(parent.id AS BINARY) = CAST(child.{spec.column} AS BINARY))",
    )
    count, example = rows[0]
    if count:
        raise AdoptionError(
            f"{count} rows of {spec.table} have a {spec.column} with no {spec.parent} id "
            f"equal to it byte for byte, for example {example!r}; ids compare case-sensitively "
            f"after the migration, so fix or delete those rows"
        )


def check_adoptable(connection: Connection, schema: Schema) -> None:
    """Raise AdoptionError, before anything changes, when a row or table would block a step."""
    _check_shared_columns(schema)
    _check_other_foreign_keys(schema)
    _check_id_characters(connection, schema)
    for spec in _foreign_keys_to_add(schema):
        _check_references(connection, schema, spec)


# Running the steps


@contextmanager
def utc_session(connection: Connection) -> Iterator[None]:
    """Set the connection's time zone to UTC, so TIMESTAMP values convert to DATETIME in UTC."""
    previous = _fetch_all(connection, "SELECT @@session.time_zone")[0][0]
    _execute(connection, "SET SESSION time_zone = '+00:00'")
    try:
        yield
    finally:
        _execute(connection, "SET SESSION time_zone = %s", (previous,))


def plan_adoption(connection: Connection) -> list[str]:
    """Describe the steps that adopting the database would run, without changing anything.

    Returns no steps on an empty database and on one that has this service's schema already.
    Raises AdoptionError when a row or table would block the conversion.
    """
    schema = read_schema(connection)
    if not schema.tables:
        return []
    check_adoptable(connection, schema)
    return [description for step in ADOPTION_STEPS if (description := step.describe(schema))]


def run_step(connection: Connection, step: Step) -> bool:
    """Run one step if the current schema still needs it; return whether it ran."""
    schema = read_schema(connection)
    description = step.describe(schema)
    if description is None:
        return False
    logger.info("adopting the Go service schema: %s", description)
    with utc_session(connection):
        step.run(connection, schema)
    connection.commit()
    return True


def adopt_go_schema(connection: Connection) -> None:
    """Convert a Go service schema in place to this service's schema; the migration calls it."""
    connection.commit()
    schema = read_schema(connection)
    if not schema.tables:
        return
    check_adoptable(connection, schema)
    for step in ADOPTION_STEPS:
        run_step(connection, step)
