"""Idempotency-Key on the POST routes: a retry gets the first response and creates nothing.

A request with the header first inserts a pending row keyed by (API key scope, idempotency key).
The primary key decides which of two concurrent requests owns the key: the other one gets 409.
The owner runs the endpoint and stores the response. A later request with the same key and the
same method, path and body bytes gets the stored response back, marked `Idempotent-Replayed: true`.
A later request with the same key and anything else gets 409. Keys expire 24 hours after the
first request.

Stored and replayed: the response an endpoint returns (its 2xx), and the NotFound (404) and
Conflict (409) it raises because of the stored data, such as a session that does not exist or has
ended. Not stored, so that a retry runs again: every other error, which means the 400, 413 and 415
that come from the request alone and the 5xx and 503 that come from a fault.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pymysql
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from service.db import Database
from service.errors import Conflict, InvalidInput, NotFound, error_response
from service.keys import key_scope
from service.parsing import show
from service.timestamps import utc_now

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_LIFETIME = timedelta(hours=24)
# A key pending this long belongs to a request that died before it stored its response.
# NOTE: if that request had written its record, the retry that takes over writes a second one.
PENDING_TIMEOUT = timedelta(seconds=60)
# Seconds between deletions of expired keys, in each process.
CLEANUP_INTERVAL_SECONDS = 3600
# Attempts to claim a key whose row changes between the insert and the read.
MAX_CLAIM_ATTEMPTS = 3

_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")
_MYSQL_DUPLICATE_ENTRY = 1062

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Claim:
    """A pending key that one request owns, identified by its claim time `created_at`."""

    api_key_scope: str
    idempotency_key: str
    created_at: datetime

    def params(self) -> dict[str, object]:
        return {
            "api_key_scope": self.api_key_scope,
            "idempotency_key": self.idempotency_key,
            "created_at": self.created_at,
        }


def read_idempotency_key(request: Request) -> str | None:
    """Return the Idempotency-Key header, or None; a malformed one raises InvalidInput."""
    values = request.headers.getlist(IDEMPOTENCY_KEY_HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidInput(
            f"{IDEMPOTENCY_KEY_HEADER} header is sent {len(values)} times; send it once"
        )
    key = values[0]
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{IDEMPOTENCY_KEY_HEADER} is {len(key)} characters long, "
            f"more than the {MAX_KEY_LENGTH} allowed; a UUID is a good key"
        )
    if not _KEY.fullmatch(key):
        raise InvalidInput(
            f"{IDEMPOTENCY_KEY_HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            f"without spaces, got {show(key)}"
        )
    return key


def hash_request(request: Request, body: bytes) -> str:
    """Return the SHA-256 of the method, path, query string and body that a key is bound to."""
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode("utf-8", "surrogateescape"))
        digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


def _is_duplicate_key(exc: Exception) -> bool:
    if isinstance(exc, pymysql.err.IntegrityError):
        return bool(exc.args) and exc.args[0] == _MYSQL_DUPLICATE_ENTRY
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)


def replayed_response(row: dict[str, object]) -> Response:
    status_code = int(row["status_code"])  # type: ignore[call-overload]
    return Response(
        content=row["response_body"] or b"",
        status_code=status_code,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


class IdempotencyKeys:
    """The stored idempotency keys of one database, with this process's cleanup schedule."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self._clock = clock
        self._monotonic = monotonic
        # The first completed request of a process deletes what expired while it was down.
        self._next_cleanup = 0.0

    async def claim(self, api_key_scope: str, key: str, request_hash: str) -> Claim | Response:
        """Claim the key for this request, or return its stored response.

        Raises Conflict when the key belongs to another request or one with it is in progress.
        """
        for _ in range(MAX_CLAIM_ATTEMPTS):
            now = self._clock()
            claim = Claim(api_key_scope, key, now)
            try:
                await self.db.execute(
                    "create_idempotency_key", request_hash=request_hash, **claim.params()
                )
                return claim
            except Exception as exc:
                if not _is_duplicate_key(exc):
                    raise

            row = await self.db.fetch_one(
                "get_idempotency_key", api_key_scope=api_key_scope, idempotency_key=key
            )
            if row is None:
                # Released or expired and deleted since the insert: try the insert again.
                continue

            created_at: datetime = row["created_at"]
            expired = created_at <= now - KEY_LIFETIME
            if not expired and row["request_hash"] != request_hash:
                raise Conflict(
                    f"{IDEMPOTENCY_KEY_HEADER} {show(key)} was already used for a different "
                    "request (method, path or body); send a new key for a new request"
                )
            if not expired and row["status_code"] is not None:
                return replayed_response(row)
            if not expired and created_at > now - PENDING_TIMEOUT:
                raise Conflict(
                    f"a request with {IDEMPOTENCY_KEY_HEADER} {show(key)} is in progress; "
                    "retry after it has completed"
                )

            changed = await self.db.execute(
                "claim_idempotency_key",
                request_hash=request_hash,
                previous_created_at=created_at,
                **claim.params(),
            )
            if changed == 1:
                if not expired:
                    logger.warning(
                        "took over %s %r, pending since %s", IDEMPOTENCY_KEY_HEADER, key, created_at
                    )
                return claim

        raise Conflict(
            f"a request with {IDEMPOTENCY_KEY_HEADER} {show(key)} is in progress; "
            "retry after it has completed"
        )

    async def complete(self, claim: Claim, response: Response) -> None:
        """Store the response of the claimed key; a failure is only logged, as the write is done."""
        try:
            await self.db.execute(
                "complete_idempotency_key",
                status_code=response.status_code,
                response_body=bytes(response.body).decode("utf-8"),
                **claim.params(),
            )
        except Exception as exc:
            logger.warning(
                "failed to store the response for %s %r, so it stays pending: %s",
                IDEMPOTENCY_KEY_HEADER,
                claim.idempotency_key,
                exc,
            )

    async def release(self, claim: Claim) -> None:
        """Delete the pending key, so a retry runs the request again; a failure is only logged."""
        try:
            await self.db.execute("delete_pending_idempotency_key", **claim.params())
        except Exception as exc:
            logger.warning(
                "failed to release %s %r, so it stays pending for %d s: %s",
                IDEMPOTENCY_KEY_HEADER,
                claim.idempotency_key,
                PENDING_TIMEOUT.total_seconds(),
                exc,
            )

    def cleanup_due(self) -> bool:
        """Tell whether to delete expired keys now; if so, schedule the next deletion."""
        if self._monotonic() < self._next_cleanup:
            return False
        self._next_cleanup = self._monotonic() + CLEANUP_INTERVAL_SECONDS
        return True

    async def delete_expired(self) -> None:
        try:
            deleted = await self.db.execute(
                "delete_expired_idempotency_keys", expired_before=self._clock() - KEY_LIFETIME
            )
        except Exception as exc:
            logger.warning("failed to delete expired idempotency keys: %s", exc)
            return
        if deleted:
            logger.info("deleted %d expired idempotency keys", deleted)


def idempotent(endpoint: Endpoint) -> Endpoint:
    """Wrap a POST endpoint so that an Idempotency-Key header makes it safe to retry."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        key = read_idempotency_key(request)
        if key is None:
            return await endpoint(request)

        keys: IdempotencyKeys = request.app.state.idempotency_keys
        # The API key middleware has checked this key; it is only hashed here.
        api_key_scope = key_scope(request.scope["state"]["api_key"])
        body = await request.body()
        outcome = await keys.claim(api_key_scope, key, hash_request(request, body))
        if isinstance(outcome, Response):
            return outcome

        try:
            response = await endpoint(request)
        except (NotFound, Conflict) as exc:
            # These come from the stored data, so a retry would get them again.
            response = error_response(exc)
        except Exception:
            # NOTE: a 503 for a write whose connection broke after sending may follow an applied
            # write, and the released key then lets a retry write a second record.
            await keys.release(outcome)
            raise

        await keys.complete(outcome, response)
        if response.background is None and keys.cleanup_due():
            response.background = BackgroundTask(keys.delete_expired)
        return response

    return wrapper
