"""The liveness probe: no API key, no database."""

from __future__ import annotations

from starlette.testclient import TestClient

from service.app import create_app
from service.settings import DatabaseConfig
from tests.conftest import TEST_API_KEY, make_settings
from tests.factories import API


def test_health_without_key_is_200(anonymous, db_config):
    response = anonymous.get(f"{API}/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_with_wrong_key_is_200(anonymous, db_config):
    response = anonymous.get(f"{API}/health", headers={"X-API-Key": "wrong"})

    assert response.status_code == 200


def unconnected_client(tmp_path) -> TestClient:
    """A client of an app whose lifespan never ran, so it has no database connection at all."""
    missing = DatabaseConfig(backend="sqlite", path=str(tmp_path / "never-created.sqlite3"))
    app = create_app(make_settings(missing))
    return TestClient(app, headers={"X-API-Key": TEST_API_KEY}, raise_server_exceptions=False)


def test_health_touches_no_database(tmp_path):
    client = unconnected_client(tmp_path)

    response = client.get(f"{API}/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert not (tmp_path / "never-created.sqlite3").exists()


def test_database_route_fails_without_database(tmp_path):
    # The counterpart of the test above: a route that reads the database fails here.
    client = unconnected_client(tmp_path)

    response = client.get(f"{API}/sessions", params={"guildIds": "1"})

    assert response.status_code == 500
