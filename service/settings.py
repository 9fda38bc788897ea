"""Service configuration, read once from the environment and an optional `.env` file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = "var/archive.sqlite3"
DEFAULT_MYSQL_PORT = 3306


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message names the setting."""


class Settings(BaseSettings):
    """Every setting of the service; environment variables win over `.env`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    database_url: SecretStr | None = None
    mysql_host: str | None = None
    mysql_port: int = Field(DEFAULT_MYSQL_PORT, ge=1, le=65535)
    mysql_user: str | None = None
    mysql_password: SecretStr | None = None
    mysql_password_file: Path | None = None
    mysql_database: str | None = None

    api_key: SecretStr | None = None
    api_key_file: Path | None = None

    host: str = "0.0.0.0"
    port: int = Field(9000, ge=1, le=65535)
    workers: int = Field(1, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"

    # Validity thresholds of a track play.
    min_listen_ms: int = Field(30_000, ge=0)
    min_listen_fraction: float = Field(0.15, ge=0, le=1)

    # Recommended artists: how many recent valid plays seed them, how fast a play's weight decays.
    recommend_seed_count: int = Field(1000, ge=1)
    recommend_tau_hours: float = Field(48.0, gt=0)

    db_pool_min_size: int = Field(1, ge=0)
    # aiomysql hands a freed connection to the next acquire, not the longest waiter, so a pool
    # smaller than the concurrent requests stretches the latency tail (docs/benchmarks.md).
    db_pool_max_size: int = Field(20, ge=1)
    # Seconds; keep below the server's wait_timeout (MySQL's default is 28800).
    db_pool_recycle_seconds: int = Field(280, ge=1)
    # Seconds to wait for a new database connection before responding with 503.
    db_connect_timeout_seconds: float = Field(3.0, gt=0)
    # Seconds one MySQL statement may take before the request gets 503 and its connection is closed.
    db_query_timeout_seconds: float = Field(10.0, gt=0)

    cors_allow_origins: str = ""
    trusted_proxies: str = "127.0.0.1"
    metrics_public: bool = False

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def database(self) -> DatabaseConfig:
        """Resolve DATABASE_URL, the MYSQL_* settings or the embedded SQLite default."""
        if self.database_url is not None:
            return DatabaseConfig.from_url(self.database_url.get_secret_value())
        if self.mysql_host:
            return self._mysql_from_parts()
        return DatabaseConfig(backend="sqlite", path=DEFAULT_SQLITE_PATH)

    def _mysql_from_parts(self) -> DatabaseConfig:
        for name in ("mysql_user", "mysql_database"):
            if not getattr(self, name):
                raise ConfigurationError(f"{name.upper()} is required when MYSQL_HOST is set")

        password = ""
        if self.mysql_password_file is not None:
            password = read_secret_file(self.mysql_password_file, "MYSQL_PASSWORD_FILE")
        elif self.mysql_password is not None:
            password = self.mysql_password.get_secret_value()

        return DatabaseConfig(
            backend="mysql",
            host=self.mysql_host,
            port=self.mysql_port,
            user=self.mysql_user,
            password=password,
            database=self.mysql_database,
        )

    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_allow_origins.split(",") if origin.strip()]


@dataclass(frozen=True)
class DatabaseConfig:
    """Location of the archive's database: a MySQL/MariaDB server or an SQLite file."""

    backend: Literal["mysql", "sqlite"]
    host: str | None = None
    port: int = DEFAULT_MYSQL_PORT
    user: str | None = None
    password: str = ""
    database: str | None = None
    path: str | None = None

    @classmethod
    def from_url(cls, url: str) -> DatabaseConfig:
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]

        if scheme == "sqlite":
            # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy reads them.
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if not path:
                raise ConfigurationError(
                    "DATABASE_URL for SQLite needs a file path, as in sqlite:///var/archive.sqlite3"
                )
            return cls(backend="sqlite", path=path)

        if scheme in ("mysql", "mariadb"):
            database = parts.path.lstrip("/")
            if not parts.hostname or not database or not parts.username:
                raise ConfigurationError(
                    "DATABASE_URL for MySQL needs a user, a host and a database, "
                    "as in mysql://user:password@host:3306/database"
                )
            try:
                port = parts.port
            except ValueError:
                # urllib's message quotes the port text, which can be part of a password.
                raise ConfigurationError(
                    "DATABASE_URL has an invalid port: use a number from 1 to 65535"
                ) from None
            return cls(
                backend="mysql",
                host=parts.hostname,
                port=port or DEFAULT_MYSQL_PORT,
                user=unquote(parts.username),
                password=unquote(parts.password or ""),
                database=unquote(database),
            )

        raise ConfigurationError(
            f"DATABASE_URL has an unsupported scheme {parts.scheme!r}: use mysql:// or sqlite:///"
        )

    def _credentials(self) -> str:
        user = quote(self.user or "", safe="")
        if self.password:
            return f"{user}:{quote(self.password, safe='')}@"
        return f"{user}@"

    def async_url(self) -> str:
        """Return the URL for `databases`, password included."""
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.path}"
        return (
            f"mysql+aiomysql://{self._credentials()}{self.host}:{self.port}/"
            f"{quote(self.database or '', safe='')}"
        )

    def yoyo_url(self) -> str:
        """Return the URL for yoyo-migrations, password included."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        return (
            f"mysql://{self._credentials()}{self.host}:{self.port}/"
            f"{quote(self.database or '', safe='')}"
        )

    def describe(self) -> str:
        """Name the backend and where it is, without the password, for logs and errors."""
        if self.backend == "sqlite":
            return f"sqlite file {os.path.abspath(self.path or '')}"
        return f"mysql {self.user}@{self.host}:{self.port}/{self.database}"

    def __repr__(self) -> str:
        return f"DatabaseConfig({self.describe()})"


def read_secret_file(path: Path, setting: str) -> str:
    """Read a secret file's raw value; one trailing newline is not part of it."""
    try:
        value = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"{setting} points to {str(path)!r}, which cannot be read: {exc.strerror}"
        ) from exc
    return value.removesuffix("\n").removesuffix("\r")
