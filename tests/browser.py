"""Headless Debian Chromium, driven over the DevTools protocol, for tests of the service's pages."""

from __future__ import annotations

import asyncio
import itertools
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
# Seconds for Chromium to start and print its DevTools address.
LAUNCH_TIMEOUT_SECONDS = 30
# Seconds for Debian's chromium package to install when it is missing.
INSTALL_TIMEOUT_SECONDS = 600
_DEVTOOLS_LINE = re.compile(r"DevTools listening on (ws://\S+)")


def find_or_install_chromium() -> str:
    """Return the chromium binary, installing Debian's package when missing and possible.

    Outside CI a machine that cannot install it skips the browser tests; in CI it fails them.
    """
    found = shutil.which("chromium")
    if found:
        return found

    reason = None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        reason = "chromium is missing and apt-get cannot run here as root to install it"
    else:
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium"],
        ):
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=environment,
                timeout=INSTALL_TIMEOUT_SECONDS,
                check=False,
            )
            if result.returncode != 0:
                reason = f"installing chromium failed: {' '.join(command)}: {result.stderr[-500:]}"
                break
    found = shutil.which("chromium")
    if found:
        return found
    message = reason or "chromium is still missing after apt-get installed it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageEvents:
    """What the page reported while it loaded: console errors, exceptions and requested URLs."""

    errors: list[str] = field(default_factory=list)
    requested_urls: list[str] = field(default_factory=list)


class DevToolsSession:
    """One page of the browser, attached in flat mode: sends commands and records events."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._session_id: str | None = None
        self.events = PageEvents()
        self.loaded = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._socket:
            message = orjson.loads(raw)
            if "id" in message and message["id"] in self._pending:
                self._pending.pop(message["id"]).set_result(message)
            else:
                self._record(message.get("method", ""), message.get("params", {}))

    def _record(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            texts = [str(arg.get("value", arg.get("description", ""))) for arg in params["args"]]
            self.events.errors.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            self.events.errors.append(f"exception: {text}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.events.errors.append(
                f"log ({entry['source']}): {entry['text']} {entry.get('url', '')}"
            )
        elif method == "Network.requestWillBeSent":
            self.events.requested_urls.append(params["request"]["url"])
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.events.errors.append(f"request failed: {params.get('errorText')}")
        elif method == "Page.loadEventFired":
            self.loaded.set()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params}
        if self._session_id is not None:
            message["sessionId"] = self._session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        await self._socket.send(orjson.dumps(message).decode())
        reply = await future
        if "error" in reply:
            raise AssertionError(f"DevTools {method} failed: {reply['error']}")
        return dict(reply.get("result", {}))

    async def open_page(self) -> None:
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        self._session_id = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def close(self) -> None:
        self._reader.cancel()


def _read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)


@contextmanager
def chromium(binary: str, profile_dir: Path) -> Iterator[str]:
    """Run headless Chromium with a fresh profile; yield its browser DevTools websocket URL."""
    process = subprocess.Popen(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stderr, lines), daemon=True).start()
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT_SECONDS
        seen = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if process.poll() is not None:
                    break
                continue
            seen.append(line)
            match = _DEVTOOLS_LINE.search(line)
            if match:
                yield match.group(1)
                return
        raise AssertionError("chromium printed no DevTools address:\n" + "".join(seen))
    finally:
        process.kill()
        process.wait()


async def devtools_session(url: str) -> tuple[ClientConnection, DevToolsSession]:
    socket = await connect(url, max_size=None, open_timeout=10)
    return socket, DevToolsSession(socket)
