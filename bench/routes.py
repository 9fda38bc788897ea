"""The benchmarked routes: their requests, their SQL for the driver ceiling, the write mix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomysql
import orjson
import pymysql

from bench.client import HttpError, Step, Worker
from service.parsing import DEFAULT_LIMIT
from service.queries import Queries
from service.settings import DatabaseConfig

API = "/api/v1"

# Rows a recommendation reads, as the service's default RECOMMEND_SEED_COUNT.
SEED_COUNT = 1000

# Writes go to a guild and users that the generator never creates, and are deleted afterwards.
WRITE_GUILD_ID = 1000

WRITE_LISTENER_IDS = (1001, 1002, 1003)


@dataclass(frozen=True)
class RouteSpec:
    """One benchmarked route: how to request it and which SQL its driver ceiling runs."""

    name: str
    step: Step
    bare: str
    query: str | None = None
    params: Callable[[Worker], dict[str, Any]] | None = None
    prepare: Step | None = None


def get_step(path: Callable[[Worker], str]) -> Step:
    async def step(worker: Worker) -> None:
        await worker.http("GET", path(worker), None, (200,))

    return step


def _create_track_body(worker: Worker) -> bytes:
    return orjson.dumps(
        {
            "source": "youtube",
            "sourceId": f"bench{worker.index:02d}{worker.iteration:06d}",
            "url": f"https://www.youtube.com/watch?v=bench{worker.index:02d}{worker.iteration:06d}",
            "title": "Midnight Electric Dreams (Official Music Video) 🌙",
            "artist": "The Velvet Satellites",
            "durationMs": 215_000,
            "queuedByUser": WRITE_LISTENER_IDS[0],
            "listenerIds": list(WRITE_LISTENER_IDS),
        }
    )


async def _open_write_session(worker: Worker) -> None:
    assert worker.connection is not None
    body = orjson.dumps({"guildId": WRITE_GUILD_ID})
    status, payload = await worker.connection.request("POST", f"{API}/sessions", body)
    if status != 201:
        raise HttpError(f"POST {API}/sessions returned {status}: {payload[:200]!r}")
    worker.state["session_id"] = orjson.loads(payload)["ID"]


async def _start_and_end_track(worker: Worker) -> None:
    session_id = worker.state["session_id"]
    created = await worker.http(
        "POST", f"{API}/sessions/{session_id}/tracks", _create_track_body(worker), (201,)
    )
    play_id = orjson.loads(created)["ID"]
    # Played long enough to count, so the end returns 200 with the stored play.
    ended = orjson.dumps({"playedDurationMs": 200_000})
    await worker.http("PATCH", f"{API}/tracks/{play_id}", ended, (200,))


def build_routes(summary: dict[str, Any]) -> list[RouteSpec]:
    """Return the benchmarked routes, with the ids of the seeded archive's summary."""
    heavy_guild = summary["heaviest_guild"]["id"]
    typical_guild = summary["typical_guild"]["id"]
    heavy_user = summary["heaviest_user"]["id"]
    typical_user = summary["typical_user"]["id"]
    session_id = summary["typical_session"]["id"]
    play_ids = summary["track_play_ids"]

    def play_id(worker: Worker) -> str:
        return str(play_ids[(worker.index * 7 + worker.iteration) % len(play_ids)])

    routes = []
    for label, guild in (("heaviest", heavy_guild), ("typical", typical_guild)):
        routes.append(
            RouteSpec(
                f"guild recents, {label}",
                get_step(lambda worker, guild=guild: f"{API}/guilds/{guild}/tracks/recent"),
                "page",
                "get_recent_track_plays_by_guild",
                lambda worker, guild=guild: {"guild_id": guild, "limit": DEFAULT_LIMIT},
            )
        )
    for label, user in (("heaviest", heavy_user), ("typical", typical_user)):
        routes.append(
            RouteSpec(
                f"user recents, {label}",
                get_step(lambda worker, user=user: f"{API}/users/{user}/tracks/recent"),
                "page",
                "get_recent_track_plays_by_user",
                lambda worker, user=user: {"user_id": user, "limit": DEFAULT_LIMIT},
            )
        )
    routes += [
        RouteSpec(
            "recommended artists, heaviest guild",
            get_step(lambda worker: f"{API}/guilds/{heavy_guild}/artists/recommended"),
            "tiny",
            "get_recommendation_seeds_by_guild",
            lambda worker: {"guild_id": heavy_guild, "limit": SEED_COUNT},
        ),
        RouteSpec(
            "recommended artists, heaviest user",
            get_step(lambda worker: f"{API}/users/{heavy_user}/artists/recommended"),
            "tiny",
            "get_recommendation_seeds_by_user",
            lambda worker: {"user_id": heavy_user, "limit": SEED_COUNT},
        ),
        RouteSpec(
            "session tracks",
            get_step(lambda worker: f"{API}/sessions/{session_id}/tracks"),
            "tiny",
            "get_track_plays_by_session_id",
            lambda worker: {"session_id": session_id},
        ),
        RouteSpec(
            "get track play",
            get_step(lambda worker: f"{API}/tracks/{play_id(worker)}"),
            "tiny",
            "get_track_play_by_id",
            lambda worker: {"track_play_id": play_id(worker)},
        ),
        RouteSpec(
            "write mix (start + end track)",
            _start_and_end_track,
            "tiny",
            prepare=_open_write_session,
        ),
    ]
    return routes


def driver_step(
    pool: aiomysql.Pool, queries: Queries, name: str, params: Callable[[Worker], dict[str, Any]]
) -> Step:
    query = queries[name]

    async def step(worker: Worker) -> None:
        sql, arguments = query.bind(params(worker))

        async def fetch() -> object:
            async with pool.acquire() as connection, connection.cursor() as cursor:
                await cursor.execute(sql, arguments)
                return await cursor.fetchall()

        await worker.timed(fetch)

    return step


def delete_written_rows(config: DatabaseConfig) -> int:
    """Delete what the write mix stored, so every run reads the same archive."""
    connection = pymysql.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.password,
        database=config.database,
        autocommit=True,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE track_play_listeners FROM track_play_listeners "
                "JOIN track_plays ON track_plays.id = track_play_listeners.track_play_id "
                "WHERE track_plays.guild_id = %s",
                (WRITE_GUILD_ID,),
            )
            deleted = cursor.execute(
                "DELETE FROM track_plays WHERE guild_id = %s", (WRITE_GUILD_ID,)
            )
            cursor.execute("DELETE FROM listening_sessions WHERE guild_id = %s", (WRITE_GUILD_ID,))
    finally:
        connection.close()
    return int(deleted)
