from __future__ import annotations

import subprocess
import sys

import pytest

from reelflow.errors import ConfigurationError
from reelflow.settings import load_settings, normalise_database_url


def test_heroku_urls_are_normalised():
    assert (
        normalise_database_url("postgres://u:p@host:5432/db?sslmode=require")
        == "postgresql+asyncpg://u:p@host:5432/db?ssl=require"
    )
    settings = load_settings(redis={"url": "rediss://:pw@redis.example.com:6380/0"})
    assert settings.redis.url == "rediss://:pw@redis.example.com:6380/0"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "not-a-number"),
        ("DATABASE_URL", "mysql://x/y"),
        ("REDIS_URL", "http://localhost"),
        ("REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS", "not-a-fernet-key"),
        ("REELFLOW_ENV", "staging"),
        ("REELFLOW_MONITORING__POLL_MAX_PAGES", "0"),
        ("REELFLOW_RUNTIME__HEARTBEAT_TIMEOUT", "soon"),
    ],
)
def test_invalid_settings_name_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    assert variable in str(error.value)


def test_cli_fails_at_start_naming_the_variable():
    result = subprocess.run(
        [sys.executable, "-m", "reelflow.cli", "db", "upgrade"],
        env={"PORT": "eighty", "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "PORT" in result.stderr


def test_groups_read_nested_variable_names(monkeypatch):
    monkeypatch.setenv("REELFLOW_MONITORING__POLL_MAX_PAGES", "7")
    monkeypatch.setenv("REELFLOW_RUNTIME__HEARTBEAT_TIMEOUT", "2.5")
    monkeypatch.setenv("REELFLOW_PLATFORMS__TIKTOK_BASE_URL", "https://open.tiktokapis.com/")
    monkeypatch.setenv("REELFLOW_MEDIA__X264_PRESET", "ultrafast")
    settings = load_settings()
    assert settings.monitoring.poll_max_pages == 7 and settings.runtime.heartbeat_timeout == 2.5
    assert settings.platform_url("tiktok_base_url") == "https://open.tiktokapis.com"
    assert settings.media.x264_preset == "ultrafast"
    # the flat names of before are not read any more
    monkeypatch.setenv("REELFLOW_MONITORING_POLL_MAX_PAGES", "9")
    assert load_settings().monitoring.poll_max_pages == 7


def test_heroku_names_still_work_below_the_reelflow_names(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example.com/app?sslmode=require")
    monkeypatch.setenv("REDIS_URL", "rediss://:pw@redis.example.com:6380/0")
    monkeypatch.setenv("PORT", "5123")
    settings = load_settings()
    assert settings.db.url == "postgresql+asyncpg://u:p@db.example.com/app?ssl=require"
    assert settings.redis.url == "rediss://:pw@redis.example.com:6380/0" and settings.web.port == 5123
    monkeypatch.setenv("REELFLOW_WEB__PORT", "6000")
    assert load_settings().web.port == 6000
