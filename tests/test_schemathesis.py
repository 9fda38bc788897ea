"""schemathesis against the live service, from its own OpenAPI document, on each backend."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.settings import DatabaseConfig
from tests.conftest import TEST_API_KEY
from tests.live import LiveServer, start_server

SCHEMATHESIS = Path(sys.executable).with_name("st")
# Test cases per operation and phase; with 18 operations a run takes about 10 s per backend.
MAX_EXAMPLES = 25
# A fixed seed makes a failure reproducible with the command the failure message prints.
SEED = 20261204
# Seconds the whole run may take before the test fails.
RUN_TIMEOUT_SECONDS = 120
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "allow_header_conformance",
)
# Not ensure_resource_availability: ending a session without plays deletes it (204), so a stateful
# run that creates, ends and then reads a session reports a false "created resource not found".


@pytest.fixture
def server(db_config: DatabaseConfig, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(db_config, tmp_path)
    yield server
    server.stop()


def test_schemathesis_finds_no_failures(server: LiveServer, tmp_path: Path) -> None:
    command = [
        str(SCHEMATHESIS),
        "--no-color",
        "run",
        f"{server.url}/api/v1/openapi.json",
        "--header",
        f"X-API-Key: {TEST_API_KEY}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--generation-database",
        "none",
    ]

    result = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "18 selected / 18 total" in output, output
    server_errors = [e for e in server.log_entries() if e["level"] in ("ERROR", "CRITICAL")]
    assert server_errors == []
