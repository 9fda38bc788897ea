"""The command line, run as a user runs it: `python -m service` in a directory of its own."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import __version__
from service.resources import MIGRATIONS_DIR
from service.settings import DatabaseConfig
from tests.conftest import TEST_API_KEY, create_mysql_database, drop_mysql_database
from tests.live import free_port

# Seconds one command may take; a database that is down must be reported well within it.
COMMAND_TIMEOUT_SECONDS = 30


def run_cli(
    directory: Path, *args: str, stdin: str = "", **environment: str
) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "API_KEY", "API_KEY_FILE", "WORKERS", "PORT", "LOG_FORMAT"}
        and not key.startswith("MYSQL_")
    }
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=directory,
        env={**clean, "LOG_FORMAT": "json", **environment},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture
def empty_database(backend: str, tmp_path: Path) -> Iterator[DatabaseConfig]:
    """A database without any table yet."""
    if backend == "sqlite":
        yield DatabaseConfig(backend="sqlite", path=str(tmp_path / "data" / "archive.sqlite3"))
        return
    config = create_mysql_database("archive_cli")
    try:
        yield config
    finally:
        drop_mysql_database(config)


def test_cli_version(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--version")

    assert result.returncode == 0
    assert result.stdout.strip() == f"mocbot-archive {__version__}"


def test_cli_help_names_setting_and_unit(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--help")
    help_text = " ".join(result.stdout.split())

    assert result.returncode == 0
    assert "--host HOST address to listen on (default: HOST, or 0.0.0.0)" in help_text
    assert "TCP port to listen on (default: PORT, or 9000)" in help_text
    assert "number of worker processes (default: WORKERS, or 1)" in help_text
    assert "for up to 30 seconds" in help_text


def test_cli_check_help_lists_exit_status(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "check", "--help")
    help_text = " ".join(result.stdout.split())

    assert "Exit status: 0 when all is well, 1 when migrations are pending, 2" in help_text


def test_cli_commands_listed_in_help(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--help")

    for command in ("serve", "migrate", "check", "hash-key"):
        assert command in result.stdout, command


def test_cli_migrate_dry_run_then_migrate(empty_database: DatabaseConfig, tmp_path: Path) -> None:
    url = empty_database.yoyo_url()

    dry_run = run_cli(tmp_path, "migrate", "--dry-run", DATABASE_URL=url)
    check_before = run_cli(tmp_path, "check", DATABASE_URL=url, API_KEY=TEST_API_KEY)
    migrate = run_cli(tmp_path, "migrate", DATABASE_URL=url)
    check_after = run_cli(tmp_path, "check", DATABASE_URL=url, API_KEY=TEST_API_KEY)
    dry_run_after = run_cli(tmp_path, "migrate", "--dry-run", DATABASE_URL=url)

    migration_ids = sorted(
        path.stem for path in (MIGRATIONS_DIR / empty_database.backend).glob("0*")
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert f"{len(migration_ids)} pending migrations on " in dry_run.stdout
    assert "0001_create_archive" in dry_run.stdout
    assert check_before.returncode == 1
    assert (
        f"migrations: {len(migration_ids)} pending ({', '.join(migration_ids)}); run 'migrate'"
        in check_before.stdout
    )
    assert migrate.returncode == 0, migrate.stderr
    assert f"applied {len(migration_ids)} migrations on " in migrate.stdout
    assert check_after.returncode == 0, check_after.stderr
    assert check_after.stdout.splitlines()[-2:] == ["database: reachable", "migrations: current"]
    assert "0 pending migrations on " in dry_run_after.stdout


def test_cli_check_database_down(tmp_path: Path) -> None:
    port = free_port()
    url = f"mysql://archive:secret-password@127.0.0.1:{port}/archive"

    result = run_cli(tmp_path, "check", DATABASE_URL=url, API_KEY=TEST_API_KEY)

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: cannot reach the database (mysql archive@127.0.0.1:{port}/")
    assert "Connection refused" in line
    assert "secret-password" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("environment", "reason"),
    [
        ({"PORT": "abc"}, "error: invalid setting: PORT: Input should be a valid integer"),
        ({"API_KEY": ""}, "error: no API key is configured"),
        ({"WORKERS": "2"}, "error: the embedded SQLite database serves one process"),
        ({"DATABASE_URL": "postgres://db/archive"}, "error: DATABASE_URL has an unsupported"),
        ({"API_KEY_FILE": "missing-key-file"}, "error: API_KEY_FILE points to 'missing-key-file'"),
    ],
)
def test_cli_check_reports_one_reason(
    tmp_path: Path, environment: dict[str, str], reason: str
) -> None:
    settings = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/archive.sqlite3",
        "API_KEY": TEST_API_KEY,
        **environment,
    }

    result = run_cli(tmp_path, "check", **settings)

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(reason)


def test_cli_hash_key(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "hash-key", stdin="rotated-key\n")

    assert result.returncode == 0
    assert result.stdout.strip() == hashlib.sha512(b"rotated-key").hexdigest()
    assert "rotated-key" not in result.stderr


def test_cli_hash_key_rejects_empty_input(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "hash-key", stdin="\n")

    assert result.returncode == 2
    assert result.stderr.startswith("error: hash-key reads the key from standard input")


def test_cli_unknown_command(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serv")

    assert result.returncode == 2
    assert "invalid choice: 'serv'" in result.stderr
