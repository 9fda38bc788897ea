"""Settings from the environment and `.env`: database location, secret files, hidden secrets."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.errors import DatabaseUnavailable
from service.migrate import apply_migrations
from service.settings import (
    DEFAULT_SQLITE_PATH,
    ConfigurationError,
    DatabaseConfig,
    Settings,
    read_secret_file,
)
from tests.conftest import MYSQL_SERVER, make_settings

PASSWORD = "pa:ss@w/rd%20secret"


@pytest.fixture
def env(monkeypatch, tmp_path):
    """An environment with no setting of the service, in a folder without a `.env` file."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


# The database location


def test_database_default_is_sqlite(env):
    config = Settings().database()

    assert config.backend == "sqlite"
    assert config.path == DEFAULT_SQLITE_PATH


def test_mysql_settings(env):
    env.setenv("MYSQL_HOST", "db.internal")
    env.setenv("MYSQL_USER", "mocbot")
    env.setenv("MYSQL_PASSWORD", PASSWORD)
    env.setenv("MYSQL_DATABASE", "mocbot-archive")

    config = Settings().database()

    assert config == DatabaseConfig(
        backend="mysql",
        host="db.internal",
        port=3306,
        user="mocbot",
        password=PASSWORD,
        database="mocbot-archive",
    )


def test_mysql_port_setting(env):
    env.setenv("MYSQL_HOST", "db")
    env.setenv("MYSQL_PORT", "3307")
    env.setenv("MYSQL_USER", "mocbot")
    env.setenv("MYSQL_DATABASE", "archive")

    assert Settings().database().port == 3307


@pytest.mark.parametrize("missing", ["MYSQL_USER", "MYSQL_DATABASE"])
def test_mysql_missing_setting_is_named(env, missing):
    env.setenv("MYSQL_HOST", "db")
    env.setenv("MYSQL_USER", "mocbot")
    env.setenv("MYSQL_DATABASE", "archive")
    env.delenv(missing)

    with pytest.raises(ConfigurationError, match=missing):
        Settings().database()


@pytest.mark.parametrize("missing", ["MYSQL_USER", "MYSQL_DATABASE"])
def test_mysql_empty_setting_is_named(env, missing):
    env.setenv("MYSQL_HOST", "db")
    env.setenv("MYSQL_USER", "mocbot")
    env.setenv("MYSQL_DATABASE", "archive")
    env.setenv(missing, "")

    with pytest.raises(ConfigurationError, match=missing):
        Settings().database()


def test_mysql_password_file(env, tmp_path):
    secret = tmp_path / "db-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    env.setenv("MYSQL_HOST", "db")
    env.setenv("MYSQL_USER", "mocbot")
    env.setenv("MYSQL_DATABASE", "archive")
    env.setenv("MYSQL_PASSWORD_FILE", str(secret))

    assert Settings().database().password == PASSWORD


def test_mysql_password_file_unreadable_is_named(env, tmp_path):
    env.setenv("MYSQL_HOST", "db")
    env.setenv("MYSQL_USER", "mocbot")
    env.setenv("MYSQL_DATABASE", "archive")
    env.setenv("MYSQL_PASSWORD_FILE", str(tmp_path / "missing"))

    with pytest.raises(ConfigurationError, match="MYSQL_PASSWORD_FILE"):
        Settings().database()


def test_database_url_mysql(env):
    env.setenv(
        "DATABASE_URL", "mysql://mocbot:pa%3Ass%40w%2Frd%2520secret@db.internal:3307/archive"
    )

    config = Settings().database()

    assert config == DatabaseConfig(
        backend="mysql",
        host="db.internal",
        port=3307,
        user="mocbot",
        password=PASSWORD,
        database="archive",
    )


@pytest.mark.parametrize(
    "url",
    ["mysql://u@db/archive", "mariadb://u@db/archive", "mysql+aiomysql://u@db/archive"],
    ids=["plain", "mariadb-scheme", "driver-scheme"],
)
def test_database_url_mysql_schemes(env, url):
    env.setenv("DATABASE_URL", url)

    config = Settings().database()

    assert config.backend == "mysql"
    assert config.port == 3306
    assert config.database == "archive"
    assert config.password == ""


@pytest.mark.parametrize(
    ("url", "path"),
    [("sqlite:///var/a.sqlite3", "var/a.sqlite3"), ("sqlite:////tmp/a.sqlite3", "/tmp/a.sqlite3")],
    ids=["relative", "absolute"],
)
def test_database_url_sqlite(env, url, path):
    env.setenv("DATABASE_URL", url)

    config = Settings().database()

    assert config.backend == "sqlite"
    assert config.path == path


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u@db/",
        "mysql://db/archive",
        "mysql:///archive",
        "postgres://u@db/archive",
        "sqlite://",
        "mysql://u:secret@db:notaport/archive",
        "mysql://u:secret@db:99999/archive",
        "not a url",
    ],
    ids=[
        "no-database",
        "no-user",
        "no-host",
        "other-scheme",
        "no-path",
        "port-not-number",
        "port-out-of-range",
        "not-url",
    ],
)
def test_database_url_invalid_is_named(env, url):
    env.setenv("DATABASE_URL", url)

    with pytest.raises(ConfigurationError, match="DATABASE_URL") as caught:
        Settings().database()

    assert "secret" not in str(caught.value)


def test_database_url_wins_over_mysql_settings(env):
    env.setenv("DATABASE_URL", "mysql://u@from-url/archive")
    env.setenv("MYSQL_HOST", "from-parts")

    assert Settings().database().host == "from-url"


def test_dotenv_file_read(env, tmp_path):
    (tmp_path / ".env").write_text("MYSQL_HOST=db\nMYSQL_USER=u\nMYSQL_DATABASE=archive\n")

    assert Settings().database().host == "db"


def test_environment_wins_over_dotenv(env, tmp_path):
    (tmp_path / ".env").write_text("MYSQL_HOST=db\nMYSQL_USER=u\nMYSQL_DATABASE=from-file\n")
    env.setenv("MYSQL_DATABASE", "from-env")

    assert Settings().database().database == "from-env"


def test_settings_defaults(env):
    settings = Settings()

    assert settings.host == "0.0.0.0"
    assert settings.port == 9000
    assert settings.min_listen_ms == 30_000
    assert settings.min_listen_fraction == 0.15
    assert settings.recommend_seed_count == 1000
    assert settings.recommend_tau_hours == 48.0


def test_log_level_case_insensitive(env):
    env.setenv("LOG_LEVEL", "debug")

    assert Settings().log_level == "DEBUG"


# Secret files


def test_secret_file_trailing_newline_ignored(tmp_path):
    path = tmp_path / "secret"
    path.write_text("value\n", encoding="utf-8")

    assert read_secret_file(path, "SETTING") == "value"


def test_secret_file_crlf_ignored(tmp_path):
    path = tmp_path / "secret"
    path.write_bytes(b"value\r\n")

    assert read_secret_file(path, "SETTING") == "value"


def test_secret_file_raw_value(tmp_path):
    path = tmp_path / "secret"
    path.write_text(" spaced value", encoding="utf-8")

    assert read_secret_file(path, "SETTING") == " spaced value"


def test_secret_file_missing_names_setting(tmp_path):
    with pytest.raises(ConfigurationError, match="SETTING"):
        read_secret_file(tmp_path / "missing", "SETTING")


# Secrets stay out of repr, errors and logs


def test_settings_repr_hides_secrets(env):
    env.setenv("DATABASE_URL", f"mysql://u:{PASSWORD.replace('%', '%25')}@db/archive")
    env.setenv("API_KEY", "api-key-secret-value")
    env.setenv("MYSQL_PASSWORD", "mysql-password-value")

    settings = Settings()

    assert "secret" not in repr(settings)
    assert "api-key-secret-value" not in repr(settings)
    assert "mysql-password-value" not in repr(settings)
    assert "secret" not in str(settings)


def test_database_config_repr_hides_password():
    config = DatabaseConfig(backend="mysql", host="db", user="u", password=PASSWORD, database="a")

    assert PASSWORD not in repr(config)
    assert "secret" not in config.describe()


def test_database_config_urls_quote_password():
    config = DatabaseConfig(backend="mysql", host="db", user="u", password=PASSWORD, database="a")

    assert DatabaseConfig.from_url(config.yoyo_url()) == config
    assert DatabaseConfig.from_url(config.async_url()) == config


needs_mysql = pytest.mark.skipif(MYSQL_SERVER is None, reason="MySQL is not reachable")


def wrong_password_config() -> DatabaseConfig:
    assert MYSQL_SERVER is not None
    return DatabaseConfig(
        backend="mysql",
        host=MYSQL_SERVER.host,
        port=MYSQL_SERVER.port,
        user=MYSQL_SERVER.user,
        password="wrong-" + PASSWORD,
        database="mocbot_archive_unused",
    )


@needs_mysql
def test_migrate_failure_hides_password(caplog):
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as caught:
        apply_migrations(wrong_password_config())

    assert "secret" not in str(caught.value)
    assert "secret" not in caplog.text


@needs_mysql
def test_connect_failure_hides_password(caplog):
    app = create_app(make_settings(wrong_password_config()))

    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(DatabaseUnavailable) as caught,
        TestClient(app),
    ):
        pass

    assert "cannot reach the database" in str(caught.value)
    assert "secret" not in str(caught.value)
    assert "secret" not in caplog.text
