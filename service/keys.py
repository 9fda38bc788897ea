"""API keys: raw values or SHA-512 digests, one per line, re-read so a rotated key file applies."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from service.settings import ConfigurationError, Settings, read_secret_file

logger = logging.getLogger(__name__)

# Seconds a read of the key file is trusted; a rotated file takes effect within this time.
KEY_FILE_RELOAD_SECONDS = 60
_SHA512_HEX = re.compile(r"[0-9a-fA-F]{128}")


def hash_key(key: str) -> str:
    """Return the SHA-512 hex digest that a key file may hold in place of the key."""
    return hashlib.sha512(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    return secrets.token_urlsafe(32)


def parse_key_lines(text: str) -> list[str]:
    """Return the keys of a key file: one per line, blanks skipped; a 128-hex line is a digest."""
    return [line.strip() for line in text.splitlines() if line.strip()]


class ApiKeys:
    """The accepted API keys, from API_KEY_FILE (re-read every minute) or API_KEY."""

    def __init__(
        self,
        key_file: Path | None,
        key: str | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if key_file is None and not key:
            raise ConfigurationError(
                "no API key is configured: set API_KEY_FILE to a file holding the key "
                "(or its SHA-512 digest), or API_KEY for local use"
            )
        self._key_file = key_file
        self._clock = clock
        self._entries: list[str] = parse_key_lines(key) if key else []
        self._loaded_at = clock()
        if key_file is not None:
            self._entries = self._read_file()

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        return cls(settings.api_key_file, key)

    def _read_file(self) -> list[str]:
        assert self._key_file is not None
        entries = parse_key_lines(read_secret_file(self._key_file, "API_KEY_FILE"))
        if not entries:
            raise ConfigurationError(f"API_KEY_FILE {str(self._key_file)!r} contains no key")
        return entries

    def _refresh(self) -> None:
        if self._key_file is None or self._clock() - self._loaded_at < KEY_FILE_RELOAD_SECONDS:
            return
        self._loaded_at = self._clock()
        try:
            self._entries = self._read_file()
        except ConfigurationError as exc:
            # Keep serving with the keys read last rather than locking every client out.
            logger.error("keeping the previous API keys: %s", exc)

    def is_valid(self, presented: str | None) -> bool:
        """Compare a presented key with every accepted one in constant time."""
        if not presented:
            return False
        self._refresh()

        presented_bytes = presented.encode("utf-8")
        digest = hash_key(presented).encode("ascii")
        matched = False
        for entry in self._entries:
            if _SHA512_HEX.fullmatch(entry):
                matched |= hmac.compare_digest(entry.lower().encode("ascii"), digest)
            else:
                matched |= hmac.compare_digest(entry.encode("utf-8"), presented_bytes)
        return matched

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._entries)} keys, file={self._key_file})"


def key_scope(presented: str) -> str:
    """Return a stable, non-secret name for an API key, to scope what is stored per key."""
    return hash_key(presented)[:32]
