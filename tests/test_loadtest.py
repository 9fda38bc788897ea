"""The load test's database audit: it must report a lost write and a half-written play."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from bench.loadtest import Fleet, MySQLServer, audit_database, run_fleet
from service.app import create_app
from service.settings import DatabaseConfig
from tests.conftest import MYSQL_SERVER, TEST_API_KEY, make_settings, run_sql
from tests.live_server import LiveServer

pytestmark = pytest.mark.skipif(MYSQL_SERVER is None, reason="MySQL is not reachable")


@pytest.fixture
def small_fleet(db_config: DatabaseConfig) -> Fleet:
    """A one-second run of three guilds against an in-process server on the test database."""
    arguments = argparse.Namespace(guilds=3, duration=1.0, seed=7)
    with LiveServer(create_app(make_settings(db_config))) as server:
        return asyncio.run(run_fleet(server.url, TEST_API_KEY, arguments))


def audit(db_config: DatabaseConfig, fleet: Fleet) -> tuple[list[str], list[str]]:
    server = MySQLServer(
        host=db_config.host or "127.0.0.1",
        port=db_config.port,
        user=db_config.user or "root",
        password=db_config.password,
    )
    result = audit_database(fleet, server, db_config.database or "")
    return result.lost, result.half_written


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_audit_of_clean_run_finds_nothing(db_config: DatabaseConfig, small_fleet: Fleet) -> None:
    lost, half_written = audit(db_config, small_fleet)

    assert small_fleet.plays
    assert lost == []
    assert half_written == []


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_audit_reports_deleted_play(db_config: DatabaseConfig, small_fleet: Fleet) -> None:
    play = next(play for play in small_fleet.plays.values() if play.track_play_id)
    run_sql(db_config, [f"DELETE FROM track_plays WHERE id = '{play.track_play_id}'"])

    lost, half_written = audit(db_config, small_fleet)

    assert len(lost) == 1
    assert play.track_play_id in lost[0]
    assert half_written == []


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_audit_reports_missing_listener(db_config: DatabaseConfig, small_fleet: Fleet) -> None:
    play = next(play for play in small_fleet.plays.values() if play.track_play_id)
    run_sql(
        db_config,
        [
            f"DELETE FROM track_play_listeners WHERE track_play_id = '{play.track_play_id}' "
            f"AND user_id = {play.listener_ids[0]}"
        ],
    )

    lost, half_written = audit(db_config, small_fleet)

    assert lost == []
    assert len(half_written) == 1
    assert play.track_play_id in half_written[0]
