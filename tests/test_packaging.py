"""The wheel: built once, installed without -e into a fresh venv, and run from another directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import __version__
from tests.conftest import TEST_API_KEY, repo_root

# Seconds to build the wheel, and to install it with its pinned dependencies.
BUILD_TIMEOUT_SECONDS = 300
INSTALL_TIMEOUT_SECONDS = 600


def clean_environment() -> dict[str, str]:
    """Return this environment without service settings or anything pointing into the checkout."""
    dropped = ("DATABASE_URL", "API_KEY", "MYSQL_", "PYTHONPATH", "VIRTUAL_ENV", "WORKERS")
    return {key: value for key, value in os.environ.items() if not key.startswith(dropped)}


def run(command: list[str], cwd: Path, timeout: float, **environment: str) -> str:
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**clean_environment(), "LOG_FORMAT": "json", **environment},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir"]
    run([*pip, str(directory), str(repo_root())], directory, BUILD_TIMEOUT_SECONDS)
    (built,) = directory.glob("mocbot_archive-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the wheel and its pinned dependencies installed."""
    directory = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(directory)], directory, INSTALL_TIMEOUT_SECONDS)
    pip = [str(directory / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    constraints = str(repo_root() / "constraints.txt")
    run([*pip, "-c", constraints, str(wheel)], directory, INSTALL_TIMEOUT_SECONDS)
    yield directory


def test_wheel_ships_sql_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sql_files = {path.name for path in (repo_root() / "sql").glob("*.sql")}
    migrations = {
        f"{path.parent.name}/{path.name}" for path in (repo_root() / "migrations").glob("*/*.sql")
    }

    assert {f"service/sql/{name}" for name in sql_files} <= names
    assert {f"service/migrations/{name}" for name in migrations} <= names
    assert migrations


def test_wheel_metadata(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    info = f"mocbot_archive-{__version__}.dist-info"
    metadata = archive.read(f"{info}/METADATA").decode()
    entry_points = archive.read(f"{info}/entry_points.txt").decode()

    assert "Name: mocbot-archive" in metadata
    assert f"Version: {__version__}" in metadata
    assert "Requires-Python: >=3.11" in metadata
    assert "Provides-Extra: dev" in metadata
    assert "mocbot-archive = service.cli:main" in entry_points


def test_installed_command_prints_version(venv: Path, tmp_path: Path) -> None:
    output = run([str(venv / "bin" / "mocbot-archive"), "--version"], tmp_path, 30)

    assert output.strip() == f"mocbot-archive {__version__}"


def test_installed_command_migrates_and_checks(venv: Path, tmp_path: Path) -> None:
    command = str(venv / "bin" / "mocbot-archive")
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/archive.sqlite3", "API_KEY": TEST_API_KEY}

    migrated = run([command, "migrate"], tmp_path, 60, **settings)
    checked = run([command, "check"], tmp_path, 60, **settings)

    assert "migrations on sqlite file" in migrated.splitlines()[-1]
    assert migrated.splitlines()[-1].startswith("applied ")
    assert checked.splitlines()[-1] == "migrations: current"


def test_installed_package_runs_from_site_packages(venv: Path, tmp_path: Path) -> None:
    script = "import service.resources as r; print(r.SQL_DIR); print(r.MIGRATIONS_DIR)"

    output = run([str(venv / "bin" / "python"), "-c", script], tmp_path, 30)

    for line in output.splitlines():
        assert "site-packages/service/" in line
        assert Path(line).is_dir()
