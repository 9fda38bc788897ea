"""X-Forwarded-For counts only from TRUSTED_PROXIES, as the request log of a real uvicorn shows."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from service.settings import DatabaseConfig
from tests.conftest import TEST_API_KEY
from tests.live import start_server

# An address from the documentation range (RFC 5737) that a proxy would report for its client.
FORWARDED_CLIENT = "203.0.113.7"


def logged_client(db_config: DatabaseConfig, tmp_path: Path, trusted_proxies: str) -> str:
    """Send one request through the service as a proxy on 127.0.0.1 and return the logged client."""
    server = start_server(db_config, tmp_path, TRUSTED_PROXIES=trusted_proxies)
    try:
        response = httpx.get(
            f"{server.url}/api/v1/sessions?guildIds=1",
            headers={"X-API-Key": TEST_API_KEY, "X-Forwarded-For": FORWARDED_CLIENT},
        )
    finally:
        server.stop()
    assert response.status_code == 200

    lines = [
        record
        for record in server.log_entries()
        if record.get("route") == "/api/v1/sessions" and record.get("method") == "GET"
    ]
    assert len(lines) == 1, server.log_text()
    assert str(lines[0]["message"]).startswith(f"{lines[0]['client']} GET /api/v1/sessions 200")
    return str(lines[0]["client"])


def test_trusted_proxy_forwards_client(db_config: DatabaseConfig, tmp_path: Path) -> None:
    assert logged_client(db_config, tmp_path, "127.0.0.1") == FORWARDED_CLIENT


@pytest.mark.parametrize("trusted_proxies", ["192.0.2.10", "10.0.0.0/8", ""])
def test_untrusted_proxy_is_logged_itself(
    db_config: DatabaseConfig, tmp_path: Path, trusted_proxies: str
) -> None:
    assert logged_client(db_config, tmp_path, trusted_proxies) == "127.0.0.1"
