"""Settings groups of the outside platforms: base URLs and credentials (with the sandbox's
stand-ins), the HTTP layer, client-side quotas and the sandbox itself."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

# Platform base-URL settings → the sandbox path prefix used when unset (dev, test).
PLATFORM_URL_FIELDS: dict[str, str] = {
    "tiktok_base_url": "/tiktok",
    "tiktok_auth_url": "/tiktok-www/v2/auth/authorize/",
    "tiktok_web_base_url": "/tiktok-www",
    "tiktok_business_base_url": "/tiktok-business",
    "tiktok_business_auth_url": "/tiktok-business/portal/auth",
    "tiktok_events_base_url": "/tiktok-business",
    "youtube_base_url": "/youtube",
    "google_oauth_base_url": "/google-oauth",
    "google_auth_url": "/google-accounts/o/oauth2/v2/auth",
    "scrapecreators_base_url": "/scrapecreators",
    "apify_base_url": "/apify",
    "telegram_base_url": "/telegram",
}


# Platforms a deployment may leave unconfigured (their feature is off): checked when used
# (`platform_url` raises in production), not at start.
OPTIONAL_PLATFORM_URLS = frozenset({"telegram_base_url"})


# What the sandbox accepts (and the adapters send) when no real credential is set.
SANDBOX_CREDENTIALS: dict[str, str] = {
    "tiktok_client_key": "sbx_tiktok_client_key",
    "tiktok_client_secret": "sbx_tiktok_client_secret",
    "tiktok_research_client_key": "sbx_tiktok_client_key",
    "tiktok_research_client_secret": "sbx_tiktok_client_secret",
    "google_client_id": "sbx-google-client.apps.googleusercontent.com",
    "google_client_secret": "sbx_google_client_secret",
    "scrapecreators_api_key": "sbx_scrapecreators_key",
    "apify_token": "sbx_apify_token",
    "youtube_api_key": "sbx_youtube_api_key",
    "tiktok_business_app_id": "7000000000000000001",
    "tiktok_business_secret": "sbx_tiktok_business_secret",
    "tiktok_events_access_token": "sbx_tiktok_events_token",
    "tiktok_pixel_code": "CSBX0PIXEL0000000001",
    "telegram_bot_token": "123456:sbx_telegram_bot_token",
}


class PlatformSettings(BaseModel):
    """Platform base URLs and credentials. Dev, demo and tests point every platform at the
    sandbox; in production each base URL must be set explicitly (no silent sandbox)."""

    # Base URLs. Unset → the sandbox (`{sandbox_url}/<prefix>`) in dev and test; in
    # production each one must be set (the real hosts are in .env.example).
    tiktok_base_url: str | None = Field(default=None, validate_default=True)  # https://open.tiktokapis.com
    tiktok_auth_url: str | None = Field(
        default=None, validate_default=True
    )  # https://www.tiktok.com/v2/auth/authorize/
    tiktok_web_base_url: str | None = Field(default=None, validate_default=True)  # https://www.tiktok.com
    tiktok_business_base_url: str | None = Field(default=None, validate_default=True)  # https://business-api.tiktok.com
    tiktok_business_auth_url: str | None = Field(default=None, validate_default=True)  # …/portal/auth
    tiktok_events_base_url: str | None = Field(default=None, validate_default=True)  # https://business-api.tiktok.com
    youtube_base_url: str | None = Field(default=None, validate_default=True)  # https://www.googleapis.com
    google_oauth_base_url: str | None = Field(default=None, validate_default=True)  # https://oauth2.googleapis.com
    google_auth_url: str | None = Field(default=None, validate_default=True)  # accounts.google.com/o/oauth2/v2/auth
    scrapecreators_base_url: str | None = Field(default=None, validate_default=True)  # https://api.scrapecreators.com
    apify_base_url: str | None = Field(default=None, validate_default=True)  # https://api.apify.com
    # Credentials. Unset in dev/test → the sandbox's own keys; in production `credential()`
    # raises ConfigurationError naming the variable when an adapter needs a missing one.
    tiktok_client_key: str | None = None
    tiktok_client_secret: str | None = None
    tiktok_research_client_key: str | None = None  # defaults to tiktok_client_key
    tiktok_research_client_secret: str | None = None
    google_client_id: str | None = None
    google_client_secret: str | None = None
    scrapecreators_api_key: str | None = None
    apify_token: str | None = None
    # YouTube Data API key (public reads: videos.list statistics of clippers' Shorts).
    youtube_api_key: str | None = None
    tiktok_business_app_id: str | None = None
    tiktok_business_secret: str | None = None
    tiktok_events_access_token: str | None = None
    tiktok_pixel_code: str | None = None
    # Telegram Bot API (autopilot reports): base URL (the sandbox when unset) and bot token.
    telegram_base_url: str | None = None
    telegram_bot_token: str | None = None
    apify_timeout_seconds: float = Field(default=300.0, gt=0)  # run-sync waits up to 300 s

    @field_validator(*PLATFORM_URL_FIELDS)
    @classmethod
    def _platform_url(cls, value: str | None, info: Any) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if (info.field_name or "").endswith("_base_url") else value


class HttpSettings(BaseModel):
    """The HTTP layer (reelflow/adapters/httpclient.py)."""

    timeout_seconds: float = Field(default=30.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=100, ge=1)
    user_agent: str = "reelflow/0.1 (+https://github.com/reelflow)"
    max_attempts: int = Field(default=4, ge=1, le=20)
    backoff_initial_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=20.0, ge=0)
    # A longer Retry-After is not slept inline: Retryable(retry_after) goes to the job runtime.
    max_retry_after_seconds: float = Field(default=60.0, ge=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)


class QuotaSettings(BaseModel):
    """Documented platform quotas, enforced client-side (Redis token buckets; 0 disables one)."""

    enabled: bool = True
    tiktok_research_daily_requests: int = Field(default=1000, ge=0)
    tiktok_research_daily_records: int = Field(default=100_000, ge=0)
    tiktok_display_per_minute: int = Field(default=600, ge=0)
    tiktok_creator_info_per_minute: int = Field(default=20, ge=0)
    tiktok_post_init_per_minute: int = Field(default=6, ge=0)
    tiktok_post_status_per_minute: int = Field(default=30, ge=0)
    scrapecreators_per_second: float = Field(default=10.0, ge=0)
    apify_per_second: float = Field(default=5.0, ge=0)
    youtube_per_second: float = Field(default=10.0, ge=0)
    # YouTube Data API units per day for the API-key client (videos.list = 1 unit per 50 ids).
    youtube_daily_units: int = Field(default=10_000, ge=0)
    # TikTok API for Business: per app per endpoint, sliding windows (§5.1; the values are
    # the sandbox's [U]); the adapter stays under both (`RateLimit.within_window`).
    tiktok_business_per_second: int = Field(default=10, ge=0)
    tiktok_business_per_minute: int = Field(default=600, ge=0)


class SandboxLatencySettings(BaseModel):
    """The sandbox's latency and rate-limit model (reelflow/sandbox/latency.py). Off by default
    (unit tests); benchmarks turn it on. Env: REELFLOW_SANDBOX__LATENCY__ENABLED, __SEED, __SCALE."""

    enabled: bool = False
    seed: int = 1
    # Multiplies every drawn delay (0: no delay, rate limits still apply).
    scale: float = Field(default=1.0, ge=0, le=100)


class SandboxSettings(BaseModel):
    """The local stand-in for the platforms (dev, demo, tests) and its generated world."""

    port: int = Field(default=8765, ge=1, le=65535)
    url: str | None = None  # where the sandbox is; dev, demo and tests point every platform here
    seed: int = 42
    creators: int = Field(default=3000, ge=10)
    videos_per_creator: int = Field(default=10, ge=1)
    latency: SandboxLatencySettings = Field(default_factory=SandboxLatencySettings)
