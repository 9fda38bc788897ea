"""The servers a benchmark runs on loopback: the service and the bare ceiling app."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.client import Connection, HttpError
from bench.summary import RESULTS_DIR
from service.settings import DatabaseConfig

HOST = "127.0.0.1"

API_KEY = "bench-key-not-secret"

# Seconds to wait for a server's health route to respond after the server starts.
STARTUP_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """A server started for the benchmark, on loopback, stopped by its own process id."""

    def __init__(self, name: str, argv: list[str], environment: dict[str, str], port: int) -> None:
        self.name = name
        self.port = port
        self.log_path = RESULTS_DIR / f"{name}.log"
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv, env=environment, stdout=self._log, stderr=subprocess.STDOUT
        )

    async def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} while starting; "
                    f"see {self.log_path}"
                )
            connection = Connection(HOST, self.port, {})
            try:
                status, _ = await connection.request("GET", path)
                if status == 200:
                    return
            except (OSError, HttpError):
                pass
            finally:
                connection.close()
            await asyncio.sleep(0.2)
        raise RuntimeError(
            f"{self.name} did not respond on {path} within {STARTUP_TIMEOUT_SECONDS} s"
        )

    def cpu_seconds(self) -> float:
        """Return the CPU time the server process has used, user plus system."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_bare_server() -> ServerProcess:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return ServerProcess("bare", argv, dict(os.environ), port)


def start_service(config: DatabaseConfig, pool_size: int) -> ServerProcess:
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": config.yoyo_url(),
        "API_KEY": API_KEY,
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "DB_POOL_MAX_SIZE": str(pool_size),
    }
    environment.pop("API_KEY_FILE", None)
    argv = [sys.executable, "-m", "service", "serve", "--host", HOST, "--port", str(port)]
    return ServerProcess("service", argv, environment, port)
