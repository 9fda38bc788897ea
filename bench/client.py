"""A lean HTTP/1.1 load client on asyncio: one keep-alive connection per worker.

Requests are written by hand and responses parsed by httptools (the C parser uvicorn uses),
so the client spends a few microseconds per request. A heavier client would share the two
cores with the server under test and lower every figure it measures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httptools

T = TypeVar("T")


class HttpError(Exception):
    """The connection failed or the server sent something that is not an HTTP response."""


class _ResponseProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"invalid HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(HttpError(f"connection closed: {exc or 'by the server'}"))

    def _fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))


class Connection:
    """One keep-alive connection that sends one request at a time."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host = host
        self.port = port
        self._fixed_headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._protocol: _ResponseProtocol | None = None

    async def _open(self) -> _ResponseProtocol:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_ResponseProtocol, self.host, self.port)
        return protocol

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request and return its status and body; reconnects after a failure."""
        if self._protocol is None or self._protocol.transport is None:
            self._protocol = await self._open()
        protocol = self._protocol
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self._fixed_headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        payload = (head + "\r\n").encode() + (body or b"")
        protocol.waiter = asyncio.get_running_loop().create_future()
        assert protocol.transport is not None
        protocol.transport.write(payload)
        try:
            return await protocol.waiter
        except HttpError:
            self.close()
            raise

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None


@dataclass
class PointResult:
    """The measurements of one load point: completed requests, latencies and errors."""

    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    # CPU seconds the measured process used in the window, when it was read.
    cpu_seconds: float | None = None

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Return the nearest-rank percentile of the latencies in milliseconds."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        rank = max(1, round(fraction * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]

    def record_error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message)


# One step of a worker: it runs one or more requests through `timed` and raises on a failure.
Step = Callable[["Worker"], Awaitable[None]]


class Worker:
    """One simulated client: its connection, its own state and the point it reports to."""

    def __init__(self, index: int, connection: Connection | None, result: PointResult) -> None:
        self.index = index
        self.connection = connection
        self.result = result
        self.state: dict[str, object] = {}
        self.iteration = 0
        self.recording = False

    async def timed(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one operation, and record its latency while the measured window is open."""
        started = time.perf_counter()
        value = await operation()
        if self.recording:
            self.result.latencies_ms.append((time.perf_counter() - started) * 1000)
        return value

    async def http(
        self, method: str, path: str, body: bytes | None, expected: tuple[int, ...]
    ) -> bytes:
        """Send a timed request and raise unless its status is one of `expected`."""
        assert self.connection is not None
        connection = self.connection
        status, payload = await self.timed(lambda: connection.request(method, path, body))
        if status not in expected:
            raise HttpError(f"{method} {path} returned {status}: {payload[:200]!r}")
        return payload


async def run_point(
    step: Step,
    concurrency: int,
    warmup_seconds: float,
    measure_seconds: float,
    connect: Callable[[], Connection] | None,
    prepare: Step | None = None,
) -> PointResult:
    """Run `concurrency` workers in a closed loop; measure only after the warm-up.

    Each worker repeats `step` until the window closes. A request that fails counts as an error
    and the worker goes on, reconnecting when the connection broke.
    """
    result = PointResult(concurrency=concurrency, seconds=measure_seconds)
    workers = [
        Worker(index, connect() if connect else None, result) for index in range(concurrency)
    ]
    if prepare is not None:
        await asyncio.gather(*(prepare(worker) for worker in workers))

    loop = asyncio.get_running_loop()
    window_start = loop.time() + warmup_seconds
    window_end = window_start + measure_seconds

    async def loop_worker(worker: Worker) -> None:
        while True:
            now = loop.time()
            if now >= window_end:
                return
            worker.recording = now >= window_start
            try:
                await step(worker)
            except (TimeoutError, HttpError, OSError) as exc:
                if worker.recording:
                    result.record_error(str(exc))
                else:
                    await asyncio.sleep(0.01)
            except Exception as exc:  # a driver error in a ceiling run
                if worker.recording:
                    result.record_error(f"{type(exc).__name__}: {exc}")
            worker.iteration += 1

    await asyncio.gather(*(loop_worker(worker) for worker in workers))
    for worker in workers:
        if worker.connection is not None:
            worker.connection.close()
    return result
