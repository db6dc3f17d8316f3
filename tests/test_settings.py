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
    settings = load_settings(redis_url="rediss://:pw@redis.example.com:6380/0")
    assert settings.redis_url == "rediss://:pw@redis.example.com:6380/0"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "not-a-number"),
        ("DATABASE_URL", "mysql://x/y"),
        ("REDIS_URL", "http://localhost"),
        ("REELFLOW_TOKEN_ENCRYPTION_KEYS", "not-a-fernet-key"),
        ("REELFLOW_ENV", "staging"),
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
