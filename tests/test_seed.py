"""The benchmark's data generator, at a small size, on MariaDB: shape, consistency and loading."""

from __future__ import annotations

import io
import itertools
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bench.seed import SeedError, SeedOptions, main, seed_database
from service.rules import ListenRule
from service.settings import DatabaseConfig
from tests.conftest import create_mysql_database, drop_mysql_database, query_sql

OPTIONS = SeedOptions(plays=3_000, guilds=30, users=400, seed=11)
NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
PLAY_COLUMNS = (
    "id, session_id, guild_id, source, source_id, url, title, artist, started_at, ended_at, "
    "duration_ms, played_duration_ms, queued_by_user, is_valid"
)


@pytest.fixture(scope="module")
def seeded(backend: str) -> Iterator[tuple[DatabaseConfig, dict]]:
    if backend != "mysql":
        pytest.skip("the generator fills MySQL/MariaDB databases only")
    config = create_mysql_database("archive_seed")
    try:
        summary = seed_database(config, OPTIONS, method="load-data", now=NOW, log=io.StringIO())
        yield config, summary
    finally:
        drop_mysql_database(config)


@pytest.fixture
def empty_mysql(backend: str) -> Iterator[DatabaseConfig]:
    if backend != "mysql":
        pytest.skip("the generator fills MySQL/MariaDB databases only")
    config = create_mysql_database("archive_seed")
    try:
        yield config
    finally:
        drop_mysql_database(config)


def test_seed_counts(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, summary = seeded
    assert query_sql(config, "SELECT COUNT(*) FROM track_plays") == [(OPTIONS.plays,)]
    assert summary["track_plays"] == OPTIONS.plays
    assert summary["guilds_with_plays"] <= OPTIONS.guilds
    assert summary["users_with_plays"] <= OPTIONS.users


def test_seed_about_a_fifth_invalid(seeded: tuple[DatabaseConfig, dict]) -> None:
    _, summary = seeded
    assert 0.12 <= summary["invalid_fraction"] <= 0.28


def test_seed_about_three_listeners(seeded: tuple[DatabaseConfig, dict]) -> None:
    _, summary = seeded
    assert 2.4 <= summary["listeners_per_play"] <= 3.6


def test_seed_heaviest_guild_is_skewed(seeded: tuple[DatabaseConfig, dict]) -> None:
    _, summary = seeded
    assert summary["heaviest_guild"]["plays"] > OPTIONS.plays / 10
    assert summary["heaviest_guild"]["plays"] > 5 * summary["typical_guild"]["plays"]


def test_seed_heaviest_user_is_skewed(seeded: tuple[DatabaseConfig, dict]) -> None:
    _, summary = seeded
    assert summary["heaviest_user"]["plays"] > OPTIONS.plays / 20
    assert summary["heaviest_user"]["plays"] > summary["typical_user"]["plays"]


def test_seed_summary_ids_match_database(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, summary = seeded
    rows = query_sql(
        config,
        "SELECT guild_id, COUNT(*) FROM track_plays "
        "GROUP BY guild_id ORDER BY COUNT(*) DESC LIMIT 1",
    )
    assert rows == [(summary["heaviest_guild"]["id"], summary["heaviest_guild"]["plays"])]
    sampled = summary["track_play_ids"]
    found = query_sql(
        config,
        f"SELECT COUNT(*) FROM track_plays WHERE id IN ({', '.join(repr(i) for i in sampled)})",
    )
    assert found == [(len(sampled),)]


def test_seed_open_plays_are_few_and_unfinished(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, summary = seeded
    assert 1 <= summary["open_plays"] <= OPTIONS.plays // 100
    rows = query_sql(
        config,
        "SELECT COUNT(*) FROM track_plays p JOIN listening_sessions s ON s.id = p.session_id "
        "WHERE p.ended_at IS NULL AND (s.ended_at IS NOT NULL OR p.played_duration_ms <> 0 "
        "OR p.is_valid <> 1)",
    )
    assert rows == [(0,)]


def test_seed_times_in_past_year(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, _ = seeded
    ((first, last, last_end),) = query_sql(
        config, "SELECT MIN(started_at), MAX(started_at), MAX(ended_at) FROM track_plays"
    )
    now = NOW.replace(tzinfo=None)
    assert first >= now - timedelta(days=366)
    assert last <= now
    assert last_end <= now


def test_seed_sessions_do_not_overlap(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, _ = seeded
    rows = query_sql(
        config,
        "SELECT guild_id, started_at, ended_at FROM listening_sessions "
        "ORDER BY guild_id, started_at",
    )
    overlaps = [
        (earlier, later)
        for earlier, later in itertools.pairwise(rows)
        if earlier[0] == later[0] and (earlier[2] is None or earlier[2] > later[1])
    ]
    assert overlaps == []


def test_seed_plays_inside_their_session(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, _ = seeded
    rows = query_sql(
        config,
        "SELECT COUNT(*) FROM track_plays p JOIN listening_sessions s ON s.id = p.session_id "
        "WHERE p.guild_id <> s.guild_id OR p.started_at < s.started_at "
        "OR p.ended_at > s.ended_at OR p.ended_at < p.started_at",
    )
    assert rows == [(0,)]


def test_seed_validity_follows_listen_rule(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, _ = seeded
    rule = ListenRule()
    rows = query_sql(
        config,
        "SELECT duration_ms, played_duration_ms, is_valid FROM track_plays "
        "WHERE ended_at IS NOT NULL",
    )
    wrong = [row for row in rows if bool(row[2]) != rule.is_valid_listen(row[0], row[1])]
    assert wrong == []


def test_seed_listeners_copy_play_start(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, _ = seeded
    rows = query_sql(
        config,
        "SELECT COUNT(*) FROM track_play_listeners l JOIN track_plays p ON p.id = l.track_play_id "
        "WHERE l.started_at <> p.started_at",
    )
    assert rows == [(0,)]


def test_seed_queuer_is_a_listener(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, _ = seeded
    rows = query_sql(
        config,
        "SELECT COUNT(*) FROM track_plays p LEFT JOIN track_play_listeners l "
        "ON l.track_play_id = p.id AND l.user_id = p.queued_by_user WHERE l.user_id IS NULL",
    )
    assert rows == [(0,)]


def test_seed_text_variety(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, _ = seeded
    texts = [title for (title,) in query_sql(config, "SELECT title FROM track_plays")]
    texts += [artist for (artist,) in query_sql(config, "SELECT artist FROM track_plays")]
    assert any(any(ord(character) > 0xFFFF for character in text) for text in texts)
    assert any(any("\u3040" <= character <= "\u9fff" for character in text) for text in texts)
    assert any(any("\uac00" <= character <= "\ud7a3" for character in text) for text in texts)
    assert any("\\" in text for text in texts)
    assert max(len(text) for text in texts) > 200


def test_seed_artist_spelling_variants(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, _ = seeded
    artists = {
        artist for (artist,) in query_sql(config, "SELECT DISTINCT BINARY artist FROM track_plays")
    }
    decoded = {artist.decode() if isinstance(artist, bytes) else artist for artist in artists}
    folded: dict[str, set[str]] = defaultdict(set)
    for artist in decoded:
        folded[" ".join(artist.split()).casefold()].add(artist)
    assert any(len(spellings) > 1 for spellings in folded.values())


def test_seed_insert_method_gives_same_rows(
    seeded: tuple[DatabaseConfig, dict], empty_mysql: DatabaseConfig
) -> None:
    config, _ = seeded
    seed_database(empty_mysql, OPTIONS, method="insert", now=NOW, log=io.StringIO())
    for table, columns, key in (
        ("listening_sessions", "id, guild_id, started_at, ended_at", "id"),
        ("track_plays", PLAY_COLUMNS, "id"),
        ("track_play_listeners", "track_play_id, user_id, started_at", "track_play_id, user_id"),
    ):
        statement = f"SELECT {columns} FROM {table} ORDER BY {key}"
        assert query_sql(empty_mysql, statement) == query_sql(config, statement), table


def test_seed_rejects_filled_database(seeded: tuple[DatabaseConfig, dict]) -> None:
    config, _ = seeded
    with pytest.raises(SeedError, match="already contains"):
        seed_database(config, OPTIONS, now=NOW, log=io.StringIO())


def test_seed_rejects_zero_plays() -> None:
    with pytest.raises(SeedError, match="--plays must be a positive integer, got 0"):
        seed_database(DatabaseConfig(backend="mysql", database="unused"), SeedOptions(plays=0))


def test_seed_cli_rejects_sqlite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", "sqlite:///var/archive.sqlite3", "--plays", "10"]) == 2
    assert "fills a MySQL/MariaDB database" in capsys.readouterr().err
