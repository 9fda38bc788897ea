"""CORS: off by default, listed origins only, never credentials, nothing for other origins."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.settings import DatabaseConfig
from tests.checks import error_message
from tests.conftest import TEST_API_KEY, make_settings

LISTED = "https://dashboard.example.org"
OTHER_LISTED = "http://127.0.0.1:5173"
UNLISTED = "https://other.example.com"


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-")
    }


def preflight(client: TestClient, origin: str, method: str = "POST") -> httpx.Response:
    return client.options(
        "/api/v1/sessions",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "x-api-key, content-type, idempotency-key",
        },
    )


@pytest.fixture
def cors_client(db_config: DatabaseConfig) -> Iterator[TestClient]:
    """A client of an app that allows two origins; tests add an API key where they need one."""
    settings = make_settings(db_config, cors_allow_origins=f"{LISTED}, {OTHER_LISTED}")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def wildcard_client(db_config: DatabaseConfig) -> Iterator[TestClient]:
    settings = make_settings(db_config, cors_allow_origins="*")
    with TestClient(create_app(settings)) as client:
        yield client


def test_cors_is_off_by_default(anonymous: TestClient) -> None:
    response = preflight(anonymous, LISTED)

    assert response.status_code == 401
    assert cors_headers(response) == {}


def test_cors_off_adds_nothing_to_responses(client: TestClient) -> None:
    response = client.get("/api/v1/sessions?guildIds=1", headers={"Origin": LISTED})

    assert response.status_code == 200
    assert cors_headers(response) == {}


@pytest.mark.parametrize("origin", [LISTED, OTHER_LISTED])
def test_listed_origin_preflight_needs_no_key(cors_client: TestClient, origin: str) -> None:
    response = preflight(cors_client, origin)
    allowed_headers = response.headers["access-control-allow-headers"].lower()

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "x-api-key" in allowed_headers
    assert "idempotency-key" in allowed_headers
    assert "access-control-allow-credentials" not in response.headers


def test_listed_origin_gets_allow_origin(cors_client: TestClient) -> None:
    response = cors_client.get(
        "/api/v1/sessions?guildIds=1",
        headers={"Origin": LISTED, "X-API-Key": TEST_API_KEY, "Cookie": "session=1"},
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == LISTED
    assert "access-control-allow-credentials" not in response.headers


def test_listed_origin_without_key_is_401(cors_client: TestClient) -> None:
    response = cors_client.get("/api/v1/sessions?guildIds=1", headers={"Origin": LISTED})

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == LISTED


def test_unlisted_origin_preflight_gets_no_cors(cors_client: TestClient) -> None:
    response = preflight(cors_client, UNLISTED)

    assert response.status_code == 403
    assert cors_headers(response) == {}
    assert UNLISTED in error_message(response)


def test_unlisted_origin_request_gets_no_cors(cors_client: TestClient) -> None:
    response = cors_client.get(
        "/api/v1/sessions?guildIds=1", headers={"Origin": UNLISTED, "X-API-Key": TEST_API_KEY}
    )

    assert response.status_code == 200
    assert cors_headers(response) == {}


def test_origin_prefix_is_not_listed(cors_client: TestClient) -> None:
    response = preflight(cors_client, LISTED + ".other.example.com")

    assert response.status_code == 403
    assert cors_headers(response) == {}


def test_wildcard_never_allows_credentials(wildcard_client: TestClient) -> None:
    preflight_response = preflight(wildcard_client, UNLISTED)
    response = wildcard_client.get(
        "/api/v1/sessions?guildIds=1",
        headers={"Origin": UNLISTED, "X-API-Key": TEST_API_KEY, "Cookie": "session=1"},
    )

    assert preflight_response.status_code == 200
    assert preflight_response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in preflight_response.headers
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
