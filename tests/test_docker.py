"""The Docker files, checked by reading them and by `docker-compose config`; no engine runs here."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import repo_root

ROOT = repo_root()


@pytest.fixture(scope="module")
def compose() -> dict:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    result = subprocess.run(
        ["docker-compose", "--file", "docker-compose.yml", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_api_waits_for_healthy_database(compose: dict) -> None:
    assert compose["services"]["api"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_compose_database_is_mysql_8(compose: dict) -> None:
    assert compose["services"]["db"]["image"].startswith("mysql:8")


def test_compose_database_has_healthcheck(compose: dict) -> None:
    assert "mysqladmin ping" in " ".join(compose["services"]["db"]["healthcheck"]["test"])


def test_compose_database_secrets_mounted_read_only(compose: dict) -> None:
    volumes = compose["services"]["db"]["volumes"]
    assert any(volume.endswith(".local-secrets:/secrets:ro") for volume in volumes)


def test_compose_api_gets_only_its_secrets(compose: dict) -> None:
    mounts = sorted(
        volume.split(":", 1)[1]
        for volume in compose["services"]["api"]["volumes"]
        if "/.local-secrets" in volume
    )
    assert mounts == ["/secrets/api-key:ro", "/secrets/db-password:ro"]


def test_local_secrets_readable_by_container_users(tmp_path) -> None:
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    secrets = tmp_path / ".local-secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "api-key").write_text("made-by-make-run\n")
    (secrets / "api-key").chmod(0o600)

    subprocess.run([str(tmp_path / "scripts" / "make-local-secrets")], check=True, timeout=30)

    assert secrets.stat().st_mode & 0o005 == 0o005
    for name in ("api-key", "db-password", "db-root-password"):
        assert (secrets / name).stat().st_mode & 0o004, name
    assert (secrets / "api-key").read_text() == "made-by-make-run\n"


def test_compose_uses_env_local_defaults(compose: dict) -> None:
    environment = compose["services"]["api"]["environment"]
    assert environment["API_KEY_FILE"] == "/secrets/api-key"
    assert environment["MYSQL_HOST"] == "db"
    assert environment["MYSQL_PASSWORD_FILE"] == "/secrets/db-password"


def test_compose_database_data_in_named_volume(compose: dict) -> None:
    assert "db-data" in compose["volumes"]
    assert "db-data:/var/lib/mysql:rw" in compose["services"]["db"]["volumes"]


def test_compose_api_publishes_port_9000(compose: dict) -> None:
    assert compose["services"]["api"]["ports"][0]["target"] == 9000


def test_dockerfile_runs_as_non_root() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")


def test_dockerfile_exposes_port_9000() -> None:
    assert "EXPOSE 9000" in (ROOT / "Dockerfile").read_text().splitlines()


def test_dockerfile_healthcheck_probes_health_route() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in text
    assert "/api/v1/health" in text


def test_dockerfile_base_is_slim_python() -> None:
    first_from = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("FROM ")
    )
    assert first_from.startswith("FROM python:3.11-slim")


def test_env_local_keeps_compose_defaults() -> None:
    values = dict(
        line.split("=", 1) for line in (ROOT / ".env.local").read_text().splitlines() if "=" in line
    )
    assert values == {
        "API_KEY_FILE": "/secrets/api-key",
        "MYSQL_DATABASE": "mocbot-archive",
        "MYSQL_USER": "mocbot",
        "MYSQL_PASSWORD_FILE": "/secrets/db-password",
        "MYSQL_ROOT_PASSWORD_FILE": "/secrets/db-root-password",
        "MYSQL_HOST": "db",
    }
