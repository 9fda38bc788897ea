"""A client that behaves like the MOCBOT bot, against a real server process, across a restart."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from service.settings import DatabaseConfig, Settings
from tests.factories import API, STREAM_DURATION_MS, track_body

BOT_KEY = "bot-flow-key-51c2"
GUILD_ID = 987654321098765432
# Listener ids sent as digit strings too, as a JavaScript client holding snowflakes would.
ALICE = 123456789012345678
BOB = 223456789012345678
# Seconds a server may take to pass its health probe after it starts.
START_TIMEOUT_SECONDS = 30
# Seconds a server may take to exit after SIGTERM.
STOP_TIMEOUT_SECONDS = 15
CONCURRENT_ENDS = 8
SESSION_KEYS = {"ID", "GuildID", "StartedAt", "EndedAt"}
TRACK_PLAY_KEYS = {
    "ID",
    "SessionID",
    "GuildID",
    "Source",
    "SourceID",
    "URL",
    "Title",
    "Artist",
    "StartedAt",
    "EndedAt",
    "DurationMs",
    "PlayedDurationMs",
    "QueuedByUser",
    "IsValid",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(config: DatabaseConfig, workdir: Path, log_name: str) -> Iterator[str]:
    """Run `python -m service serve` on a free loopback port; yield its base URL, then stop it."""
    port = free_port()
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in Settings.model_fields
    }
    environment.update(
        DATABASE_URL=config.yoyo_url(), API_KEY=BOT_KEY, LOG_LEVEL="INFO", LOG_FORMAT="text"
    )
    log_path = workdir / log_name
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base_url, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_healthy(process: subprocess.Popen, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}{API}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server did not answer within {START_TIMEOUT_SECONDS} s:\n{log_path.read_text()}")


def bot_client(base_url: str) -> httpx.Client:
    # The bot spells the header in capitals.
    return httpx.Client(base_url=f"{base_url}{API}", headers={"X-API-KEY": BOT_KEY}, timeout=10)


def snapshot(bot: httpx.Client, session_id: str, track_ids: list[str]) -> dict[str, object]:
    """Read everything the bot can read about the session, for comparing across a restart."""
    return {
        "session": bot.get(f"/sessions/{session_id}").json(),
        "sessions": bot.get("/sessions", params={"guildIds": str(GUILD_ID)}).json(),
        "tracks": bot.get(f"/sessions/{session_id}/tracks").json(),
        "listeners": [bot.get(f"/tracks/{track_id}/listeners").json() for track_id in track_ids],
        "guild_recents": bot.get(f"/guilds/{GUILD_ID}/tracks/recent").json(),
        "user_recents": bot.get(f"/users/{ALICE}/tracks/recent").json(),
        "guild_artists": [
            item["artist"]
            for item in bot.get(f"/guilds/{GUILD_ID}/artists/recommended").json()[
                "recommended_artists"
            ]
        ],
    }


def test_bot_flow_survives_restart(db_config, tmp_path):
    with running_server(db_config, tmp_path, "first.log") as base_url, bot_client(base_url) as bot:
        unauthorized = httpx.get(f"{base_url}{API}/sessions", params={"guildIds": str(GUILD_ID)})
        assert unauthorized.status_code == 401

        started = bot.post("/sessions", json={"guildId": str(GUILD_ID)})
        assert started.status_code == 201
        session = started.json()
        assert set(session) == SESSION_KEYS
        assert session["GuildID"] == GUILD_ID
        session_id = session["ID"]

        song = bot.post(
            f"/sessions/{session_id}/tracks",
            json=track_body(
                title="夜に駆ける 🌙",
                artist="YOASOBI",
                durationMs=261_000,
                queuedByUser=ALICE,
                listenerIds=[ALICE, str(BOB), ALICE],
            ),
        )
        assert song.status_code == 201
        assert set(song.json()) == TRACK_PLAY_KEYS
        song_id = song.json()["ID"]

        ended_song = bot.patch(f"/tracks/{song_id}", json={"playedDurationMs": 261_500})
        assert ended_song.status_code == 200
        assert ended_song.json()["IsValid"] is True
        assert ended_song.json()["PlayedDurationMs"] == 261_000

        skipped = bot.post(
            f"/sessions/{session_id}/tracks",
            json=track_body(artist="Skipped Artist", durationMs=200_000, listenerIds=[ALICE]),
        ).json()
        ended_skipped = bot.patch(f"/tracks/{skipped['ID']}", json={"playedDurationMs": 12_000})
        assert ended_skipped.status_code == 204
        assert ended_skipped.content == b""

        stream = bot.post(
            f"/sessions/{session_id}/tracks",
            json=track_body(artist="Lofi Radio", durationMs=STREAM_DURATION_MS, listenerIds=[BOB]),
        ).json()
        assert stream["DurationMs"] == STREAM_DURATION_MS
        ended_stream = bot.patch(f"/tracks/{stream['ID']}", json={"playedDurationMs": 45_000})
        assert ended_stream.status_code == 200
        assert ended_stream.json()["DurationMs"] == STREAM_DURATION_MS

        guild_recents = bot.get(f"/guilds/{GUILD_ID}/tracks/recent")
        assert guild_recents.status_code == 200
        assert set(guild_recents.json()) == {"trackPlays", "count", "guildId"}
        assert guild_recents.json()["guildId"] == str(GUILD_ID)
        assert [track["ID"] for track in guild_recents.json()["trackPlays"]] == [
            stream["ID"],
            song_id,
        ]

        alice_recents = bot.get(f"/users/{ALICE}/tracks/recent", params={"limit": "10"}).json()
        assert set(alice_recents) == {"trackPlays", "count", "userId"}
        assert alice_recents["userId"] == str(ALICE)
        assert [track["ID"] for track in alice_recents["trackPlays"]] == [song_id]
        assert alice_recents["trackPlays"][0]["Title"] == "夜に駆ける 🌙"

        artists = bot.get(f"/guilds/{GUILD_ID}/artists/recommended", params={"seedCount": "50"})
        assert artists.status_code == 200
        assert [item["artist"] for item in artists.json()["recommended_artists"]] == [
            "Lofi Radio",
            "YOASOBI",
        ]
        bob_artists = bot.get(f"/users/{BOB}/artists/recommended").json()["recommended_artists"]
        assert [item["artist"] for item in bob_artists] == ["Lofi Radio", "YOASOBI"]

        contested = bot.post(f"/sessions/{session_id}/tracks", json=track_body(durationMs=100_000))
        contested_id = contested.json()["ID"]
        with ThreadPoolExecutor(CONCURRENT_ENDS) as pool:
            ends = list(
                pool.map(
                    lambda played: bot.patch(
                        f"/tracks/{contested_id}", json={"playedDurationMs": played}
                    ),
                    [5_000 if index % 2 else 50_000 for index in range(CONCURRENT_ENDS)],
                )
            )
        # Valid and invalid ends race; whichever is stored first, every caller gets that outcome.
        assert {end.status_code for end in ends} in ({200}, {204})
        assert len({end.text for end in ends}) == 1

        ended_session = bot.patch(f"/sessions/{session_id}")
        assert ended_session.status_code == 200
        assert ended_session.json()["EndedAt"] is not None
        late = bot.post(f"/sessions/{session_id}/tracks", json=track_body())
        assert late.status_code == 409

        empty_session = bot.post("/sessions", json={"guildId": GUILD_ID}).json()
        assert bot.patch(f"/sessions/{empty_session['ID']}", json={}).status_code == 204
        assert bot.get(f"/sessions/{empty_session['ID']}").status_code == 404

        track_ids = [song_id, skipped["ID"], stream["ID"], contested_id]
        before_restart = snapshot(bot, session_id, track_ids)

    with running_server(db_config, tmp_path, "second.log") as base_url, bot_client(base_url) as bot:
        after_restart = snapshot(bot, session_id, track_ids)

    assert after_restart == before_restart
    assert after_restart["tracks"]["count"] == 4
    assert after_restart["listeners"][0]["count"] == 2


def test_bot_flow_server_log(db_config, tmp_path):
    with running_server(db_config, tmp_path, "server.log") as base_url, bot_client(base_url) as bot:
        session_id = bot.post("/sessions", json={"guildId": GUILD_ID}).json()["ID"]
        bot.get(f"/sessions/{session_id}")
        httpx.get(f"{base_url}{API}/sessions/{session_id}", headers={"X-API-Key": "wrong-key"})

    log = (tmp_path / "server.log").read_text()
    assert "POST /api/v1/sessions 201" in log
    assert "GET /api/v1/sessions/{sessionId} 200" in log
    assert " 401 " in log
    assert BOT_KEY not in log
    assert "wrong-key" not in log
    assert "Traceback" not in log
