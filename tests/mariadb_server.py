"""A throwaway MariaDB server for tests that stop, freeze or reconfigure their database server.

Each server has its own data directory, TCP port on 127.0.0.1 and socket, so stopping it never
touches the shared server that the other tests use.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pymysql

from service.settings import DatabaseConfig

# Seconds to wait for a started server to accept connections, or a stopped one to exit.
STARTUP_TIMEOUT_SECONDS = 30
SHUTDOWN_TIMEOUT_SECONDS = 30


def mariadb_binaries() -> tuple[str, str] | None:
    """Return the paths of mariadbd and mariadb-install-db, or None when either is missing."""
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
    install = shutil.which("mariadb-install-db")
    if server is None or install is None:
        return None
    return server, install


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on at the moment of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MariaDBServer:
    """A mariadbd process on 127.0.0.1 with its data directory under `root`."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        binaries = mariadb_binaries()
        if binaries is None:
            raise RuntimeError("mariadbd and mariadb-install-db must be installed")
        self._server_binary, self._install_binary = binaries
        self.root = root
        self.datadir = root / "data"
        self.socket_path = root / "mariadb.sock"
        self.log_path = root / "error.log"
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def install(self) -> None:
        """Create the system tables; root logs in over TCP without a password."""
        self.root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                self._install_binary,
                # The machine's my.cnf names another user and log file; ignore it.
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--innodb-log-file-size=8M",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=STARTUP_TIMEOUT_SECONDS,
        )

    def start(self) -> None:
        """Start mariadbd and wait until it accepts connections."""
        assert self.process is None, "the server is already running"
        self.process = subprocess.Popen(
            [
                self._server_binary,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.socket_path}",
                f"--pid-file={self.root / 'mariadb.pid'}",
                f"--log-error={self.log_path}",
                "--user=root",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=8M",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError:
                if self.process.poll() is not None:
                    raise RuntimeError(self._startup_failure("exited")) from None
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(self._startup_failure("did not answer")) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Shut the server down with SIGTERM and wait for it to exit; SIGKILL after the timeout."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def freeze(self) -> None:
        """Stop the process with SIGSTOP: its sockets stay open but nothing responds.

        The signal takes effect asynchronously, so this waits until every thread is stopped.
        """
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT_SECONDS
        while not self._all_threads_stopped():
            if time.monotonic() > deadline:
                raise RuntimeError(f"mariadbd on port {self.port} did not stop after SIGSTOP")
            time.sleep(0.01)

    def _all_threads_stopped(self) -> bool:
        assert self.process is not None
        for stat in Path(f"/proc/{self.process.pid}/task").glob("*/stat"):
            try:
                # The state follows the command name, which is in parentheses.
                state = stat.read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, IndexError):
                continue
            if state not in ("T", "t"):
                return False
        return True

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            password="",
            database=database,
            connect_timeout=2,
            autocommit=True,
            charset="utf8mb4",
        )

    def execute(self, statement: str, database: str | None = None) -> list[tuple]:
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def create_database(self, name: str) -> DatabaseConfig:
        self.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
        return DatabaseConfig(
            backend="mysql", host="127.0.0.1", port=self.port, user="root", database=name
        )

    def _startup_failure(self, what: str) -> str:
        log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        return f"mariadbd on port {self.port} {what}; the end of its log:\n{log}"
