"""Locate the SQL files and migrations, in a source checkout or inside an installed wheel."""

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return `service/<name>` when installed from a wheel, else the checkout's top-level folder."""
    installed = _PACKAGE_DIR / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name


SQL_DIR = resource_dir("sql")
MIGRATIONS_DIR = resource_dir("migrations")
