"""API keys: the key file's forms, SHA-512 digests, several keys, and rotation without a restart."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.keys import KEY_FILE_RELOAD_SECONDS, ApiKeys, hash_key
from service.settings import ConfigurationError
from tests.factories import API

KEY = "k3y-rotating-9f2"
OTHER_KEY = "second-key-4410"
# Maximum seconds before a rotated key file takes effect.
MAX_ROTATION_SECONDS = 180


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key_file(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "api-key"
    path.write_text(content, encoding="utf-8")
    return path


def sha512(text: str) -> str:
    return hashlib.sha512(text.encode("utf-8")).hexdigest()


def test_hash_key_is_sha512_hex():
    assert hash_key(KEY) == sha512(KEY)
    assert len(hash_key(KEY)) == 128


@pytest.mark.parametrize("content", [KEY, KEY + "\n", KEY + "\r\n", "\n" + KEY + "\n\n"])
def test_key_file_raw_key(tmp_path, content):
    keys = ApiKeys(key_file(tmp_path, content), None)

    assert keys.is_valid(KEY)
    assert not keys.is_valid(KEY + "\n")
    assert not keys.is_valid(OTHER_KEY)


@pytest.mark.parametrize("digest", [sha512(KEY), sha512(KEY).upper(), sha512(KEY) + "\n"])
def test_key_file_digest(tmp_path, digest):
    keys = ApiKeys(key_file(tmp_path, digest), None)

    assert keys.is_valid(KEY)
    assert not keys.is_valid(OTHER_KEY)


def test_key_file_digest_itself_is_not_a_key(tmp_path):
    keys = ApiKeys(key_file(tmp_path, sha512(KEY)), None)

    assert not keys.is_valid(sha512(KEY))


def test_key_file_127_hex_digits_is_raw_key(tmp_path):
    raw = sha512(KEY)[:127]

    keys = ApiKeys(key_file(tmp_path, raw), None)

    assert keys.is_valid(raw)


def test_key_file_several_keys(tmp_path):
    content = f"{KEY}\n\n{sha512(OTHER_KEY)}\n"

    keys = ApiKeys(key_file(tmp_path, content), None)

    assert keys.is_valid(KEY)
    assert keys.is_valid(OTHER_KEY)
    assert not keys.is_valid("third")


def test_key_from_setting():
    keys = ApiKeys(None, KEY)

    assert keys.is_valid(KEY)
    assert not keys.is_valid(OTHER_KEY)


@pytest.mark.parametrize("presented", [None, ""])
def test_no_presented_key_is_invalid(presented):
    assert not ApiKeys(None, KEY).is_valid(presented)


def test_no_key_configured_is_error():
    with pytest.raises(ConfigurationError, match="API_KEY_FILE"):
        ApiKeys(None, None)


def test_key_file_missing_is_error(tmp_path):
    with pytest.raises(ConfigurationError, match="API_KEY_FILE"):
        ApiKeys(tmp_path / "missing", None)


@pytest.mark.parametrize("content", ["", "\n", "  \n\n"])
def test_key_file_empty_is_error(tmp_path, content):
    with pytest.raises(ConfigurationError, match="API_KEY_FILE"):
        ApiKeys(key_file(tmp_path, content), None)


def test_repr_hides_keys(tmp_path):
    keys = ApiKeys(key_file(tmp_path, KEY), None)

    assert KEY not in repr(keys)


# Rotation


def test_reload_interval_within_three_minutes():
    assert 0 < KEY_FILE_RELOAD_SECONDS <= MAX_ROTATION_SECONDS


def test_rotation_picked_up_after_interval(tmp_path):
    clock = FakeClock()
    path = key_file(tmp_path, KEY)
    keys = ApiKeys(path, None, clock=clock)
    path.write_text(OTHER_KEY + "\n", encoding="utf-8")

    clock.now += KEY_FILE_RELOAD_SECONDS - 1
    old_key_before = keys.is_valid(KEY)
    new_key_before = keys.is_valid(OTHER_KEY)
    clock.now += 1
    new_key_after = keys.is_valid(OTHER_KEY)
    old_key_after = keys.is_valid(KEY)

    assert old_key_before
    assert not new_key_before
    assert new_key_after
    assert not old_key_after


def test_rotation_to_digest(tmp_path):
    clock = FakeClock()
    path = key_file(tmp_path, KEY)
    keys = ApiKeys(path, None, clock=clock)
    path.write_text(sha512(OTHER_KEY), encoding="utf-8")

    clock.now += MAX_ROTATION_SECONDS

    assert keys.is_valid(OTHER_KEY)
    assert not keys.is_valid(KEY)


def test_rotation_keeps_checking_after_reload(tmp_path):
    clock = FakeClock()
    path = key_file(tmp_path, KEY)
    keys = ApiKeys(path, None, clock=clock)
    clock.now += MAX_ROTATION_SECONDS
    keys.is_valid(KEY)
    path.write_text(OTHER_KEY, encoding="utf-8")

    clock.now += MAX_ROTATION_SECONDS

    assert keys.is_valid(OTHER_KEY)


def test_rotation_to_unreadable_keeps_old_keys(tmp_path, caplog):
    clock = FakeClock()
    path = key_file(tmp_path, KEY)
    keys = ApiKeys(path, None, clock=clock)
    path.unlink()
    clock.now += MAX_ROTATION_SECONDS

    with caplog.at_level(logging.WARNING):
        still_valid = keys.is_valid(KEY)

    assert still_valid
    assert "API_KEY_FILE" in caplog.text
    assert KEY not in caplog.text


def test_rotation_to_empty_keeps_old_keys(tmp_path):
    clock = FakeClock()
    path = key_file(tmp_path, KEY)
    keys = ApiKeys(path, None, clock=clock)
    path.write_text("", encoding="utf-8")
    clock.now += MAX_ROTATION_SECONDS

    assert keys.is_valid(KEY)


def test_rotation_through_api(settings, tmp_path):
    clock = FakeClock()
    path = key_file(tmp_path, KEY)
    app = create_app(settings, keys=ApiKeys(path, None, clock=clock))

    with TestClient(app) as client:
        before = client.get(f"{API}/sessions?guildIds=1", headers={"X-API-Key": KEY})
        path.write_text(sha512(OTHER_KEY) + "\n", encoding="utf-8")
        clock.now += MAX_ROTATION_SECONDS
        old_key = client.get(f"{API}/sessions?guildIds=1", headers={"X-API-Key": KEY})
        new_key = client.get(f"{API}/sessions?guildIds=1", headers={"X-API-KEY": OTHER_KEY})

    assert before.status_code == 200
    assert old_key.status_code == 401
    assert new_key.status_code == 200


def test_settings_key_file_used_by_app(db_config, tmp_path):
    from tests.conftest import make_settings

    path = key_file(tmp_path, sha512(KEY) + "\n")
    app = create_app(make_settings(db_config, api_key=None, api_key_file=path))

    with TestClient(app) as client:
        accepted = client.get(f"{API}/sessions?guildIds=1", headers={"X-API-Key": KEY})
        rejected = client.get(f"{API}/sessions?guildIds=1", headers={"X-API-Key": sha512(KEY)})

    assert accepted.status_code == 200
    assert rejected.status_code == 401
