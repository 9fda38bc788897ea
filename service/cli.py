"""The command line, `python -m service` or `mocbot-archive`: serve, migrate, check, hash-key."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from service import __version__
from service.keys import ApiKeys, generate_key, hash_key
from service.logs import configure_logging
from service.migrate import apply_migrations, driver_message, pending_migrations
from service.migration_plan import print_migration_plan
from service.settings import ConfigurationError, Settings

logger = logging.getLogger("service")

LOCAL_KEY_FILE = Path(".local-secrets/api-key")
# Seconds uvicorn lets in-flight requests finish after SIGTERM before closing them.
GRACEFUL_SHUTDOWN_SECONDS = 30


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise ConfigurationError(f"invalid setting: {problems}") from None


def build_app():  # type: ignore[no-untyped-def]
    """Build the app from the environment; uvicorn calls this in each worker."""
    from service.app import create_app

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def use_local_key(settings: Settings) -> None:
    """Point API_KEY_FILE at .local-secrets/api-key when no key is configured, creating it once."""
    if settings.api_key is not None or settings.api_key_file is not None:
        return
    if not LOCAL_KEY_FILE.exists():
        LOCAL_KEY_FILE.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = generate_key()
        LOCAL_KEY_FILE.write_text(key + "\n", encoding="utf-8")
        LOCAL_KEY_FILE.chmod(0o600)
        print(f"Created a local API key in {LOCAL_KEY_FILE}: {key}", file=sys.stderr)
    print(
        f"Using the API key in {LOCAL_KEY_FILE}; send it as a header, for example:\n"
        f'  curl -H "X-API-Key: $(cat {LOCAL_KEY_FILE})" '
        f"'http://127.0.0.1:{settings.port}/api/v1/sessions?guildIds=1'",
        file=sys.stderr,
    )
    os.environ["API_KEY_FILE"] = str(LOCAL_KEY_FILE)
    settings.api_key_file = LOCAL_KEY_FILE


def check_serving(settings: Settings, workers: int) -> None:
    """Raise ConfigurationError when `serve` could not run with these settings."""
    if settings.database().backend == "sqlite" and workers > 1:
        raise ConfigurationError(
            "the embedded SQLite database serves one process: set WORKERS=1, or use MySQL for more"
        )
    ApiKeys.from_settings(settings)


def prepare_metrics_dir(workers: int) -> Path | None:
    """Empty PROMETHEUS_MULTIPROC_DIR, or create one for several workers; return one we created.

    Each worker then writes its metrics to files there, and a scrape of any worker reports the
    sum over all of them. Files left by an earlier run would add old counts, so they go first.
    """
    from service.metrics import MULTIPROCESS_DIR_VARIABLE

    configured = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    if workers == 1:
        return None
    created = Path(tempfile.mkdtemp(prefix="mocbot-archive-metrics-"))
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(created)
    logger.info("the %d workers keep their metrics in %s", workers, created)
    return created


def command_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    if args.local_key:
        use_local_key(settings)
    config = settings.database()
    workers = args.workers or settings.workers
    check_serving(settings, workers)

    logger.info("starting mocbot-archive %s on %s", __version__, config.describe())
    print_migration_plan(config, logger.info)
    applied = apply_migrations(config)
    if applied:
        logger.info("applied %d migrations", len(applied))
    else:
        logger.info("schema is current")

    created_metrics_dir = prepare_metrics_dir(workers)
    try:
        uvicorn.run(
            "service.cli:build_app",
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=workers,
            log_config=None,
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    finally:
        if created_metrics_dir is not None:
            shutil.rmtree(created_metrics_dir, ignore_errors=True)
    return 0


def command_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    config = settings.database()

    print_migration_plan(config)
    if args.dry_run:
        print("dry run: nothing was changed")
        return 0

    applied = apply_migrations(config)
    print(f"applied {len(applied)} migrations on {config.describe()}")
    return 0


def command_check(args: argparse.Namespace) -> int:
    settings = load_settings()
    config = settings.database()
    check_serving(settings, settings.workers)
    print(f"settings: valid; database: {config.describe()}")

    try:
        pending = pending_migrations(config)
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            f"cannot read the applied migrations of {config.describe()}: {driver_message(exc)}"
        ) from exc
    print("database: reachable")
    if pending:
        print(f"migrations: {len(pending)} pending ({', '.join(pending)}); run 'migrate'")
        return 1
    print("migrations: current")
    return 0


def command_hash_key(args: argparse.Namespace) -> int:
    key = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not key:
        raise ConfigurationError(
            "hash-key reads the key from standard input, but got an empty line"
        )
    print(hash_key(key))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mocbot-archive",
        description="Listening archive for the MOCBOT Discord bot. Settings come from the "
        "environment and from a .env file in the working directory.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="apply pending migrations, then serve the API",
        description="Apply pending migrations, then serve the API until SIGTERM, letting requests "
        f"in flight finish for up to {GRACEFUL_SHUTDOWN_SECONDS} seconds. With more than one "
        "worker, metrics are kept in PROMETHEUS_MULTIPROC_DIR (created under TMPDIR when unset).",
    )
    serve.add_argument("--host", help="address to listen on (default: HOST, or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="TCP port to listen on (default: PORT, or 9000)")
    serve.add_argument(
        "--workers",
        type=int,
        help="number of worker processes (default: WORKERS, or 1); more than 1 needs MySQL",
    )
    serve.add_argument(
        "--local-key",
        action="store_true",
        help=f"when no API key is configured, use {LOCAL_KEY_FILE}, creating it with a random key",
    )
    serve.set_defaults(handler=command_serve)

    migrate = commands.add_parser(
        "migrate",
        help="apply pending schema migrations and exit",
        description="Apply pending schema migrations and exit. Processes that migrate at the "
        "same time wait for each other.",
    )
    migrate.add_argument(
        "--dry-run",
        action="store_true",
        help="print the row counts, adoption steps and pending migrations, and change nothing",
    )
    migrate.set_defaults(handler=command_migrate)

    check = commands.add_parser(
        "check",
        help="validate settings, reach the database and report pending migrations",
        description="Validate the settings, connect to the database and report pending "
        "migrations. Exit status: 0 when all is well, 1 when migrations are pending, 2 with one "
        "error line on any other problem.",
    )
    check.set_defaults(handler=command_check)

    hash_command = commands.add_parser(
        "hash-key",
        help="read an API key from standard input and print its SHA-512 digest",
        description="Read an API key from the first line of standard input and print its "
        "SHA-512 hex digest, which API_KEY_FILE accepts in place of the key.",
    )
    hash_command.set_defaults(handler=command_hash_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
