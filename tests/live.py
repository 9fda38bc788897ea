"""Run the real service (`python -m service serve`) on 127.0.0.1, for tests of a live server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from service.settings import DatabaseConfig
from tests.conftest import TEST_API_KEY

# Seconds to wait for a started server to respond to its health probe.
START_TIMEOUT_SECONDS = 30
# Seconds a stopped server gets to drain before it is killed.
STOP_TIMEOUT_SECONDS = 15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    """A service process, its base URL and the file its log lines go to."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_entries(self) -> list[dict[str, Any]]:
        """Return the JSON log lines written so far; a line that is not JSON fails the test."""
        return [orjson.loads(line) for line in self.log_text().splitlines() if line.strip()]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def server_environment(config: DatabaseConfig, port: int, **overrides: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MYSQL_", "API_KEY", "DATABASE_URL", "PROMETHEUS_MULTIPROC"))
    }
    environment.update(
        DATABASE_URL=config.yoyo_url(),
        API_KEY=TEST_API_KEY,
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_FORMAT="json",
        WORKERS="1",
    )
    environment.update(overrides)
    return environment


def start_server(config: DatabaseConfig, directory: Path, **overrides: str) -> LiveServer:
    """Start `serve` in `directory`, so no .env of the checkout applies, and wait for it."""
    port = free_port()
    log_path = directory / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"],
            cwd=directory,
            env=server_environment(config, port, **overrides),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the server exited with {process.returncode}:\n{server.log_text()}"
            )
        try:
            if httpx.get(f"{server.url}/api/v1/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(
        f"the server did not answer within {START_TIMEOUT_SECONDS} s:\n{server.log_text()}"
    )
