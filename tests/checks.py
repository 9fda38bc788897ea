"""Checks shared by the input, idempotency and auth tests: stored row counts and error bodies."""

from __future__ import annotations

import re

import httpx

from service.settings import DatabaseConfig
from tests.conftest import ARCHIVE_TABLES, query_sql, run_sql

STORED_TABLES = (*ARCHIVE_TABLES, "idempotency_keys")

# Text that would show a traceback, a driver's error or SQL in a response.
_LEAKS = re.compile(
    r"Traceback|File \"|pymysql|sqlite3|aiomysql|OperationalError|IntegrityError"
    r"|\bSELECT\b.*\bFROM\b|\bINSERT\s+INTO\b|\bDELETE\s+FROM\b|\bUPDATE\s+\w+\s+SET\b|\bWHERE\b"
)


def count_stored(config: DatabaseConfig) -> dict[str, int]:
    """Return the number of rows of every table the service writes."""
    return {
        table: query_sql(config, f"SELECT COUNT(*) FROM {table}")[0][0] for table in STORED_TABLES
    }


def nothing_stored() -> dict[str, int]:
    return dict.fromkeys(STORED_TABLES, 0)


def empty_idempotency_keys(config: DatabaseConfig) -> None:
    run_sql(config, ["DELETE FROM idempotency_keys"])


def error_message(response: httpx.Response) -> str:
    """Return the `error` of a JSON error body, after checking that it leaks no internals."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert _LEAKS.search(response.text) is None, response.text
    body = response.json()
    assert isinstance(body, dict), response.text
    message = body["error"]
    assert isinstance(message, str)
    return message
