"""Recommended artists of a guild or a user, from their newest valid plays."""

from __future__ import annotations

from service.db import Database
from service.rules import recommend_artists
from service.timestamps import utc_now


async def get_recommended_artists_by_guild(
    db: Database, guild_id: int, seed_count: int, tau_hours: float
) -> list[dict[str, object]]:
    rows = await db.fetch_all(
        "get_recommendation_seeds_by_guild", guild_id=guild_id, limit=seed_count
    )
    seeds = [(row["artist"], row["started_at"]) for row in rows]
    return recommend_artists(seeds, utc_now(), tau_hours)


async def get_recommended_artists_by_user(
    db: Database, user_id: int, seed_count: int, tau_hours: float
) -> list[dict[str, object]]:
    rows = await db.fetch_all("get_recommendation_seeds_by_user", user_id=user_id, limit=seed_count)
    seeds = [(row["artist"], row["started_at"]) for row in rows]
    return recommend_artists(seeds, utc_now(), tau_hours)
