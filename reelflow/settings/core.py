"""The `Settings` object: the groups put together, the sources (`REELFLOW_*`, `.env`, the
platform names DATABASE_URL/REDIS_URL/PORT) and how a process reads them once."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from reelflow.errors import ConfigurationError
from reelflow.settings.areas import (
    AdsSettings,
    AutopilotSettings,
    ClippersSettings,
    ClippingSettings,
    DiscoverySettings,
    IdentitySettings,
    LeadsSettings,
    MonitoringSettings,
    PublishingSettings,
)
from reelflow.settings.infra import (
    BlobSettings,
    DatabaseSettings,
    LogSettings,
    MailSettings,
    OperationsSettings,
    ProxySettings,
    ReadinessSettings,
    RedisSettings,
    RuntimeSettings,
    SecretSettings,
    WebSettings,
)
from reelflow.settings.media import MediaSettings, TranscriptionSettings
from reelflow.settings.platforms import (
    OPTIONAL_PLATFORM_URLS,
    PLATFORM_URL_FIELDS,
    SANDBOX_CREDENTIALS,
    HttpSettings,
    PlatformSettings,
    QuotaSettings,
    SandboxSettings,
)

Environment = Literal["dev", "test", "production"]


# The platform conventions (Heroku add-ons, the router's PORT) → where they go.
PLATFORM_ENV: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("db", "url"),
    "REDIS_URL": ("redis", "url"),
    "PORT": ("web", "port"),
}


class _PlatformEnvSource(PydanticBaseSettingsSource):
    """DATABASE_URL, REDIS_URL and PORT from the environment (lowest precedence but defaults)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, (group, field) in PLATFORM_ENV.items():
            value = os.environ.get(name)
            if value:
                values.setdefault(group, {})[field] = value
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REELFLOW_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    env: Environment = "dev"
    data_dir: Path = Path(".reelflow")  # embedded databases, generated dev secrets, blobs

    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    secrets: SecretSettings = Field(default_factory=SecretSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    platforms: PlatformSettings = Field(default_factory=PlatformSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    clipping: ClippingSettings = Field(default_factory=ClippingSettings)
    blob: BlobSettings = Field(default_factory=BlobSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    readiness: ReadinessSettings = Field(default_factory=ReadinessSettings)
    autopilot: AutopilotSettings = Field(default_factory=AutopilotSettings)
    publishing: PublishingSettings = Field(default_factory=PublishingSettings)
    clippers: ClippersSettings = Field(default_factory=ClippersSettings)

    ads: AdsSettings = Field(default_factory=AdsSettings)
    leads: LeadsSettings = Field(default_factory=LeadsSettings)
    ops: OperationsSettings = Field(default_factory=OperationsSettings)
    transcription: TranscriptionSettings = Field(default_factory=TranscriptionSettings)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    # s3://bucket/prefix (S3-compatible store, settings in `blob`) or file:///path (one
    # process, or processes sharing that disk). Unset: embedded SeaweedFS in dev/test (started
    # by `reelflow dev`, the demo and the tests), else the local folder. Env REELFLOW_BLOB_URL.
    blob_url: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, dotenv_settings, _PlatformEnvSource(settings_cls), file_secret_settings

    @model_validator(mode="after")
    def _platform_urls_required_in_production(self) -> Settings:
        if self.is_production:
            missing = [
                f for f in PLATFORM_URL_FIELDS if f not in OPTIONAL_PLATFORM_URLS and not getattr(self.platforms, f)
            ]
            if missing:
                names = ", ".join(env_name(("platforms", f)) for f in missing)
                raise ValueError(f"must be set in production (no sandbox fallback): {names}")
        return self

    def sandbox_base_url(self) -> str:
        return (self.sandbox.url or f"http://127.0.0.1:{self.sandbox.port}").rstrip("/")

    def platform_url(self, field: str) -> str:
        """The configured base URL for a platform field, or the sandbox's path for it."""
        value = getattr(self.platforms, field)
        if value:
            return str(value)
        if self.is_production:
            raise ConfigurationError(f"{env_name(('platforms', field))} must be set in production")
        return self.sandbox_base_url() + PLATFORM_URL_FIELDS[field]

    def credential(self, field: str) -> str:
        """A platform credential; the sandbox's key in dev/test when unset."""
        value = getattr(self.platforms, field)
        if not value and field.startswith("tiktok_research_client_"):
            value = getattr(self.platforms, field.replace("tiktok_research_", "tiktok_"))
        if value:
            return str(value)
        if self.is_production:
            raise ConfigurationError(f"{env_name(('platforms', field))} must be set in production")
        return SANDBOX_CREDENTIALS[field]

    @field_validator("blob_url")
    @classmethod
    def _check_blob_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme == "s3" and parts.netloc:
            return value
        if parts.scheme == "file" and parts.path:
            return value
        raise ValueError("must be s3://bucket/prefix or file:///absolute/path")

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a bad value raises ConfigurationError naming the variable.
    Overrides are keyword arguments of Settings (groups as dicts: `db={"url": ...}`)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            loc = tuple(str(part) for part in error["loc"] if not str(part).startswith("function-"))
            messages.append(f"{env_name(loc) if loc else '?'}: {error['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(messages)) from None


def env_name(loc: tuple[str, ...]) -> str:
    """The variable for a field's location: ("monitoring", "poll_max_pages") →
    REELFLOW_MONITORING__POLL_MAX_PAGES; the platform names for DATABASE_URL and friends."""
    for name, target in PLATFORM_ENV.items():
        if loc == target:
            return f"{name} (or REELFLOW_{target[0].upper()}__{target[1].upper()})"
    return "REELFLOW_" + "__".join(part.upper() for part in loc)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()


def env_for_children(settings: Settings) -> dict[str, str]:
    """Environment for child processes so they reuse this process's resolved services."""
    env = dict(os.environ)
    if settings.db.url:
        env["DATABASE_URL"] = settings.db.url
    if settings.redis.url:
        env["REDIS_URL"] = settings.redis.url
    env["REELFLOW_DATA_DIR"] = str(settings.resolved_data_dir)
    if settings.blob_url:
        env["REELFLOW_BLOB_URL"] = settings.blob_url
    return env
