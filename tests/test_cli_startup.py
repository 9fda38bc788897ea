"""The command line as a subprocess: hash-key digests, migrate, start-up errors as one line."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys

import pytest

from service.resources import MIGRATIONS_DIR
from service.settings import Settings
from tests.conftest import MYSQL_SERVER

# Seconds a command may take before the test fails instead of hanging.
COMMAND_TIMEOUT_SECONDS = 60


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def run_service(
    arguments: list[str], cwd, stdin: str = "", **env: str
) -> subprocess.CompletedProcess:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in Settings.model_fields
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "service", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.mark.parametrize("line", ["my-secret-key\n", "my-secret-key\r\n", "my-secret-key"])
def test_hash_key_prints_digest(tmp_path, line):
    result = run_service(["hash-key"], tmp_path, stdin=line)

    assert result.returncode == 0
    assert result.stdout == hashlib.sha512(b"my-secret-key").hexdigest() + "\n"


def test_hash_key_output_works_as_key_file(tmp_path):
    from service.keys import ApiKeys

    result = run_service(["hash-key"], tmp_path, stdin="café-key\n")
    key_file = tmp_path / "api-key"
    key_file.write_text(result.stdout, encoding="utf-8")

    assert ApiKeys(key_file, None).is_valid("café-key")


def test_serve_without_key_file_fails_clearly(tmp_path):
    result = run_service(
        ["serve", "--host", "127.0.0.1", "--port", "1"],
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path}/archive.sqlite3",
        API_KEY_FILE=str(tmp_path / "missing-key"),
    )

    assert result.returncode == 2
    assert "API_KEY_FILE" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(error_lines(result)) == 1


def test_serve_invalid_database_url_fails_clearly(tmp_path):
    result = run_service(
        ["serve", "--host", "127.0.0.1", "--port", "1"],
        tmp_path,
        DATABASE_URL="mysql://u:hidden-password@db:port/archive",
        API_KEY="k",
    )

    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert "hidden-password" not in result.stderr


def test_serve_missing_mysql_user_fails_clearly(tmp_path):
    result = run_service(
        ["migrate"], tmp_path, MYSQL_HOST="127.0.0.1", MYSQL_DATABASE="archive", API_KEY="k"
    )

    assert result.returncode == 2
    assert "MYSQL_USER" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(MYSQL_SERVER is None, reason="MySQL is not reachable")
def test_serve_rejected_login_fails_clearly(tmp_path):
    assert MYSQL_SERVER is not None
    url = (
        f"mysql://{MYSQL_SERVER.user}:hidden-password@{MYSQL_SERVER.host}:{MYSQL_SERVER.port}/none"
    )

    result = run_service(
        ["serve", "--host", "127.0.0.1", "--port", "1"], tmp_path, DATABASE_URL=url, API_KEY="k"
    )

    assert result.returncode == 2
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(error_lines(result)) == 1
    assert "hidden-password" not in result.stderr


def test_migrate_applies_once(tmp_path):
    database = tmp_path / "archive.sqlite3"
    url = f"sqlite:///{database}"

    dry_run = run_service(["migrate", "--dry-run"], tmp_path, DATABASE_URL=url)
    first = run_service(["migrate"], tmp_path, DATABASE_URL=url)
    second = run_service(["migrate"], tmp_path, DATABASE_URL=url)

    assert dry_run.returncode == 0
    migration_count = len(list((MIGRATIONS_DIR / "sqlite").glob("0*")))
    assert f"{migration_count} pending" in dry_run.stdout
    assert first.returncode == 0
    assert f"applied {migration_count} migrations" in first.stdout
    assert "applied 0 migrations" in second.stdout
    tables = sqlite3.connect(database).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    )
    assert {"listening_sessions", "track_plays", "track_play_listeners"} <= {
        row[0] for row in tables
    }
