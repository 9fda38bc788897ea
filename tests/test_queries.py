"""The SQL loader: block format, errors with file and line, dialect variants, list parameters."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import pytest

from service.queries import Queries, QueryFileError, parse_sql_file
from service.resources import SQL_DIR

PORTABLE = """
-- name: get_session_by_id
-- Return the session with this id.
SELECT id FROM listening_sessions WHERE id = :session_id
"""


def write_sql(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_load_named_query(tmp_path):
    write_sql(tmp_path, "sessions.sql", PORTABLE)

    query = Queries.load(tmp_path, "sqlite")["get_session_by_id"]

    assert query.doc == "Return the session with this id."
    assert query.sql == "SELECT id FROM listening_sessions WHERE id = :session_id"
    assert query.parameters == ("session_id",)


def test_load_mysql_parameter_style(tmp_path):
    write_sql(tmp_path, "sessions.sql", PORTABLE)

    query = Queries.load(tmp_path, "mysql")["get_session_by_id"]

    assert query.sql == "SELECT id FROM listening_sessions WHERE id = %(session_id)s"


def test_load_duplicate_name_rejected(tmp_path):
    write_sql(tmp_path, "a.sql", PORTABLE)
    write_sql(tmp_path, "b.sql", "-- name: other\n-- Return one.\nSELECT 1\n\n" + PORTABLE.lstrip())

    with pytest.raises(QueryFileError) as caught:
        Queries.load(tmp_path, "sqlite")

    assert f"{tmp_path / 'b.sql'}:5" in str(caught.value)
    assert f"{tmp_path / 'a.sql'}:1" in str(caught.value)
    assert "get_session_by_id" in str(caught.value)


def test_load_duplicate_in_one_file_rejected(tmp_path):
    write_sql(tmp_path, "a.sql", PORTABLE + "\n" + PORTABLE)

    with pytest.raises(QueryFileError, match=r"a\.sql:6.*a\.sql:1"):
        Queries.load(tmp_path, "sqlite")


def test_load_duplicate_dialect_variant_rejected(tmp_path):
    variant = "-- name: get_session_by_id\n-- dialect: sqlite\n-- Return it.\nSELECT 2\n"
    write_sql(tmp_path, "a.sql", PORTABLE + "\n" + variant + "\n" + variant)

    with pytest.raises(QueryFileError, match="already defined"):
        Queries.load(tmp_path, "sqlite")


def test_load_dialect_variant_picked(tmp_path):
    variant = """
    -- name: get_session_by_id
    -- dialect: sqlite
    -- Return the session with this id, the SQLite way.
    SELECT id FROM listening_sessions WHERE id = :session_id LIMIT 1
    """
    write_sql(tmp_path, "a.sql", variant)
    write_sql(tmp_path, "b.sql", PORTABLE)

    sqlite_query = Queries.load(tmp_path, "sqlite")["get_session_by_id"]
    mysql_query = Queries.load(tmp_path, "mysql")["get_session_by_id"]

    assert sqlite_query.sql.endswith("LIMIT 1")
    assert sqlite_query.doc == "Return the session with this id, the SQLite way."
    assert not mysql_query.sql.endswith("LIMIT 1")


def test_load_dialect_variant_after_portable(tmp_path):
    write_sql(
        tmp_path,
        "a.sql",
        PORTABLE + "\n-- name: get_session_by_id\n-- dialect: mysql\n-- Return it, locked.\n"
        "SELECT id FROM listening_sessions WHERE id = :session_id FOR UPDATE\n",
    )

    assert Queries.load(tmp_path, "mysql")["get_session_by_id"].sql.endswith("FOR UPDATE")
    assert not Queries.load(tmp_path, "sqlite")["get_session_by_id"].sql.endswith("FOR UPDATE")


def test_load_variant_without_portable_rejected(tmp_path):
    write_sql(
        tmp_path, "a.sql", "-- name: only_mysql\n-- dialect: mysql\n-- Return one.\nSELECT 1\n"
    )

    with pytest.raises(QueryFileError, match=r"a\.sql:1.*sqlite"):
        Queries.load(tmp_path, "mysql")


def test_load_variant_for_every_dialect_accepted(tmp_path):
    write_sql(
        tmp_path,
        "a.sql",
        "-- name: now\n-- dialect: mysql\n-- Return the time.\nSELECT NOW(3)\n\n"
        "-- name: now\n-- dialect: sqlite\n-- Return the time.\nSELECT datetime('now')\n",
    )

    assert Queries.load(tmp_path, "mysql")["now"].sql == "SELECT NOW(3)"
    assert Queries.load(tmp_path, "sqlite")["now"].sql == "SELECT datetime('now')"


def test_load_unknown_dialect_rejected(tmp_path):
    write_sql(tmp_path, "a.sql", "-- name: q\n-- dialect: postgres\n-- Return one.\nSELECT 1\n")

    with pytest.raises(QueryFileError, match=r"a\.sql:2.*postgres"):
        Queries.load(tmp_path, "sqlite")


def test_load_missing_doc_line_rejected(tmp_path):
    write_sql(
        tmp_path,
        "a.sql",
        "-- name: first\n-- Return one.\nSELECT 1\n\n-- name: undocumented\nSELECT 2\n",
    )

    with pytest.raises(QueryFileError) as caught:
        Queries.load(tmp_path, "sqlite")

    assert f"{tmp_path / 'a.sql'}:5" in str(caught.value)
    assert "undocumented" in str(caught.value)


def test_load_missing_sql_rejected(tmp_path):
    write_sql(tmp_path, "a.sql", "-- name: empty\n-- Return nothing.\n")

    with pytest.raises(QueryFileError, match=r"a\.sql:1.*empty"):
        Queries.load(tmp_path, "sqlite")


def test_load_sql_before_name_rejected(tmp_path):
    write_sql(tmp_path, "a.sql", "-- A file comment.\nSELECT 1\n" + PORTABLE)

    with pytest.raises(QueryFileError, match=r"a\.sql:2"):
        Queries.load(tmp_path, "sqlite")


def test_load_invalid_name_rejected(tmp_path):
    write_sql(tmp_path, "a.sql", "-- name: GetSession\n-- Return it.\nSELECT 1\n")

    with pytest.raises(QueryFileError, match=r"a\.sql:1.*GetSession"):
        Queries.load(tmp_path, "sqlite")


def test_load_unknown_query_name(tmp_path):
    write_sql(tmp_path, "a.sql", PORTABLE)

    with pytest.raises(KeyError, match="get_nothing"):
        Queries.load(tmp_path, "sqlite")["get_nothing"]


def test_load_unknown_backend_rejected(tmp_path):
    with pytest.raises(ValueError, match="oracle"):
        Queries.load(tmp_path, "oracle")


# Parameters


def test_parameters_in_order_of_first_use(tmp_path):
    write_sql(tmp_path, "a.sql", "-- name: q\n-- Return rows.\nSELECT :b, :a, :b\n")

    query = Queries.load(tmp_path, "sqlite")["q"]

    assert query.parameters == ("b", "a")


def test_parameter_inside_literal_ignored(tmp_path):
    write_sql(
        tmp_path,
        "a.sql",
        "-- name: q\n-- Return rows.\nSELECT ':not_a_parameter', '10:30', :real\n",
    )

    query = Queries.load(tmp_path, "sqlite")["q"]

    assert query.parameters == ("real",)


def test_mysql_percent_doubled(tmp_path):
    write_sql(
        tmp_path,
        "a.sql",
        "-- name: q\n-- Return rows.\nSELECT 5 % 2, '100%' WHERE a LIKE :pattern\n",
    )

    query = Queries.load(tmp_path, "mysql")["q"]

    assert query.sql == "SELECT 5 %% 2, '100%%' WHERE a LIKE %(pattern)s"


def test_bind_list_expanded(tmp_path):
    write_sql(
        tmp_path,
        "a.sql",
        "-- name: q\n-- Return rows.\nSELECT id FROM t WHERE g IN (:ids) LIMIT :limit\n",
    )

    sql, arguments = Queries.load(tmp_path, "sqlite")["q"].bind({"ids": [7, 8, 9], "limit": 5})

    assert sql == "SELECT id FROM t WHERE g IN (:ids__0, :ids__1, :ids__2) LIMIT :limit"
    assert arguments == {"ids__0": 7, "ids__1": 8, "ids__2": 9, "limit": 5}


def test_bind_list_expanded_mysql(tmp_path):
    write_sql(
        tmp_path, "a.sql", "-- name: q\n-- Return rows.\nSELECT id FROM t WHERE g IN (:ids)\n"
    )

    sql, arguments = Queries.load(tmp_path, "mysql")["q"].bind({"ids": (7, 8)})

    assert sql == "SELECT id FROM t WHERE g IN (%(ids__0)s, %(ids__1)s)"
    assert arguments == {"ids__0": 7, "ids__1": 8}


def test_bind_list_leaves_longer_names(tmp_path):
    write_sql(
        tmp_path, "a.sql", "-- name: q\n-- Return rows.\nSELECT :ids_total WHERE g IN (:ids)\n"
    )

    sql, arguments = Queries.load(tmp_path, "sqlite")["q"].bind({"ids_total": 3, "ids": [1, 2]})

    assert sql == "SELECT :ids_total WHERE g IN (:ids__0, :ids__1)"
    assert arguments == {"ids_total": 3, "ids__0": 1, "ids__1": 2}


def test_bind_empty_list_rejected(tmp_path):
    write_sql(
        tmp_path, "a.sql", "-- name: q\n-- Return rows.\nSELECT id FROM t WHERE g IN (:ids)\n"
    )

    with pytest.raises(ValueError, match="ids"):
        Queries.load(tmp_path, "sqlite")["q"].bind({"ids": []})


def test_bind_missing_parameter_rejected(tmp_path):
    write_sql(tmp_path, "a.sql", PORTABLE)

    with pytest.raises(TypeError, match="session_id"):
        Queries.load(tmp_path, "sqlite")["get_session_by_id"].bind({})


def test_bind_list_runs_on_sqlite(tmp_path):
    write_sql(
        tmp_path,
        "a.sql",
        "-- name: q\n-- Return rows.\nSELECT n FROM t WHERE n IN (:ns) ORDER BY n\n",
    )
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (n INTEGER)")
    connection.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(10)])

    sql, arguments = Queries.load(tmp_path, "sqlite")["q"].bind({"ns": [2, 5, 7, 42]})
    rows = connection.execute(sql, arguments).fetchall()

    assert rows == [(2,), (5,), (7,)]


# The service's own SQL files


@pytest.mark.parametrize("dialect", ["mysql", "sqlite"])
def test_service_sql_loads(dialect):
    queries = Queries.load(SQL_DIR, dialect)

    assert "get_recent_track_plays_by_user" in queries
    assert "get_sessions_by_guild_ids" in queries
    assert all(queries[name].doc for name in queries.names())


def test_service_sql_files_documented():
    for path in sorted(SQL_DIR.glob("*.sql")):
        for block in parse_sql_file(path):
            assert block.doc, f"{path}:{block.line}"
