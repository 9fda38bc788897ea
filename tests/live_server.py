"""A real uvicorn server on 127.0.0.1, run in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette

# Seconds to wait for the server to start or stop.
SERVER_START_TIMEOUT_SECONDS = 10
SERVER_STOP_TIMEOUT_SECONDS = 15


class LiveServer:
    """Serve `app` on an ephemeral port of 127.0.0.1 until `stop`; usable as a context manager."""

    def __init__(self, app: Starlette, graceful_shutdown_seconds: float = 2) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            # A test that leaves a request hanging must still be able to stop the server.
            timeout_graceful_shutdown=graceful_shutdown_seconds,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the uvicorn server stopped during startup")
            if time.monotonic() > deadline:
                raise RuntimeError("the uvicorn server did not start in time")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(SERVER_STOP_TIMEOUT_SECONDS)
        self._socket.close()
        if self._thread.is_alive():
            raise RuntimeError("the uvicorn server did not stop in time")

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
