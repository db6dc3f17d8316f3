"""One Settings object, read from the environment (and `.env`).

Variables use the prefix `REELFLOW_`, except the platform conventions `DATABASE_URL`,
`REDIS_URL` and `PORT`. Invalid values fail at start with a message that names the
variable (see `load_settings`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelflow.errors import ConfigurationError

Environment = Literal["dev", "test", "production"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REELFLOW_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    # --- process and services -------------------------------------------------------
    env: Environment = "dev"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "REELFLOW_DATABASE_URL")
    )
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "REELFLOW_REDIS_URL"))
    port: int = Field(default=8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "REELFLOW_PORT"))
    host: str = "127.0.0.1"
    data_dir: Path = Path(".reelflow")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    db_pool_size: int = Field(default=10, ge=1, le=200)

    # --- secrets ----------------------------------------------------------------------
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). In dev and
    # test a key is generated once into the data folder when none is set.
    token_encryption_keys: str | None = None
    # HMAC secrets for inbound webhooks (lead forms, TikTok events); upload URL signing.
    lead_webhook_secret: str | None = None
    tiktok_webhook_secret: str | None = None
    signing_secret: str | None = None

    # --- web ----------------------------------------------------------------------------
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    signup_rate_limit_per_minute: int = Field(default=10, ge=1)
    token_rate_limit_per_minute: int = Field(default=30, ge=1)
    api_token_default_ttl_days: int | None = Field(default=None, ge=1)
    page_size_default: int = Field(default=50, ge=1, le=500)
    page_size_max: int = Field(default=200, ge=1, le=1000)
    public_base_url: str | None = None

    # --- platform adapters (base URLs and credentials) ----------------------------------
    # Dev, demo and tests point every platform at the local sandbox. In production each
    # base URL must be set explicitly: there is no silent sandbox in production.
    sandbox_port: int = Field(default=8765, ge=1, le=65535)
    sandbox_url: str | None = None
    # <adapters settings: the adapters issue adds platform URLs and keys here>

    # --- job runtime -------------------------------------------------------------------
    # <runtime settings: the runtime issue adds its settings here>

    # --- monitoring -------------------------------------------------------------------
    # <monitoring settings>

    # --- clipping -----------------------------------------------------------------------
    # <clipping settings>

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        return normalise_database_url(value)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        scheme = urlsplit(value).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("token_encryption_keys")
    @classmethod
    def _check_fernet_keys(cls, value: str | None) -> str | None:
        if not value:
            return None
        from cryptography.fernet import Fernet

        for key in value.split(","):
            try:
                Fernet(key.strip().encode())
            except ValueError as exc:
                raise ValueError("each key must be a url-safe base64 Fernet key (32 bytes)") from exc
        return value

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def normalise_database_url(url: str) -> str:
    """Turn Heroku-style `postgres://...?sslmode=require` into an asyncpg SQLAlchemy URL."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        scheme = "postgresql+asyncpg"
    else:
        raise ValueError("must be a postgres:// or postgresql:// URL")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    sslmode = query.pop("sslmode", None)
    if sslmode and "ssl" not in query:
        query["ssl"] = sslmode
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def load_settings(**overrides: object) -> Settings:
    """Read settings; a bad value raises ConfigurationError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            messages.append(f"{_env_name(field)}: {error['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(messages)) from None


def _env_name(field: str) -> str:
    aliases = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL", "port": "PORT"}
    if field in aliases:
        return aliases[field]
    if field.isupper():
        return field
    return "REELFLOW_" + field.upper()


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()


def env_for_children(settings: Settings) -> dict[str, str]:
    """Environment for child processes so they reuse this process's resolved services."""
    env = dict(os.environ)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    env["REELFLOW_DATA_DIR"] = str(settings.resolved_data_dir)
    return env
