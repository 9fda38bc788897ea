"""Concurrent requests on one session and on one play, sent to a real uvicorn server."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import httpx

from service.app import create_app
from service.settings import DatabaseConfig, Settings
from tests.conftest import TEST_API_KEY, query_sql
from tests.live_server import LiveServer

# Track starts in the burst. The burst also ends each play it creates, the play started before it
# and the session, so it sends up to 54 requests. Starts that arrive after the session's end get
# 409 and send no end, so about 50 requests run.
CONCURRENT_STARTS = 26
END_ROUNDS = 10
DURATION_MS = 213_000
VALID_PLAYED_MS = 200_000
INVALID_PLAYED_MS = 1_000
ACCEPTED_STATUSES = {200, 201, 204, 409}


def track_body(source_id: str, listener_ids: list[int]) -> dict[str, object]:
    return {
        "source": "youtube",
        "sourceId": source_id,
        "url": f"https://www.youtube.com/watch?v={source_id}",
        "title": f"Track {source_id}",
        "artist": "Concurrent Artist",
        "durationMs": DURATION_MS,
        "queuedByUser": listener_ids[0],
        "listenerIds": listener_ids,
    }


@dataclass
class Chain:
    """One track start and, when it was created, the end of that play."""

    source_id: str
    listener_ids: list[int]
    played_ms: int
    start: httpx.Response | None = None
    start_sent_at: float = 0.0
    end: httpx.Response | None = None


def api_client(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        headers={"X-API-Key": TEST_API_KEY},
        timeout=30,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )


async def run_chain(client: httpx.AsyncClient, session_id: str, chain: Chain) -> None:
    # Spread over the same window as the session's end, so some starts arrive after it.
    await asyncio.sleep(random.uniform(0, 0.15))
    chain.start_sent_at = time.monotonic()
    chain.start = await client.post(
        f"/api/v1/sessions/{session_id}/tracks",
        json=track_body(chain.source_id, chain.listener_ids),
    )
    if chain.start.status_code != 201:
        return
    await asyncio.sleep(random.uniform(0, 0.02))
    chain.end = await client.patch(
        f"/api/v1/tracks/{chain.start.json()['ID']}", json={"playedDurationMs": chain.played_ms}
    )


@dataclass
class SessionEnd:
    response: httpx.Response
    answered_at: float


async def end_session_later(client: httpx.AsyncClient, session_id: str) -> SessionEnd:
    await asyncio.sleep(random.uniform(0.1, 0.14))
    response = await client.patch(f"/api/v1/sessions/{session_id}", json={})
    return SessionEnd(response, time.monotonic())


async def mixed_requests(
    server: LiveServer,
) -> tuple[str, str, list[Chain], httpx.Response, SessionEnd]:
    async with api_client(server) as client:
        session = await client.post("/api/v1/sessions", json={"guildId": 42})
        assert session.status_code == 201
        session_id = session.json()["ID"]
        # A play that exists before the burst keeps the session from being deleted by its end.
        first = await client.post(
            f"/api/v1/sessions/{session_id}/tracks", json=track_body("first", [1, 2])
        )
        assert first.status_code == 201
        first_id = first.json()["ID"]

        chains = [
            Chain(
                source_id=f"chain-{index}",
                listener_ids=[1000 + index, 2000 + index],
                played_ms=VALID_PLAYED_MS if index % 2 else INVALID_PLAYED_MS,
            )
            for index in range(CONCURRENT_STARTS)
        ]
        results = await asyncio.gather(
            client.patch(f"/api/v1/tracks/{first_id}", json={"playedDurationMs": VALID_PLAYED_MS}),
            end_session_later(client, session_id),
            *(run_chain(client, session_id, chain) for chain in chains),
        )
        # One start is sent after the session end returned, whatever the timing of the burst.
        after_end = Chain(source_id="after-end", listener_ids=[3000], played_ms=VALID_PLAYED_MS)
        await run_chain(client, session_id, after_end)
        chains.append(after_end)
    first_end, session_end = results[0], results[1]
    return session_id, first_id, chains, first_end, session_end


def test_concurrent_starts_ends_and_session_end(
    db_config: DatabaseConfig, settings: Settings
) -> None:
    with LiveServer(create_app(settings)) as server:
        session_id, first_id, chains, first_end, session_end = asyncio.run(mixed_requests(server))

    responses = [first_end, session_end.response]
    for chain in chains:
        assert chain.start is not None
        responses.append(chain.start)
        if chain.end is not None:
            responses.append(chain.end)
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= ACCEPTED_STATUSES, statuses
    assert first_end.status_code == 200
    assert session_end.response.status_code == 200
    assert all(chain.start.status_code in (201, 409) for chain in chains if chain.start)

    created = {
        chain.start.json()["ID"]: chain
        for chain in chains
        if chain.start and chain.start.status_code == 201
    }
    stored_plays = query_sql(
        db_config,
        f"SELECT id, source_id, played_duration_ms, is_valid, ended_at, started_at "
        f"FROM track_plays WHERE session_id = '{session_id}'",
    )
    assert {row[0] for row in stored_plays} == {first_id, *created}

    stored_listeners: dict[str, set[int]] = {}
    for track_play_id, user_id in query_sql(
        db_config, "SELECT track_play_id, user_id FROM track_play_listeners"
    ):
        stored_listeners.setdefault(track_play_id, set()).add(user_id)
    assert set(stored_listeners) == {first_id, *created}
    for track_play_id, chain in created.items():
        assert stored_listeners[track_play_id] == set(chain.listener_ids)

    by_id = {row[0]: row for row in stored_plays}
    for track_play_id, chain in created.items():
        _, source_id, played_ms, is_valid, ended_at, _ = by_id[track_play_id]
        assert chain.end is not None
        assert source_id == chain.source_id
        assert ended_at is not None
        if chain.end.status_code == 200:
            assert bool(is_valid)
            assert chain.end.json()["PlayedDurationMs"] == played_ms == chain.played_ms
        else:
            assert chain.end.status_code == 204
            assert not is_valid
            assert chain.played_ms == INVALID_PLAYED_MS

    rejected = {
        chain.source_id for chain in chains if chain.start and chain.start.status_code == 409
    }
    assert not rejected & {row[1] for row in stored_plays}

    ((session_ended_at,),) = query_sql(
        db_config, f"SELECT ended_at FROM listening_sessions WHERE id = '{session_id}'"
    )
    assert session_ended_at is not None
    # A start sent after the session end returned must find the session ended.
    late = [chain for chain in chains if chain.start_sent_at > session_end.answered_at]
    assert all(chain.start.status_code == 409 for chain in late if chain.start)
    # Each stored play started before the end, which took the session's lock after it.
    assert all(row[5] <= session_ended_at for row in stored_plays)


async def concurrent_end_rounds(
    server: LiveServer,
) -> list[tuple[str, httpx.Response, httpx.Response]]:
    rounds = []
    async with api_client(server) as client:
        session = await client.post("/api/v1/sessions", json={"guildId": 43})
        session_id = session.json()["ID"]
        for index in range(END_ROUNDS):
            play = await client.post(
                f"/api/v1/sessions/{session_id}/tracks", json=track_body(f"round-{index}", [7])
            )
            track_play_id = play.json()["ID"]
            url = f"/api/v1/tracks/{track_play_id}"
            # Alternating which end is sent first lets either one win.
            played = [VALID_PLAYED_MS, INVALID_PLAYED_MS]
            if index % 2:
                played.reverse()
            first, second = await asyncio.gather(
                *(client.patch(url, json={"playedDurationMs": ms}) for ms in played)
            )
            valid, invalid = (first, second) if played[0] == VALID_PLAYED_MS else (second, first)
            rounds.append((track_play_id, valid, invalid))
    return rounds


def test_two_concurrent_ends_store_one_result(
    db_config: DatabaseConfig, settings: Settings
) -> None:
    with LiveServer(create_app(settings)) as server:
        rounds = asyncio.run(concurrent_end_rounds(server))

    for track_play_id, valid, invalid in rounds:
        ((played_ms, is_valid, ended_at),) = query_sql(
            db_config,
            f"SELECT played_duration_ms, is_valid, ended_at FROM track_plays "
            f"WHERE id = '{track_play_id}'",
        )
        assert ended_at is not None
        if is_valid:
            # The valid end won: both callers get the stored play back.
            assert played_ms == VALID_PLAYED_MS
            assert valid.status_code == 200
            assert invalid.status_code == 200
            assert valid.json() == invalid.json()
            assert valid.json()["PlayedDurationMs"] == VALID_PLAYED_MS
        else:
            # The invalid end won: both callers hear that the play did not count.
            assert played_ms == INVALID_PLAYED_MS
            assert valid.status_code == 204
            assert invalid.status_code == 204
